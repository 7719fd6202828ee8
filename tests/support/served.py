"""``airlock serve`` in a process of its own, on a free loopback port, for tests that need the real server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from airlock.config import Settings


@dataclass(frozen=True)
class ServedProcess:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    """What the server wrote (its request log among it)."""

    def resident_bytes(self) -> int:
        """The server process's resident memory now (``VmRSS`` in ``/proc/PID/status``)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS line for the server process")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def airlock_serve(settings: Settings, log: Path, environment: dict[str, str] | None = None) -> Iterator[ServedProcess]:
    """``airlock serve`` for the deployment of ``settings`` (with ``environment`` added), until the block ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "airlock.cli.main", "serve", "--port", str(port)],
            env={**os.environ, **settings.as_environment(), **(environment or {})},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/sign-in", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "airlock serve did not answer within 30 s"
            time.sleep(0.2)
        yield ServedProcess(url, port, process, log)
    finally:
        process.terminate()
        process.wait(timeout=10)
