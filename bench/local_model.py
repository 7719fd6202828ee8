"""What the portable build of the bundled model's runtime costs: tokens per second, portable against native.

Run: ``.venv/bin/python bench/local_model.py [--repetitions 9] [--tokens 64] [--threads N]``.

The installed llama-cpp-python is the portable build that ``make`` installs (scripts/llama-wheel: x86-64 with
AVX2, FMA, F16C and BMI2; never AVX-512 or AMX). Against it, in the same run, a native build of the same
version: ``-DGGML_NATIVE=ON`` (``-march=native``), minus AMX where the CPU advertises it. A CPU that advertises
AMX but faults on it (the project's own CI machines do) kills a fully native build with SIGILL at its first
matrix product, so there "native" means everything else the CPU has (AVX-512, VNNI...). AMX is taken away with
``-mno-amx-*`` in CFLAGS/CXXFLAGS: under GGML_NATIVE, llama.cpp ignores its GGML_AMX_* options (they only
apply to explicit instruction-set lists), and GCC honours an explicit ``-mno-`` over what ``-march=native``
enables. The native build is compiled once (5-20 minutes on 2 cores) into Airlock's cache and reused.

Each build is measured in fresh subprocesses, alternately (so a busy moment of the machine weighs on both),
with the same prompt, seed and number of tokens and greedy decoding. Printed for prompt processing and for
generation: each build's best run (interference only ever slows a run, so the best is nearest to what the
instructions can do) and its median, and the ratios native / portable of both. On a machine others are using,
measure with ``--threads 1`` as well: llama.cpp's OpenMP threads spin while they wait for each other, so two
threads on two busy cores measure the neighbours more than the instructions. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

PROMPT = (
    "You are reviewing a C program for memory-safety bugs. The function copies a user-supplied name into a "
    "fixed buffer of 32 bytes with strcpy, then prints a greeting. Explain the flaw and how to exploit it."
)
SEED = 1234
CONTEXT_TOKENS = 1024
AMX_OFF = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"


def main() -> int:
    arguments = _arguments()
    if arguments.measure:
        print(json.dumps(_measure(arguments.tokens, arguments.threads)))
        return 0
    version = metadata.version("llama-cpp-python")
    with_amx = _cpu_flags() & {"amx_tile", "amx_int8", "amx_bf16"}
    native = _native_build(version, without_amx=bool(with_amx))
    builds = {"portable (installed)": None, "native" + (" minus AMX" if with_amx else ""): native}
    print(f"llama-cpp-python {version}, bundled model airlock/smollm2-135m, {arguments.threads} threads")
    print(f"load average before: {_load()}")
    results: dict[str, list[dict[str, float]]] = {name: [] for name in builds}
    for _ in range(arguments.repetitions):
        for name, site in builds.items():
            results[name].append(_measure_in_child(site, arguments.tokens, arguments.threads))
    print(f"load average after:  {_load()}")
    keys = ("prompt_tps", "generate_tps")
    # Interference from other work only ever slows a run down, so the best run of each build is the closest
    # to what its instructions can do; the medians show how much the machine was disturbed.
    best = {name: {key: max(run[key] for run in runs) for key in keys} for name, runs in results.items()}
    median = {
        name: {key: statistics.median(run[key] for run in runs) for key in keys} for name, runs in results.items()
    }
    for name, runs in results.items():
        print(f"{name}: {runs[0]['system_info']}")
        print(
            f"  best of {len(runs)}: prompt {best[name]['prompt_tps']:.0f} tokens/s, generation "
            f"{best[name]['generate_tps']:.1f} tokens/s; medians: prompt {median[name]['prompt_tps']:.0f}, "
            f"generation {median[name]['generate_tps']:.1f}"
        )
    portable, other = (best[name] for name in builds)
    typical = [median[name] for name in builds]
    print(
        f"native / portable, best runs: prompt {other['prompt_tps'] / portable['prompt_tps']:.2f}x, generation "
        f"{other['generate_tps'] / portable['generate_tps']:.2f}x (medians: prompt "
        f"{typical[1]['prompt_tps'] / typical[0]['prompt_tps']:.2f}x, generation "
        f"{typical[1]['generate_tps'] / typical[0]['generate_tps']:.2f}x)"
    )
    return 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repetitions", type=int, default=9, help="measurements of each build (default 9)")
    parser.add_argument("--tokens", type=int, default=64, help="tokens generated per measurement (default 64)")
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="llama.cpp threads (default: every core)"
    )
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)  # the child's mode
    return parser.parse_args()


def _native_build(version: str, *, without_amx: bool) -> Path:
    """A directory holding a native build of llama-cpp-python ``version``; built on first use."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "airlock" / "bench"
    pyver = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    site = cache / f"llama-cpp-python-{version}-{pyver}-native{'-no-amx' if without_amx else ''}"
    if (site / "llama_cpp").is_dir():
        return site
    print(f"Compiling a native llama.cpp into {site} (once; 5-20 minutes on 2 cores)...", flush=True)
    flags = AMX_OFF if without_amx else ""
    environment = {
        **os.environ,
        "CMAKE_ARGS": "-DGGML_NATIVE=ON",
        "CFLAGS": flags,
        "CXXFLAGS": flags,
        "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 1),
    }
    with tempfile.TemporaryDirectory(prefix="airlock-bench-wheel-") as scratch:
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
        source = ["--no-cache-dir", "--no-deps", "--no-binary", "llama-cpp-python", f"llama-cpp-python=={version}"]
        subprocess.run([*pip, "wheel", *source, "-w", scratch], env=environment, check=True)
        (wheel,) = Path(scratch).glob("llama_cpp_python-*.whl")
        staging = site.with_name(site.name + ".partial")
        subprocess.run([*pip, "install", "--no-deps", "--target", str(staging), str(wheel)], check=True)
        staging.rename(site)
    return site


def _measure_in_child(site: Path | None, tokens: int, threads: int) -> dict[str, float]:
    """One measurement in a fresh interpreter; ``site`` first on its path makes it load that build."""
    environment = dict(os.environ)
    if site is not None:
        environment["PYTHONPATH"] = str(site)
    ran = subprocess.run(
        [sys.executable, __file__, "--measure", "--tokens", str(tokens), "--threads", str(threads)],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if ran.returncode != 0:
        raise SystemExit(f"The measurement of {site or 'the installed build'} failed ({ran.returncode}): {ran.stderr}")
    return dict(json.loads(ran.stdout.strip().splitlines()[-1]))


def _measure(tokens: int, threads: int) -> dict[str, object]:
    import llama_cpp

    from airlock.evals.models.gguf import model_path

    llama = llama_cpp.Llama(
        model_path=str(model_path("smollm2-135m")),
        n_ctx=CONTEXT_TOKENS,
        n_threads=threads,
        seed=SEED,
        verbose=False,
    )
    prompt = llama.tokenize(PROMPT.encode())
    llama.eval(prompt)  # warm up: first touch of the weights, buffers sized for the prompt, threads started
    llama.reset()  # type: ignore[no-untyped-call]  # llama-cpp-python leaves it unannotated
    started = time.perf_counter()
    llama.eval(prompt)
    evaluated = time.perf_counter()
    for _ in range(tokens):
        token = llama.sample(temp=0.0)
        llama.eval([token])
    generated = time.perf_counter()
    llama.close()
    return {
        "prompt_tps": len(prompt) / (evaluated - started),
        "generate_tps": tokens / (generated - evaluated),
        "system_info": llama_cpp.llama_print_system_info().decode().strip(),
        "library": str(Path(llama_cpp.__file__).parent),
    }


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return set(line.split(":", 1)[-1].split())


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
