"""The fuzzer baseline: coverage-guided fuzzing with libFuzzer, for C challenges that read one input on stdin.

What a defender already has. The challenge's program is compiled with clang for libFuzzer and
AddressSanitizer, its ``main`` renamed and called from a harness that feeds each input on standard input
(through a memory file put in place as descriptor 0) and turns the program's ``exit`` into a return to
the harness, so that a rejected input ends one run, not the fuzzer. libFuzzer then runs for a fixed budget
in a sandbox of its own, in fork mode so that it keeps going past crashes (decoys included), with
value profiling to get through magic values and comparisons. Every crash, timeout or out-of-memory input
it saved is then judged by the challenge's own oracle, against the challenge's own build, in a fresh
sandbox: the fuzzer solves the instance only if one of them is the planted bug at the planted place.
For target-state programs (the logic family), reaching the target reads the nonce from the environment;
the harness makes that read a trap, so libFuzzer saves the input, and the real oracle then checks it.

It needs clang with libFuzzer (Debian: ``clang`` and ``libclang-rt-14-dev``); without it, the baseline
is reported unavailable rather than failed.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from airlock.evals.challenges import BuiltTarget, Challenge, Verdict, Workbench, judge, verify
from airlock.evals.challenges.manifest import PatchOracle, TargetStateOracle
from airlock.sandbox import BwrapConfig, SandboxLimits, start_sample, stop_sample

CLANG = "clang"
FUZZ_SANDBOX = BwrapConfig(limits=SandboxLimits(memory_mb=3072, pids=64, work_mb=256, tmp_mb=64))
FOUND = "/work/found"
MAX_JUDGED = 2000
FUZZ_SEED = 1
"""A fixed seed: the same instance and budget give (nearly: time decides when it stops) the same campaign."""
FORK_JOBS = 2
"""Fuzzing jobs at once: the development machine's cores."""
"""At most this many saved inputs are judged."""

HARNESS = r"""
#define _GNU_SOURCE
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int airlock_target_main(void);
char *airlock_fuzz_getenv(const char *name);
static jmp_buf airlock_after_exit;
static int airlock_input = -1;

void airlock_fuzz_exit(int status) {
    (void)status;
    longjmp(airlock_after_exit, 1);
}

/* For target-state programs: reading the nonce is what reaching the target does, so it is a "crash" the
   fuzzer saves; the saved input is then judged by the real oracle, with a real nonce. */
char *airlock_fuzz_getenv(const char *name) {
#ifdef AIRLOCK_NONCE_VARIABLE
    if (strcmp(name, AIRLOCK_NONCE_VARIABLE) == 0) __builtin_trap();
#endif
    return getenv(name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (airlock_input < 0) airlock_input = memfd_create("airlock-input", 0);
    if (ftruncate(airlock_input, 0) != 0 || pwrite(airlock_input, data, size, 0) != (ssize_t)size) return 0;
    dup2(airlock_input, 0);
    clearerr(stdin);
    fseek(stdin, 0, SEEK_SET);
    if (setjmp(airlock_after_exit) == 0) airlock_target_main();
    return 0;
}
"""


@dataclass(frozen=True)
class FuzzResult:
    verdict: Verdict
    seconds: float
    saved: int
    """Crashing inputs libFuzzer saved."""


@cache
def fuzzer_available() -> str | None:
    """None if clang can build libFuzzer targets here, else why not (for the record)."""
    clang = shutil.which(CLANG)
    if clang is None:
        return "clang is not installed (Debian: apt-get install clang)"
    with tempfile.TemporaryDirectory() as scratch:
        probe = Path(scratch) / "probe.c"
        probe.write_text("int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n")
        built = subprocess.run(
            [clang, "-fsanitize=fuzzer", str(probe), "-o", str(Path(scratch) / "probe")],
            capture_output=True,
            check=False,
        )
    if built.returncode != 0:
        return "clang cannot build libFuzzer targets (Debian: apt-get install libclang-rt-14-dev, for clang 14)"
    return None


def fuzzable(challenge: Challenge) -> bool:
    """Whether the fuzzer applies: a C program built from sources that reads its input on stdin, whose answer is an
    input (not a patch: a fuzzer does not write fixes)."""
    return (
        not isinstance(challenge.oracle, PatchOracle)
        and challenge.build is not None
        and challenge.run is not None
        and challenge.run.input == "stdin"
        and any(name.endswith(".c") for name in challenge.sources)
    )


async def fuzz(challenge: Challenge, built: BuiltTarget, budget_seconds: int) -> FuzzResult:
    """Fuzz ``challenge`` for ``budget_seconds`` and judge what the fuzzer found."""
    started = time.perf_counter()
    sandboxes = await start_sample("airlock-fuzz", FUZZ_SANDBOX)
    try:
        sandbox = sandboxes["default"]
        for name, path in challenge.sources.items():
            await sandbox.write_file(f"/work/src/{name}", challenge.read(path))
        await sandbox.write_file("/work/harness.c", HARNESS.encode())
        sources = [f"src/{name}" for name in challenge.sources if name.endswith(".c")]
        rename = ["-Dmain=airlock_target_main", "-Dexit=airlock_fuzz_exit", "-Dgetenv=airlock_fuzz_getenv"]
        oracle = challenge.oracle
        goal = [f'-DAIRLOCK_NONCE_VARIABLE="{oracle.nonce_variable}"'] if isinstance(oracle, TargetStateOracle) else []
        compile_target = [CLANG, "-g", "-O1", "-fsanitize=fuzzer-no-link,address", *rename, "-c", *sources]
        build = await sandbox.exec(compile_target, cwd="/work", timeout=120)
        if build.success:
            objects = [f"{name.rsplit('/', 1)[-1][:-2]}.o" for name in sources]
            link = [CLANG, "-g", "-O1", "-fsanitize=fuzzer,address", *goal, "harness.c", *objects, "-o", "fuzz"]
            build = await sandbox.exec(link, cwd="/work", timeout=120)
        if not build.success:
            reason = f"the fuzzing build failed: {build.stderr.strip().splitlines()[-1][:200] if build.stderr else ''}"
            return FuzzResult(Verdict(False, reason, stages_total=len(challenge.stages)), 0.0, 0)
        await sandbox.exec(["mkdir", "-p", FOUND, "/work/corpus"])
        command = [
            "./fuzz",
            f"-max_total_time={budget_seconds}",
            f"-fork={FORK_JOBS}",
            f"-seed={FUZZ_SEED}",
            "-ignore_crashes=1",
            "-ignore_timeouts=1",
            "-ignore_ooms=1",
            "-use_value_profile=1",
            "-detect_leaks=0",
            "-close_fd_mask=3",
            "-timeout=2",
            "-rss_limit_mb=1024",
            f"-artifact_prefix={FOUND}/",
            "corpus",
        ]
        with contextlib.suppress(TimeoutError):  # whatever it saved so far is judged below
            await sandbox.exec(command, cwd="/work", timeout=budget_seconds + 60)
        listing = await sandbox.exec(["ls", "-1", FOUND])
        # Crashes only: the planted bugs, and the trap at a target state, are crashes; the timeouts and
        # out-of-memory inputs it also saves are the decoys' endless loops, each a second to judge.
        names = [name for name in listing.stdout.split() if name.startswith("crash-")][:MAX_JUDGED]
        saved = [await sandbox.read_file(f"{FOUND}/{name}", text=False) for name in names]
    finally:
        await stop_sample(sandboxes.values())
    seconds = time.perf_counter() - started
    # Fork mode saves an input for every crash, most of them the same decoys: judge them all, in one
    # sandbox (they are the tool's inputs, not a model's), and confirm a hit in a fresh one as the scorer would.
    best: Verdict | None = None
    async with Workbench() as workbench:
        await workbench.install(built)
        for data in saved:
            if len(data) > challenge.max_poc_bytes:
                continue
            verdict = judge(challenge, await workbench.run(challenge, data))
            if verdict.success:
                verdict = await verify(challenge, data, built)
            if verdict.success:
                found = replace(verdict, reason=f"exploit found by libFuzzer in {seconds:.0f} s")
                return FuzzResult(found, seconds, len(saved))
            if best is None or verdict.partial_credit > best.partial_credit:
                best = verdict
    if best is None:
        nothing = f"no crash in {budget_seconds} s of fuzzing"
        return FuzzResult(Verdict(False, nothing, stages_total=len(challenge.stages)), seconds, 0)
    missed = f"no exploit in {budget_seconds} s of fuzzing ({len(saved)} inputs saved; closest: {best.reason})"
    return FuzzResult(replace(best, reason=missed), seconds, len(saved))
