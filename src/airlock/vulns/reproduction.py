"""Validation by reproduction: a report's proof of concept, run in the sandbox against the build it names.

A report is believed only once its PoC reproduces. The program's sources are compiled with AddressSanitizer and
UndefinedBehaviorSanitizer in a fresh sandbox (no network, bounded memory, processes and time, like every
evaluation's), the PoC is given to it (on standard input, or as a file named on its command line), and what
happened is recorded: the sanitizer's bug class and the crash's signature (:mod:`.signatures`), with the head of
the report as evidence; or, when it does not reproduce, what happened instead (a clean exit with its status, a
timeout, a build that failed), so that a report marked "not reproduced" carries why. Nothing the PoC or the
program does reaches the host: both run inside the sandbox, and their output is read as text, capped.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from airlock.evals.challenges.oracle import SANITIZER_EXIT_STATUS
from airlock.review.inputs import unusable_character
from airlock.sandbox import BwrapConfig, SandboxError, SandboxLimits, sample_sandboxes
from airlock.vulns.signatures import CrashSignature, SignatureError, crash_signature

SANITIZER_FLAGS = (
    "-fsanitize=address,undefined",
    "-g",
    "-O1",
    "-fno-omit-frame-pointer",
)
"""How a C program is built to reproduce a memory error: AddressSanitizer and UndefinedBehaviorSanitizer, as
OSS-Fuzz builds them (-O1, frame pointers, debug lines).

*Our choice:* undefined behaviour is reported and recovered from (``halt_on_error=0``), so the memory error it leads
to is the one AddressSanitizer ends the run with and names: the class that fuzzers' ASan builds, the challenges'
oracle and most reports give, so the same bug gets the same signature whoever found it. A PoC that only provokes
undefined behaviour, with no memory error, is "not reproduced", with the UBSan report as the evidence."""
REPRODUCTION_LIMITS = SandboxLimits(memory_mb=1024, pids=64, work_mb=256, tmp_mb=64, file_size_mb=64)
"""A sanitizer build wants room: ASan reserves much address space, so the memory cap is the cgroup's, not RLIMIT_AS's
on machines that have cgroups."""
EVIDENCE_LINES = 20
POC_NAME = "poc.bin"
SANITIZER_EXIT = SANITIZER_EXIT_STATUS
"""The status the sanitizers end a run with (their ``exitcode``, as the patch checks set it): a crash counts only
with it, so a program that echoes its input cannot be made to "reproduce" by a PoC holding a report's text."""
SANITIZER_ENVIRONMENT = {
    "ASAN_OPTIONS": f"detect_leaks=0:abort_on_error=0:symbolize=1:exitcode={SANITIZER_EXIT}",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=0",
}

UNDEFINED_BEHAVIOUR = re.compile(r"^.*runtime error: .*$", re.MULTILINE)


@dataclass(frozen=True)
class Target:
    """The build a report names: C sources (path -> bytes), and how its program takes the PoC."""

    sources: Mapping[str, bytes]
    input: Literal["stdin", "file"] = "stdin"
    """``stdin``: the PoC's bytes are the program's standard input; ``file``: its path is the program's argument."""
    build_timeout: int = 120
    run_timeout: int = 20


@dataclass(frozen=True)
class Reproduction:
    """What running the PoC did."""

    reproduced: bool
    outcome: str
    """``crash`` (a sanitizer report), ``no crash``, ``undefined behaviour only``, ``timeout``, ``build failed``,
    ``sandbox failed``."""
    signature: CrashSignature | None
    evidence: str
    """The head of the sanitizer report, or what happened instead (the program's last output, the compiler's)."""

    def summary(self) -> str:
        if self.reproduced and self.signature is not None:
            return f"reproduced: {self.signature}"
        return f"not reproduced ({self.outcome})"


async def reproduce(target: Target, poc: bytes) -> Reproduction:
    """Build ``target`` with sanitizers in a fresh sandbox and run ``poc`` against it."""
    sources = [name for name in target.sources if name.endswith(".c")]
    if not sources:
        return Reproduction(False, "build failed", None, "The build names no C source (a file ending in .c).")
    strays = [name for name in target.sources if not _inside(name)]
    if strays:
        # Written where it says, such a name would land elsewhere in the sandbox (or fail to), or be read by the
        # compiler as one of its options; the build's files are the files of its own directory.
        return Reproduction(
            False,
            "build failed",
            None,
            f"The build's source '{_inert(strays[0])}' is not a path inside its directory "
            "(a relative path without '..', not starting with '-').",
        )
    try:
        config = BwrapConfig(limits=REPRODUCTION_LIMITS)
        async with sample_sandboxes(config, name="airlock-reproduction") as sandboxes:
            box = sandboxes["default"]
            try:
                for name, content in target.sources.items():
                    await box.write_file(name, content)
                await box.write_file(POC_NAME, poc)
            except OSError as error:
                return Reproduction(False, "sandbox failed", None, f"The build's files could not be written: {error}")
            built = await box.exec(
                ["gcc", *SANITIZER_FLAGS, "-o", "target", *sources],
                timeout=target.build_timeout,
                raise_on_timeout=False,
            )
            if not built.success:
                said = (built.stderr.strip() or built.stdout.strip()).splitlines()
                return Reproduction(False, "build failed", None, _inert("\n".join(said[-EVIDENCE_LINES:])))
            command = ["./target"] if target.input == "stdin" else ["./target", POC_NAME]
            ran = await box.exec(
                command,
                input=poc if target.input == "stdin" else None,
                env=SANITIZER_ENVIRONMENT,
                timeout=target.run_timeout,
                raise_on_timeout=False,
            )
    except SandboxError as error:
        return Reproduction(False, "sandbox failed", None, str(error))
    if ran.timed_out:
        return Reproduction(False, "timeout", None, f"Still running after {target.run_timeout} s: {_tail(ran.stdout)}")
    try:
        if ran.returncode != SANITIZER_EXIT:
            raise SignatureError("the run did not end with the sanitizers' status")
        signature = crash_signature(ran.stderr)
        if signature.bug_class.startswith("ub-"):
            raise SignatureError("only AddressSanitizer ends a run with that status")
    except SignatureError:
        undefined = UNDEFINED_BEHAVIOUR.search(ran.stderr)
        if undefined is not None:
            return Reproduction(
                False,
                "undefined behaviour only",
                None,
                f"{shlex.join(command)} exited with status {ran.returncode}; UndefinedBehaviorSanitizer reported "
                f"{_inert(undefined.group(0).strip())} but no memory error followed.",
            )
        return Reproduction(
            False,
            "no crash",
            None,
            f"{shlex.join(command)} exited with status {ran.returncode} and no sanitizer report; "
            f"its output ends: {_tail(ran.stderr or ran.stdout)}",
        )
    return Reproduction(True, "crash", signature, _report_head(ran.stderr))


def _report_head(stderr: str) -> str:
    lines = stderr.splitlines()
    start = next((i for i, line in enumerate(lines) if "ERROR: " in line or "runtime error:" in line), 0)
    return _inert("\n".join(lines[start : start + EVIDENCE_LINES]))


def _tail(text: str, lines: int = 3) -> str:
    return _inert(" ".join(" ".join(text.strip().splitlines()[-lines:]).split())[-300:]) or "(nothing)"


def _inside(name: str) -> bool:
    """Whether a source's name is a path inside the build's directory: relative, in plain parts, no option."""
    parts = name.split("/")
    return (
        not name.startswith(("/", "-"))
        and all(part not in ("", ".", "..") for part in parts)
        and unusable_character(name, in_a_name=True) is None
    )


def _inert(text: str) -> str:
    """What the program (so the PoC) printed, as evidence keeps it: lines and tabs, and every other control or
    format character written as its escape (``\\x1b``), so that whoever reads the evidence on a terminal reads it
    rather than having the terminal act on it."""
    return "".join(
        character.encode("unicode_escape").decode("ascii")
        if character not in "\n\t" and unusable_character(character, in_a_name=True)
        else character
        for character in text
    )


def summarise(reproductions: Sequence[Reproduction]) -> dict[str, int]:
    """How many reproduced, and how the others ended (for a bulk validation's progress line)."""
    counts: dict[str, int] = {}
    for reproduction in reproductions:
        counts[reproduction.outcome] = counts.get(reproduction.outcome, 0) + 1
    return counts
