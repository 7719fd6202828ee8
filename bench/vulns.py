"""Clearinghouse benchmark: intake and deduplication of 10,000 crash reports, and reproduction throughput, each
against a baseline measured in the same run.

Run: ``.venv/bin/python bench/vulns.py [--reports N] [--reproductions N] [--cli-reports N]`` (``--reports 200
--reproductions 2 --cli-reports 50`` is a quick check). Prints

* reports per minute through signature + grouping (``airlock.vulns.signatures``) for N generated AddressSanitizer
  reports (500 root causes, each reported many times with other addresses, lines, process ids and clone suffixes),
  with the cases found, against hashing each report's text (the naive dedupe, which finds a case per report);
* reports per minute through the whole intake (``Clearinghouse.import_bulk``) of the same N reports as a JSON Lines
  file into a fresh SQLite deployment: every line parsed and checked (CVSS 4.0 vector, CWE, signature), taken in
  one audited transaction, each report's PoC, details and crash report encrypted into the vault under its own key,
  grouped into cases (1% carry a fixing commit shared by two root causes, so cases merge), with the cases made and
  the ratio to the pure deduplication above; aim: 10,000 in under 5 minutes on 2 cores (reproduction apart); then
  the first ``--cli-reports`` of them through ``airlock vulns import`` in a process of its own, its progress lines
  shown as an operator sees them;
* reproductions per minute (build with ASan+UBSan, run the PoC, read the report, all in a fresh sandbox) for N
  generated crashing programs, against the same build and run on the host without a sandbox; and the same N
  through the service (each program registered with ``add_program``, its report imported, then
  ``reproduce_pending``: the sandboxed run plus the audited reads and writes and the vault), against that sandboxed
  run alone.

Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from airlock.access import Principal
from airlock.app import Airlock
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.vulns.models import Case
from airlock.vulns.reproduction import SANITIZER_ENVIRONMENT, SANITIZER_FLAGS, Target, reproduce
from airlock.vulns.signatures import Grouping, crash_signature

CLASSES = ("heap-buffer-overflow", "stack-buffer-overflow", "heap-use-after-free", "global-buffer-overflow")
CLONES = ("", ".part.0", ".isra.1", ".constprop.2", ".cold")


def generated_reports(count: int, causes: int, seed: int = 7) -> list[str]:
    """``count`` reports of ``causes`` root causes, each rendered afresh (addresses, lines, pid, clone suffix)."""
    return [report for _, report in generated_crashes(count, causes, seed)]


def generated_crashes(count: int, causes: int, seed: int = 7) -> list[tuple[int, str]]:
    """As :func:`generated_reports`, each with the index of its root cause."""
    chooser = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    roots = [(chooser.choice(CLASSES), [f"fn_{chooser.randrange(10**6):06d}" for _ in range(4)]) for _ in range(causes)]
    reports = []
    for _ in range(count):
        cause = chooser.randrange(causes)
        bug_class, frames = roots[cause]
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
        reports.append((cause, "\n".join(lines)))
    return reports


def deduplication(reports: list[str]) -> float:
    """Seconds to sign and group ``reports``, printed with the naive dedupe beside them."""
    count = len(reports)
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
        f"{seconds / naive_seconds:.0f}x its time"
    )
    return seconds


PROGRAMS = ("libpng-bench", "notes-bench", "zipper-bench", "tiffy-bench", "jsonic-bench")
VECTORS = (
    "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
    "CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:P/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
    "CVSS:4.0/AV:N/AC:H/AT:P/PR:L/UI:N/VC:L/VI:L/VA:H/SC:N/SI:N/SA:N",
)
WEAKNESSES = ("CWE-787", "CWE-416", "CWE-125", "CWE-122")
REVIEWER = "reviewer@bench.test"


def bulk_file(crashes: list[tuple[int, str]], seed: int = 11) -> list[str]:
    """One JSON Lines report per crash, as a findings pipeline writes them: a small PoC, the ASan report, a
    paragraph of details, a CVSS 4.0 vector on a third, a CWE on a quarter, and on 1% a fixing commit that
    two root causes of one program share (one fix for two crash sites), so their cases merge."""
    chooser = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    lines = []
    for number, (cause, crash_report) in enumerate(crashes):
        program = PROGRAMS[cause % len(PROGRAMS)]
        report: dict[str, object] = {
            "title": f"Memory error in {program}, fuzzing finding {number}",
            "program": program,
            "affected_versions": ["1.0"],
            "reporter": f"fuzzer-{number % 7}@partner.test",
            "poc": base64.b64encode(chooser.randbytes(chooser.randrange(16, 512))).decode(),
            "crash_report": crash_report,
            "model": "frontier-x-2026-11",
            "repository": f"https://git.example/{program}.git",
            "details": (
                f"Found by the model under evaluation while fuzzing {program}'s parser (finding {number}). The input "
                "length is trusted when the record is copied into a fixed buffer; the PoC is the minimised input. "
                "Affects the default build; no configuration needed."
            ),
        }
        if number % 3 == 0:
            report["cvss"] = VECTORS[cause % len(VECTORS)]
        if number % 4 == 0:
            report["cwe"] = WEAKNESSES[cause % len(WEAKNESSES)]
        if number % 100 == 0:
            # Causes k and k + len(PROGRAMS) are crash sites of one program fixed by one commit.
            fix = (cause % len(PROGRAMS), cause // (2 * len(PROGRAMS)))
            report["fixed_commit"] = hashlib.sha1(f"fix {fix}".encode()).hexdigest()  # noqa: S324 - an id
        lines.append(json.dumps(report))
    return lines


@contextmanager
def deployment(root: Path) -> Iterator[tuple[Airlock, Principal, Settings]]:
    """A fresh SQLite deployment with a reviewer to import as and a vendor maintaining the programs."""
    settings = Settings(home=root / "home", database_url=f"sqlite:///{root}/airlock.db")
    airlock = Airlock.open(settings, ManualClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC)), must_be_initialised=False)
    try:
        airlock.initialise()
        operator = airlock.directory.principal()
        airlock.directory.add_organisation(operator, name="Bench Vendor", kind="vendor")
        airlock.directory.add_user(
            operator, email=REVIEWER, name="Reviewer", role="reviewer", organisation="evaluation-lab"
        )
        yield airlock, airlock.directory.principal(REVIEWER), settings
    finally:
        airlock.close()


def live_cases(airlock: Airlock) -> int:
    with airlock.database.transaction(read_only=True) as session:
        return session.scalar(select(func.count()).select_from(Case).where(Case.merged_into_id.is_(None))) or 0


def intake(crashes: list[tuple[int, str]], dedupe_seconds: float, cli_reports: int, scratch: Path) -> None:
    """Import the reports through the service, then the first ``cli_reports`` of them through the command line."""
    count = len(crashes)
    path = scratch / "findings.jsonl"
    path.write_text("".join(line + "\n" for line in bulk_file(crashes)), encoding="utf-8")
    with deployment(scratch / "intake") as (airlock, reviewer, _):
        for program in PROGRAMS:  # registered, so that each new case gets its vendor
            sources = {"target.c": CRASHER.format(n=0, size=8).encode()}
            airlock.clearinghouse.add_program(reviewer, program, "1.0", sources, vendor="bench-vendor")
        shown: list[int] = []
        began = time.perf_counter()
        taken = airlock.clearinghouse.import_bulk(
            reviewer,
            path.read_text(encoding="utf-8").splitlines(),
            source_name=path.name,
            progress=lambda done, total: shown.append(done),
        )
        seconds = time.perf_counter() - began
        cases = live_cases(airlock)
    if len(taken) != count or shown[-1] != count:
        raise SystemExit(f"import_bulk took {len(taken)} of {count} reports, progress reached {shown[-1]}")
    opened = sum(not entry.joined for entry in taken)
    aim = count / 10_000 * 300
    per_minute = count / seconds * 60
    print(
        f"intake of {count} reports through import_bulk: {seconds:.1f} s, {per_minute:,.0f} reports per minute, "
        f"{cases} cases ({opened} opened, {opened - cases} merged into older ones); "
        f"aim ({count} in under {aim:.0f} s) {'met' if seconds < aim else 'NOT met'}; "
        f"{seconds / dedupe_seconds:.1f}x the pure deduplication of the same reports"
    )
    if cli_reports > 0:
        through_cli(path, min(cli_reports, count), scratch)


def through_cli(path: Path, count: int, scratch: Path) -> None:
    """``airlock vulns import`` of the first ``count`` lines in a process of its own, progress on standard error."""
    part = scratch / f"first-{count}.jsonl"
    with path.open(encoding="utf-8") as lines:
        part.write_text("".join(line for _, line in zip(range(count), lines, strict=False)), encoding="utf-8")
    with deployment(scratch / "cli") as (_, _, settings):
        environment = {
            **os.environ,
            "AIRLOCK_HOME": str(settings.home),
            "AIRLOCK_DATABASE_URL": str(settings.database_url),
        }
        environment.pop("AIRLOCK_VERBOSE", None)
        command = [str(Path(sys.executable).parent / "airlock"), "vulns", "import", str(part), "--as", REVIEWER]
        print(f"$ airlock vulns import {part.name} --as {REVIEWER}")
        began = time.perf_counter()
        finished = subprocess.run(command, env=environment, stdout=subprocess.PIPE, text=True, check=False)
        seconds = time.perf_counter() - began
    if finished.returncode != 0:
        raise SystemExit(f"airlock vulns import exited {finished.returncode}")
    print(
        f"{finished.stdout.strip()}\nthrough the command line: {count} reports in {seconds:.1f} s "
        f"({count / seconds * 60:,.0f} per minute, the process's start included)"
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


async def reproduction(count: int) -> float:
    """Seconds to reproduce ``count`` generated crashes in the sandbox, printed with the host's build and run."""
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
    return seconds


def reproduction_through_service(count: int, sandbox_seconds: float, scratch: Path) -> None:
    """The same crashes as imported reports of registered programs, reproduced by ``reproduce_pending``."""
    with deployment(scratch / "reproduction") as (airlock, reviewer, _):
        house = airlock.clearinghouse
        lines = []
        for index, (target, poc) in enumerate(crashers(count)):
            house.add_program(reviewer, f"crasher-{index}", "1", target.sources, vendor="bench-vendor")
            report = {
                "title": f"Heap overflow in crasher-{index}",
                "program": f"crasher-{index}",
                "affected_versions": ["1"],
                "reporter": "fuzzer@partner.test",
                "poc": base64.b64encode(poc).decode(),
                "details": "Found by fuzzing; the PoC overflows the stage's buffer.",
            }
            lines.append(json.dumps(report))
        house.import_bulk(reviewer, lines, source_name="crashers.jsonl")
        began = time.perf_counter()
        views = house.reproduce_pending(reviewer)
        seconds = time.perf_counter() - began
        cases = live_cases(airlock)
    reproduced = sum(view.reproduction == "reproduced" for view in views)
    print(
        f"reproduction of the same {count} through the service (reproduce_pending): {reproduced} reproduced, "
        f"{seconds:.1f} s, {count / seconds * 60:.0f} per minute, {cases} cases; "
        f"{seconds / sandbox_seconds:.2f}x the sandboxed reproduction alone"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=10_000, help="reports to deduplicate and import")
    parser.add_argument("--reproductions", type=int, default=20, help="generated crashes to reproduce")
    parser.add_argument(
        "--cli-reports", type=int, default=1_000, help="of the reports, how many to import again through the CLI"
    )
    arguments = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # in order with the CLI's progress
    if arguments.reports < 1 or arguments.reproductions < 1 or arguments.cli_reports < 0:
        parser.error("--reports and --reproductions must be at least 1, --cli-reports at least 0")
    crashes = generated_crashes(arguments.reports, causes=500)
    dedupe_seconds = deduplication([report for _, report in crashes])
    with tempfile.TemporaryDirectory(prefix="airlock-bench-vulns-") as scratch:
        intake(crashes, dedupe_seconds, arguments.cli_reports, Path(scratch))
        sandbox_seconds = asyncio.run(reproduction(arguments.reproductions))
        reproduction_through_service(arguments.reproductions, sandbox_seconds, Path(scratch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
