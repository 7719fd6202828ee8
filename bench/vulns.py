"""Clearinghouse benchmark: deduplication of 10,000 crash reports, and reproduction throughput, each against a
baseline measured in the same run.

Run: ``.venv/bin/python bench/vulns.py [--reports N] [--reproductions N]``. Prints

* reports per minute through signature + grouping (``airlock.vulns.signatures``) for N generated AddressSanitizer
  reports (500 root causes, each reported many times with other addresses, lines, process ids and clone suffixes),
  with the cases found, against hashing each report's text (the naive dedupe, which finds a case per report);
  aim: 10,000 in under 5 minutes on 2 cores, intake included (intake into the database is not built yet: this is
  the deduplication's share);
* reproductions per minute (build with ASan+UBSan, run the PoC, read the report, all in a fresh sandbox) for N
  generated crashing programs, against the same build and run on the host without a sandbox.

Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from airlock.vulns.reproduction import SANITIZER_ENVIRONMENT, SANITIZER_FLAGS, Target, reproduce
from airlock.vulns.signatures import Grouping, crash_signature

CLASSES = ("heap-buffer-overflow", "stack-buffer-overflow", "heap-use-after-free", "global-buffer-overflow")
CLONES = ("", ".part.0", ".isra.1", ".constprop.2", ".cold")


def generated_reports(count: int, causes: int, seed: int = 7) -> list[str]:
    """``count`` reports of ``causes`` root causes, each rendered afresh (addresses, lines, pid, clone suffix)."""
    chooser = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    roots = [(chooser.choice(CLASSES), [f"fn_{chooser.randrange(10**6):06d}" for _ in range(4)]) for _ in range(causes)]
    reports = []
    for _ in range(count):
        bug_class, frames = chooser.choice(roots)
        lines = [
            f"=={chooser.randrange(1, 99999)}==ERROR: AddressSanitizer: {bug_class} on address "
            f"0x{chooser.randrange(1 << 44):x} at pc 0x{chooser.randrange(1 << 44):x}",
            f"READ of size {chooser.randrange(1, 64)} at 0x{chooser.randrange(1 << 44):x} thread T0",
            f"    #0 0x{chooser.randrange(1 << 44):x} in __interceptor_memcpy sanitizer_common_interceptors.inc:827",
        ]
        for depth, frame in enumerate(frames, 1):
            lines.append(
                f"    #{depth} 0x{chooser.randrange(1 << 44):x} in {frame}{chooser.choice(CLONES)} "
                f"/src/app/{frame}.c:{chooser.randrange(1, 900)}:{chooser.randrange(1, 40)}"
            )
        lines.append("")
        reports.append("\n".join(lines))
    return reports


def deduplication(count: int) -> None:
    reports = generated_reports(count, causes=500)
    began = time.perf_counter()
    naive = {hashlib.sha256(report.encode()).hexdigest() for report in reports}
    naive_seconds = time.perf_counter() - began
    began = time.perf_counter()
    grouping = Grouping()
    cases = {grouping.case_of(grouping.add(crash_signature(report))) for report in reports}
    seconds = time.perf_counter() - began
    per_minute = count / seconds * 60
    print(
        f"deduplication of {count} reports: {seconds:.2f} s, {per_minute:,.0f} reports per minute, {len(cases)} cases "
        f"(500 root causes); hashing each report's text: {naive_seconds:.3f} s, {len(naive)} cases; "
        f"{seconds / naive_seconds:.0f}x its time (aim: {count} in under 300 s)"
    )


CRASHER = """\
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static void stage_{n}(const unsigned char *data, size_t n) {{
    char *buffer = malloc({size});
    memcpy(buffer, data, n);
    printf("%d\\n", buffer[0]);
    free(buffer);
}}
int main(void) {{
    unsigned char input[1024];
    size_t n = fread(input, 1, sizeof input, stdin);
    stage_{n}(input, n);
    return 0;
}}
"""


def crashers(count: int) -> list[tuple[Target, bytes]]:
    return [
        (Target({"target.c": CRASHER.format(n=index, size=8 + index).encode()}), b"A" * (64 + index))
        for index in range(count)
    ]


def on_the_host(target: Target, poc: bytes) -> bool:
    """The same build and run without a sandbox (our own generated programs: trusted)."""
    with tempfile.TemporaryDirectory() as scratch:
        for name, content in target.sources.items():
            (Path(scratch) / name).write_bytes(content)
        gcc = shutil.which("gcc") or "gcc"
        subprocess.run([gcc, *SANITIZER_FLAGS, "-o", "target", "target.c"], cwd=scratch, check=True)
        ran = subprocess.run(
            ["./target"], cwd=scratch, input=poc, capture_output=True, env=SANITIZER_ENVIRONMENT, check=False
        )
        return b"ERROR: AddressSanitizer" in ran.stderr


async def reproduction(count: int) -> None:
    cases = crashers(count)
    began = time.perf_counter()
    host = sum(on_the_host(target, poc) for target, poc in cases)
    host_seconds = time.perf_counter() - began
    began = time.perf_counter()
    results = [await reproduce(target, poc) for target, poc in cases]
    seconds = time.perf_counter() - began
    reproduced = sum(result.reproduced for result in results)
    print(
        f"reproduction of {count} generated crashes: {reproduced} reproduced, {seconds:.1f} s, "
        f"{count / seconds * 60:.0f} per minute; on the host without a sandbox: {host} crashed, "
        f"{host_seconds:.1f} s, {count / host_seconds * 60:.0f} per minute; "
        f"the sandbox costs {seconds / host_seconds:.2f}x"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--reproductions", type=int, default=20)
    arguments = parser.parse_args()
    deduplication(arguments.reports)
    asyncio.run(reproduction(arguments.reproductions))
    return 0


if __name__ == "__main__":
    sys.exit(main())
