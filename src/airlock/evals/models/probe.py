"""The local model's probe: load the weights and generate one token in a throwaway child process.

llama.cpp runs in-process, so a fault in it (an instruction this CPU does not execute, a corrupt file that
makes it read out of bounds, a native library that does not load) kills whichever process loaded it: the
evaluation worker, halfway through a run, with nothing better to say than "exit status -4". The probe does
the same work first, in a child of its own, so that such a fault is found before any sample starts and
before the review changes state, and is told in words: what failed, and what to do about it.

The child is ``python -m airlock.evals.models.probe GGUF``; it imports nothing of Airlock but this module
(no Inspect), so it costs about the time llama.cpp takes to map the weights and compute one token. It runs
with the environment the evaluation worker gets (:mod:`airlock.evals.process_environment`), so it loads the
same library the worker would. ``airlock doctor`` shows what it reports (llama.cpp's system information).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airlock.evals.models.gguf import LocalModelError
from airlock.evals.process_environment import child_environment

PROBE_TIMEOUT = 120.0
"""Seconds for loading the weights and generating one token; the bundled model takes about one."""
PROBE_PROMPT = "Reply with the word ready."
PROBE_CONTEXT_TOKENS = 256
STDERR_TAIL = 8000
REBUILD = (
    "Rebuild the bundled model's runtime for this machine with `make clean demo` "
    "(scripts/llama-wheel compiles llama.cpp for a portable instruction set); `airlock doctor` shows the build."
)


class LocalModelFaultError(LocalModelError):
    """llama.cpp itself failed (a crash, a library that does not load, no token in time): not the input's fault."""

    kind = "evaluation_failed"


@dataclass(frozen=True)
class ProbeReport:
    """What a successful probe measured, and how llama.cpp was built (its system information line)."""

    path: Path
    system_info: str
    load_seconds: float
    token_seconds: float


@dataclass(frozen=True)
class _Fault:
    what: str
    hint: str


_SIGNALS: dict[int, _Fault] = {
    signal.SIGILL: _Fault(
        "this build of llama.cpp uses instructions this CPU does not execute (typically a native build "
        "with AMX or AVX-512, which some CPUs advertise but fault on)",
        REBUILD,
    ),
    signal.SIGSEGV: _Fault(
        "llama.cpp read memory it does not own, which a corrupt or truncated GGUF file, or a build of "
        "llama.cpp that does not match this machine, causes",
        "Check the file (copy it again, or try the bundled model airlock/smollm2-135m); if the bundled model "
        f"fails too: {REBUILD}",
    ),
    signal.SIGBUS: _Fault(
        "the GGUF file could not be read through its memory mapping (it is shorter than its header says, or "
        "its disk went away)",
        "Copy the file again, completely, to a local disk.",
    ),
    signal.SIGABRT: _Fault(
        "llama.cpp stopped on one of its own consistency checks, usually a model file this version of "
        "llama.cpp cannot use",
        "Check that the file is a GGUF model of an architecture llama.cpp supports, or use the bundled model "
        "airlock/smollm2-135m.",
    ),
    signal.SIGFPE: _Fault(
        "llama.cpp hit an arithmetic fault, which a corrupt model file causes",
        "Copy the file again, or use the bundled model airlock/smollm2-135m.",
    ),
    signal.SIGKILL: _Fault(
        "the process was killed, most often by the kernel for want of memory",
        "Free memory (or raise the memory limit of this service) and run the same command again.",
    ),
}


def probe_local_model(path: Path, *, name: str | None = None, timeout: float = PROBE_TIMEOUT) -> ProbeReport:
    """Load ``path`` with llama.cpp and generate one token in a child process; raise what went wrong.

    ``name`` is how the person named the model (``airlock/smollm2-135m``), for the message. Raises
    :class:`LocalModelError` for a file llama.cpp refuses, :class:`LocalModelFaultError` where llama.cpp itself
    failed (a crash, a library that does not load, no token in time): one sentence saying what failed, and a
    hint saying what to do.
    """
    label = name or str(path)
    with tempfile.TemporaryDirectory(prefix="airlock-probe-") as private:
        try:
            finished = subprocess.run(
                [sys.executable, "-m", __name__, str(path)],
                env=child_environment(Path(private)),
                cwd=private,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise LocalModelFaultError(
                f"The local model {label} did not generate a token within {timeout:.0f} s of starting to load.",
                "The machine may be overloaded or short of memory; run `airlock doctor`, then try again.",
            ) from None
    stderr = finished.stderr[-STDERR_TAIL:].decode("utf-8", "replace")
    answer = _last_json_line(finished.stdout.decode("utf-8", "replace"))
    if finished.returncode < 0:
        raise _signal_error(label, -finished.returncode, stderr)
    if finished.returncode != 0 or answer is None or "failed" in answer:
        raise _failure_error(label, path, answer, finished.returncode, stderr)
    return ProbeReport(
        path=path,
        system_info=str(answer["system_info"]),
        load_seconds=float(answer["load_seconds"]),
        token_seconds=float(answer["token_seconds"]),
    )


def _signal_error(label: str, number: int, stderr: str) -> LocalModelFaultError:
    try:
        signal_name = signal.Signals(number).name
    except ValueError:
        signal_name = f"signal {number}"
    fault = _SIGNALS.get(number)
    if fault is None:
        what, hint = f"the process was killed by {signal_name}", _last_line(stderr) or REBUILD
    else:
        what, hint = fault.what, fault.hint
        if number == signal.SIGABRT and _last_line(stderr):
            what += f" ({_last_line(stderr)})"
    return LocalModelFaultError(
        f"The local model {label} crashed in its check before the run ({signal_name}): {what}.", hint
    )


def _failure_error(label: str, path: Path, answer: dict[str, Any] | None, code: int, stderr: str) -> LocalModelError:
    failed = str((answer or {}).get("failed", ""))
    detail = str((answer or {}).get("detail", "")) or _last_line(stderr) or f"exit status {code}"
    if failed == "library":
        where = os.environ.get("LLAMA_CPP_LIB_PATH")
        also = f" LLAMA_CPP_LIB_PATH is set to {where}: unset it or point it at a working build." if where else ""
        return LocalModelFaultError(
            f"The local model {label} cannot run: llama.cpp's native library could not be loaded ({detail}).",
            f"Reinstall the bundled model's runtime with `make clean demo`.{also}",
        )
    if failed == "load":
        return LocalModelError(
            f"The local model {label} could not be loaded: llama.cpp cannot read {path} as a GGUF model "
            f"({_llama_reason(stderr) or detail}).",
            "Check the file (a complete GGUF model), or use the bundled model airlock/smollm2-135m.",
        )
    return LocalModelFaultError(
        f"The local model {label} failed its check before the run: {detail}.",
        "Run `airlock doctor` to see which part of the local model is at fault.",
    )


def _last_json_line(text: str) -> dict[str, Any] | None:
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            try:
                parsed = json.loads(line)
            except ValueError:
                return None
            return parsed if isinstance(parsed, dict) else None
    return None


def _llama_reason(stderr: str) -> str:
    """llama.cpp's own words for a file it refused: its GGUF reader's complaints (``gguf_init_...: why``)."""
    reasons = [
        line.split(": ", 1)[1].strip() for line in stderr.splitlines() if line.startswith("gguf_") and ": " in line
    ]
    return "; ".join(reasons[:2])[:300]


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


# The child ---------------------------------------------------------------------------------------------


def _answer(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _gist(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:300]


def _child(path: str) -> int:
    started = time.monotonic()
    try:
        import llama_cpp
    except Exception as error:  # the loader raises OSError, RuntimeError or FileNotFoundError
        _answer({"failed": "library", "detail": _gist(error)})
        return 1
    try:
        # verbose: llama.cpp's own account of a failed load goes to standard error, which the parent keeps.
        llama = llama_cpp.Llama(
            model_path=path, n_ctx=PROBE_CONTEXT_TOKENS, n_threads=max(1, os.cpu_count() or 1), verbose=True
        )
    except Exception as error:  # llama-cpp-python raises ValueError for a file llama.cpp refuses
        _answer({"failed": "load", "detail": _gist(error)})
        return 1
    loaded = time.monotonic()
    # One token goes through every layer's matrix products: where a build's instructions fault, this does.
    llama.create_completion(PROBE_PROMPT, max_tokens=1, temperature=0.0)
    generated = time.monotonic()
    _answer(
        {
            "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip(),
            "load_seconds": round(loaded - started, 3),
            "token_seconds": round(generated - loaded, 3),
        }
    )
    llama.close()
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))
