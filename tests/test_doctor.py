"""``airlock doctor``: each part Airlock uses is tried for real and reported as works, missing or broken, with
what that means and the fix; the command exits 1 only when something ``airlock demo`` needs does not work.

Each case runs the command in a fresh process whose environment makes one part fail the way it fails on a
user's machine: a program missing from PATH, a program on PATH that does not work, bwrap that cannot run, a
model file or native library that does not load, a database that does not answer or is not a database.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airlock.doctor import BUILD_INFO, Part, Status, assess_build
from airlock.evals.models.gguf import model_path
from tests.support.postgres import PostgresServer, free_loopback_port

DOCTOR = [sys.executable, "-m", "airlock.cli.main", "doctor"]
REQUIRED = {Part.SANDBOX, Part.COMPILER, Part.MODEL, Part.DATABASE, Part.WEASYPRINT}
HEAVY_MODULES = ("inspect_ai", "sqlalchemy", "llama_cpp", "weasyprint", "airlock.sandbox", "airlock.store")


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: str
    stderr: str

    def part(self, part: Part) -> dict[str, Any]:
        (found,) = [entry for entry in json.loads(self.stdout)["parts"] if entry["part"] == part.value]
        return dict(found)


def doctor(*arguments: str, env: dict[str, str] | None = None, unset: tuple[str, ...] = ()) -> Outcome:
    environment = {**os.environ, **(env or {})}
    for name in unset:
        environment.pop(name, None)
    ran = subprocess.run([*DOCTOR, *arguments], env=environment, capture_output=True, text=True, timeout=300)
    return Outcome(ran.returncode, ran.stdout, ran.stderr)


def path_without(tmp_path: Path, *programs: str, replaced: dict[str, str] | None = None) -> str:
    """A PATH of one directory holding a link to every program of the system's PATH except ``programs``;
    ``replaced`` links a name to another program instead (a program that is there but does not work)."""
    directory = tmp_path / "bin"
    directory.mkdir()
    for place in os.environ["PATH"].split(os.pathsep):
        if not Path(place).is_dir():
            continue
        for program in Path(place).iterdir():
            target = directory / program.name
            if program.name not in programs and not target.exists() and os.access(program, os.X_OK):
                target.symlink_to(program)
    for name, stand_in in (replaced or {}).items():
        (directory / name).unlink(missing_ok=True)
        (directory / name).symlink_to(stand_in)
    return str(directory)


def test_help_answers_without_importing_any_check() -> None:
    probe = (
        "import sys, airlock.cli.main, airlock.cli.doctor_command; print([m for m in sys.argv[1:] if m in sys.modules])"
    )
    loaded = subprocess.run([sys.executable, "-c", probe, *HEAVY_MODULES], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
    shown = doctor("--help")
    assert shown.exit_code == 0
    assert "airlock doctor --json" in shown.stdout
    assert all(part.value in shown.stdout for part in Part)


def test_every_part_is_reported_and_a_machine_that_runs_the_demo_passes(tmp_path: Path) -> None:
    outcome = doctor("--json", env={"AIRLOCK_HOME": str(tmp_path / "home")})
    report = json.loads(outcome.stdout)
    assert [entry["part"] for entry in report["parts"]] == [part.value for part in Part]
    for entry in report["parts"]:
        assert entry["status"] in {status.value for status in Status}
        assert entry["summary"]
        if entry["status"] != "works":
            assert entry["affects"], entry
            assert entry["fix"], entry
    working = {entry["part"] for entry in report["parts"] if entry["status"] == "works"}
    assert {part.value for part in REQUIRED} <= working, report
    assert (outcome.exit_code, report["ok"]) == (0, True)


def test_a_broken_part_is_shown_with_its_meaning_and_fix_and_a_verdict(tmp_path: Path) -> None:
    outcome = doctor("--check", "compiler", "--check", "clang", env={"PATH": path_without(tmp_path, "gcc", "clang")})
    assert outcome.exit_code == 1
    lines = outcome.stdout.splitlines()
    assert lines[0].split()[:2] == ["missing", "compiler"]
    assert "means: challenges cannot be built" in lines[1]
    assert "fix:   Debian/Ubuntu: apt-get install gcc" in lines[2]
    assert lines[3].split()[:2] == ["missing", "clang"]
    assert "Not ready: compiler does not work" in outcome.stderr


# The sandbox -----------------------------------------------------------------------------------------------


def test_the_sandbox_works() -> None:
    outcome = doctor("--check", "sandbox", "--json", unset=("AIRLOCK_BWRAP",))
    assert (outcome.exit_code, outcome.part(Part.SANDBOX)["status"]) == (0, "works")
    assert "namespaces" in outcome.part(Part.SANDBOX)["summary"]


@pytest.mark.parametrize(("bwrap", "status"), [("/bin/false", "broken"), ("/nonexistent/bwrap", "missing")])
def test_a_bwrap_that_cannot_run_stops_the_main_job(bwrap: str, status: str) -> None:
    outcome = doctor("--check", "sandbox", "--json", env={"AIRLOCK_BWRAP": bwrap})
    found = outcome.part(Part.SANDBOX)
    assert (outcome.exit_code, found["status"], found["required"]) == (1, status, True)
    assert f"unset AIRLOCK_BWRAP (now {bwrap})" in found["fix"]


def test_resource_groups_work_as_root_and_are_missing_for_an_unprivileged_user() -> None:
    if os.geteuid() != 0:
        pytest.skip("dropping to an unprivileged user needs root")
    as_root = doctor("--check", "cgroups", "--json")
    assert as_root.part(Part.CGROUPS)["status"] == "works"
    setpriv = shutil.which("setpriv")
    assert setpriv is not None
    ran = subprocess.run(
        [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *DOCTOR, "--check", "cgroups", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
    )
    unprivileged = Outcome(ran.returncode, ran.stdout, ran.stderr)
    found = unprivileged.part(Part.CGROUPS)
    assert (unprivileged.exit_code, found["status"], found["required"]) == (0, "missing", False)
    assert "Delegate=yes" in found["fix"]


# Compilers and the browser ---------------------------------------------------------------------------------


def test_the_compiler_builds_an_address_sanitizer_program_that_reports() -> None:
    outcome = doctor("--check", "compiler", "--json")
    assert (outcome.exit_code, outcome.part(Part.COMPILER)["status"]) == (0, "works")


def test_a_compiler_that_does_not_work_stops_the_main_job(tmp_path: Path) -> None:
    outcome = doctor(
        "--check", "compiler", "--json", env={"PATH": path_without(tmp_path, replaced={"gcc": "/bin/false"})}
    )
    found = outcome.part(Part.COMPILER)
    assert (outcome.exit_code, found["status"]) == (1, "broken")
    assert "cannot build an AddressSanitizer program" in found["summary"]


@pytest.mark.skipif(shutil.which("clang") is None, reason="clang is not installed here (apt-get install clang)")
def test_clang_builds_a_libfuzzer_target() -> None:
    outcome = doctor("--check", "clang", "--json")
    assert (outcome.exit_code, outcome.part(Part.CLANG)["status"]) == (0, "works")


def test_missing_clang_only_warns(tmp_path: Path) -> None:
    outcome = doctor("--check", "clang", "--json", env={"PATH": path_without(tmp_path, "clang")})
    found = outcome.part(Part.CLANG)
    assert (outcome.exit_code, found["status"], found["required"]) == (0, "missing", False)
    assert "fuzzer baseline" in found["affects"]


@pytest.mark.skipif(
    shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
    reason="Chromium is not installed here (apt-get install chromium)",
)
def test_chromium_starts() -> None:
    outcome = doctor("--check", "chromium", "--json")
    assert (outcome.exit_code, outcome.part(Part.CHROMIUM)["status"]) == (0, "works")


@pytest.mark.parametrize(("replaced", "status"), [({}, "missing"), ({"chromium": "/bin/false"}, "broken")])
def test_a_missing_or_broken_chromium_only_warns(tmp_path: Path, replaced: dict[str, str], status: str) -> None:
    path = path_without(tmp_path, "chromium", "chromium-browser", replaced=replaced)
    outcome = doctor("--check", "chromium", "--json", env={"PATH": path})
    found = outcome.part(Part.CHROMIUM)
    assert (outcome.exit_code, found["status"], found["required"]) == (0, status, False)


# The local model -------------------------------------------------------------------------------------------


def test_the_bundled_model_generates_a_token_from_a_portable_build() -> None:
    outcome = doctor("--check", "model", "--check", "model-build", "--json", unset=("LLAMA_CPP_LIB_PATH",))
    model, build = outcome.part(Part.MODEL), outcome.part(Part.MODEL_BUILD)
    assert (outcome.exit_code, model["status"]) == (0, "works")
    assert "generates a token" in model["summary"]
    assert build["facts"]["system_info"].startswith("CPU :")
    recorded = (Path(sys.prefix) / BUILD_INFO).exists()  # a venv made by `make` records its build
    assert build["status"] == ("works" if recorded else "missing"), build


def test_a_model_file_that_does_not_load_stops_the_main_job(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + b"\xff" * 64)
    outcome = doctor("--check", "model", "--model", f"airlock/{corrupt}", "--json")
    found = outcome.part(Part.MODEL)
    assert (outcome.exit_code, found["status"]) == (1, "broken")
    assert "llama.cpp cannot read" in found["summary"]


def test_a_native_library_that_does_not_load_stops_the_main_job(tmp_path: Path) -> None:
    (tmp_path / "libllama.so").write_bytes(b"not a shared library")
    outcome = doctor("--check", "model", "--json", env={"LLAMA_CPP_LIB_PATH": str(tmp_path)})
    found = outcome.part(Part.MODEL)
    assert (outcome.exit_code, found["status"]) == (1, "broken")
    assert "native library could not be loaded" in found["summary"]
    assert "make clean demo" in found["fix"]


def test_a_model_that_is_not_there_is_missing(tmp_path: Path) -> None:
    outcome = doctor("--check", "model", "--model", f"airlock/{tmp_path}/absent.gguf", "--json")
    assert (outcome.exit_code, outcome.part(Part.MODEL)["status"]) == (1, "missing")


PORTABLE = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | OPENMP = 1 |"
NATIVE = "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | AVX512 = 1 | AVX512_VNNI = 1 | AMX_INT8 = 1 | OPENMP = 1 |"
RECORDED = {"level": "x86-64-avx2", "cmake_args": "-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_AMX_TILE=OFF"}


def test_a_native_build_of_llama_cpp_is_flagged_with_the_instructions_that_make_it_so() -> None:
    found = assess_build(RECORDED, NATIVE, Path("build-info"))
    assert (found.status, found.required) == (Status.BROKEN, False)
    assert "AMX_INT8, AVX512, AVX512_VNNI" in found.summary
    assert found.fix.startswith("make clean demo")
    flagged_by_flags = assess_build({"level": "?", "cmake_args": "-DGGML_NATIVE=ON"}, PORTABLE, Path("build-info"))
    assert flagged_by_flags.status is Status.BROKEN


def test_a_portable_build_works_and_an_unrecorded_one_is_missing() -> None:
    assert assess_build(RECORDED, PORTABLE, Path("build-info")).status is Status.WORKS
    assert assess_build(None, PORTABLE, Path("build-info")).status is Status.MISSING


# Databases and PDF -----------------------------------------------------------------------------------------


def test_sqlite_holds_the_schema(tmp_path: Path) -> None:
    outcome = doctor("--check", "database", "--check", "postgresql", "--json", env={"AIRLOCK_HOME": str(tmp_path)})
    assert (outcome.exit_code, outcome.part(Part.DATABASE)["status"]) == (0, "works")
    postgres = outcome.part(Part.POSTGRESQL)
    assert (postgres["status"], postgres["required"]) == ("missing", False)  # not configured: a note


def test_a_deployment_database_that_is_not_a_database_stops_the_main_job(tmp_path: Path) -> None:
    junk = tmp_path / "airlock.db"
    junk.write_bytes(b"this is not an SQLite database" * 100)
    outcome = doctor("--check", "database", "--json", env={"AIRLOCK_DATABASE_URL": f"sqlite:///{junk}"})
    found = outcome.part(Part.DATABASE)
    assert (outcome.exit_code, found["status"]) == (1, "broken")
    assert "cannot be read as an SQLite database" in found["summary"]
    assert junk.read_bytes() == b"this is not an SQLite database" * 100  # looked at, never written


def test_a_home_that_cannot_hold_a_database_stops_the_main_job(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("a file where a directory should be")
    outcome = doctor("--check", "database", "--json", env={"AIRLOCK_HOME": str(tmp_path / "file" / "home")})
    found = outcome.part(Part.DATABASE)
    assert (outcome.exit_code, found["status"]) == (1, "broken")
    assert "is a file, not a directory" in found["summary"]


def test_an_unreachable_postgresql_stops_the_main_job() -> None:
    url = f"postgresql://airlock:secret@127.0.0.1:{free_loopback_port()}/airlock"
    outcome = doctor("--check", "postgresql", "--json", env={"AIRLOCK_DATABASE_URL": url})
    found = outcome.part(Part.POSTGRESQL)
    assert (outcome.exit_code, found["status"], found["required"]) == (1, "broken", True)
    assert "does not answer" in found["summary"]
    assert "secret" not in outcome.stdout  # the password is not shown


@pytest.mark.postgres
def test_a_configured_postgresql_answers(postgres: PostgresServer) -> None:
    outcome = doctor("--check", "postgresql", "--json", env={"AIRLOCK_DATABASE_URL": postgres.url()})
    found = outcome.part(Part.POSTGRESQL)
    assert (outcome.exit_code, found["status"], found["required"]) == (0, "works", True)


def test_weasyprint_renders_a_pdf() -> None:
    outcome = doctor("--check", "weasyprint", "--json")
    assert (outcome.exit_code, outcome.part(Part.WEASYPRINT)["status"]) == (0, "works")


def test_a_system_library_weasyprint_cannot_load_stops_the_main_job(tmp_path: Path) -> None:
    (tmp_path / "libpango-1.0.so.0").write_bytes(b"not a shared library")
    outcome = doctor("--check", "weasyprint", "--json", env={"LD_LIBRARY_PATH": str(tmp_path)})
    found = outcome.part(Part.WEASYPRINT)  # the JSON is whole: WeasyPrint's own printed advice is kept out
    assert (outcome.exit_code, found["status"]) == (1, "broken")
    assert "WeasyPrint cannot load" in found["summary"]
    assert "libpango" in found["fix"]


def test_the_model_checks_load_the_file_they_are_given() -> None:
    outcome = doctor("--check", "model", "--model", f"airlock/{model_path('smollm2-135m')}", "--json")
    assert (outcome.exit_code, outcome.part(Part.MODEL)["status"]) == (0, "works")
