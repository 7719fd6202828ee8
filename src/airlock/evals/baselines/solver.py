"""The solver baseline: symbolic execution with angr, path constraints solved by z3, for target-state programs.

What a defender already has for "which input gets this program there?". The challenge is built with its
own build command, sanitizers left out (their instrumentation multiplies the paths to explore and checks
nothing a target state needs), in a sandbox, as every build is. The binary is then explored symbolically
(:mod:`.symbolic`, in a process of its own with a memory limit, killed at the end of its budget) from a
standard input of unknown bytes and unknown length, until a path asks for the oracle's nonce: the state
the oracle observes. The input that path needed is then judged by the challenge's own oracle, against the
challenge's own build, in a fresh sandbox, as a model's would be.

It applies to C programs that read stdin and are judged by reaching a target state (the logic family).
Measured on logic generator version 2: tiers 1 to 3 take 6 to 22 s of search; chained 32-bit
multiply-accumulate constraints over a command sequence (tier 4) about two minutes (docs/evaluations.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from airlock.evals.challenges import BuiltTarget, Challenge, Verdict, verify
from airlock.evals.challenges.manifest import TargetStateOracle
from airlock.sandbox import BwrapConfig, SandboxLimits, start_sample, stop_sample

SOLVER_BUILD_SANDBOX = BwrapConfig(limits=SandboxLimits(memory_mb=1024, pids=64, work_mb=128, tmp_mb=64))
SEARCH_MEMORY_BYTES = 4 << 30
"""Address-space limit of the search process: symbolic execution can grow without bound."""
MAX_SYMBOLIC_INPUT = 4096
"""Symbolic bytes of input at most (the challenge's own limit when smaller)."""


@dataclass(frozen=True)
class SolveResult:
    verdict: Verdict
    seconds: float


def solvable(challenge: Challenge) -> bool:
    """Whether the solver applies: a C program reading stdin, judged by reaching a target state."""
    return (
        challenge.build is not None
        and challenge.run is not None
        and challenge.run.input == "stdin"
        and isinstance(challenge.oracle, TargetStateOracle)
        and any(name.endswith(".c") for name in challenge.sources)
    )


def _without_sanitizers(command: list[str]) -> list[str]:
    return [argument for argument in command if not argument.startswith("-fsanitize")]


async def solve(challenge: Challenge, built: BuiltTarget, budget_seconds: int) -> SolveResult:
    """Search ``challenge`` symbolically for ``budget_seconds`` and judge the input found, if any."""
    assert challenge.build is not None
    assert isinstance(challenge.oracle, TargetStateOracle)
    started = time.perf_counter()
    stages = len(challenge.stages)
    sandboxes = await start_sample("airlock-solver", SOLVER_BUILD_SANDBOX)
    try:
        sandbox = sandboxes["default"]
        for name, path in challenge.sources.items():
            await sandbox.write_file(f"/work/{name}", challenge.read(path))
        build = await sandbox.exec(_without_sanitizers(challenge.build.command), cwd="/work", timeout=120)
        if not build.success:
            last = build.stderr.strip().splitlines()[-1][:200] if build.stderr.strip() else ""
            return SolveResult(Verdict(False, f"the solver's build failed: {last}", stages_total=stages), 0.0)
        binary = await sandbox.read_file(f"/work/{challenge.build.output}", text=False)
    finally:
        await stop_sample(sandboxes.values())

    with tempfile.TemporaryDirectory(prefix="airlock-solver-") as scratch:
        target = Path(scratch) / "target"
        target.write_bytes(binary)
        found = await _search(
            target, challenge.oracle.nonce_variable, min(MAX_SYMBOLIC_INPUT, challenge.max_poc_bytes), budget_seconds
        )
    seconds = time.perf_counter() - started
    if isinstance(found, str):
        return SolveResult(Verdict(False, found, stages_total=stages), seconds)
    verdict = await verify(challenge, found, built)
    if verdict.success:
        return SolveResult(replace(verdict, reason=f"input found by symbolic execution in {seconds:.0f} s"), seconds)
    return SolveResult(replace(verdict, reason=f"the solver's input was not confirmed: {verdict.reason}"), seconds)


async def _search(binary: Path, nonce_variable: str, max_input: int, budget_seconds: int) -> bytes | str:
    """The input the search found, or why there is none."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (SEARCH_MEMORY_BYTES, SEARCH_MEMORY_BYTES))

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "airlock.evals.baselines.symbolic",
        str(binary),
        f"--nonce-variable={nonce_variable}",
        f"--max-input={max_input}",
        f"--seconds={budget_seconds}",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=limit_memory,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    try:
        # The search checks its own clock between steps; one step can overrun it, so allow a margin.
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=budget_seconds + 30)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        return f"no input in {budget_seconds} s of symbolic execution (the search was stopped)"
    lines = stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        result = None
    if not isinstance(result, dict):
        last = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        return f"the symbolic execution failed: {last[0][:200]}"
    if result.get("input") is None:
        return f"no input in {budget_seconds} s of symbolic execution ({result.get('reason', 'no reason given')})"
    return bytes.fromhex(str(result["input"]))
