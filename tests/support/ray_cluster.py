"""A real Ray cluster on this machine, for the cluster executor's tests and benchmark: a head and worker nodes
started with Ray's own ``ray start``, as a lab starts them on its hosts.

Every node has an address of its own in 127.0.0.0/8 (Ray turns ``127.0.0.1`` into the host's outside address, so
the nodes take others of the loopback range), which keeps every byte the cluster sends on loopback. (Ray's GCS and
raylets still *listen* on every interface, whatever the node's address: nothing is sent off loopback, but the
token is what guards them; docs/cluster.md, "Firewall".) Token
authentication is on, with a token file of the cluster's own; usage statistics are off. ``kill_node`` SIGKILLs a
worker node's raylet and everything under it (its workers, its agents): the node is lost, as when a host dies.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def cluster_environment(token_file: Path) -> dict[str, str]:
    """What the cluster's processes and its driver both need: the token, and no usage reports."""
    return {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_file)}


def new_token(path: Path) -> Path:
    path.write_text(secrets.token_hex(32))
    path.chmod(0o600)
    return path


@dataclass
class LocalRayCluster:
    temp_dir: Path
    token_file: Path
    head_ip: str
    address: str = ""
    workers: list[str] = field(default_factory=list)

    @property
    def environment(self) -> dict[str, str]:
        return cluster_environment(self.token_file)

    def _ray_start(self, arguments: list[str], extra: Mapping[str, str] | None = None) -> None:
        environment = {**os.environ, **self.environment, **(extra or {})}
        done = subprocess.run(
            [RAY, "start", "--disable-usage-stats", *arguments],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"ray start failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")

    def start_head(self) -> None:
        port = _free_port(self.head_ip)
        self._ray_start(
            [
                "--head",
                f"--node-ip-address={self.head_ip}",
                f"--port={port}",
                "--num-cpus=0",
                "--include-dashboard=false",
                f"--temp-dir={self.temp_dir}",
            ]
        )
        self.address = f"{self.head_ip}:{port}"

    def add_worker(self, *, bwrap: int = 1, cpus: int = 2, extra_environment: Mapping[str, str] | None = None) -> str:
        """Start a worker node offering ``bwrap`` shards at once; its address (which names it)."""
        prefix = self.head_ip.rsplit(".", 1)[0]
        ip = f"{prefix}.{int(self.head_ip.rsplit('.', 1)[1]) + len(self.workers) + 1}"
        self._ray_start(
            [
                f"--address={self.address}",
                f"--node-ip-address={ip}",
                f"--num-cpus={cpus}",
                f"--resources={json.dumps({'bwrap': bwrap})}",
            ],
            extra_environment,
        )
        self.workers.append(ip)
        return ip

    def kill_node(self, ip: str) -> None:
        """SIGKILL the node's raylet and every process under it."""
        raylets = [pid for pid, line in _processes().items() if "raylet" in line and f"--node_ip_address={ip} " in line]
        assert raylets, f"no raylet for {ip}"
        for pid in raylets:
            _kill_tree(pid)

    def stop(self) -> None:
        """Kill every process of this cluster (and nothing of another cluster on this machine)."""
        ours = [
            pid
            for pid, line in _processes().items()
            if str(self.temp_dir) in line or (self.address and self.address in line)
        ]
        for pid in ours:
            _kill_tree(pid)


def _processes() -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
    return found


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(entry.name))
    return children


def _kill_tree(pid: int) -> None:
    # Stop the parent first so it cannot start new children, then take the tree down.
    try:
        os.kill(pid, signal.SIGSTOP)
    except ProcessLookupError:
        return
    for child in _children(pid):
        _kill_tree(child)
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@contextmanager
def local_ray_cluster(scratch: Path, *, workers: int = 2, token_file: Path | None = None) -> Iterator[LocalRayCluster]:
    """A head (which runs no samples) and ``workers`` worker nodes with one ``bwrap`` each, stopped at the end.

    ``token_file`` is the cluster's token (made in ``scratch`` if not given). A process reads Ray's token once, when
    it first connects: a process that joins several clusters in turn gives them all the same token.
    """
    # An address block of its own (127.X.Y.1 and up), so that clusters of tests running side by side never meet.
    block = f"127.{1 + secrets.randbelow(249)}.{1 + secrets.randbelow(249)}"
    if token_file is None:
        token_file = new_token(scratch / "ray-token")
    # Ray's socket paths must stay under 108 bytes: a short directory of its own.
    temp_dir = Path(f"/tmp/airlock-ray-{secrets.token_hex(4)}")
    cluster = LocalRayCluster(temp_dir=temp_dir, token_file=token_file, head_ip=f"{block}.1")
    try:
        cluster.start_head()
        for _ in range(workers):
            cluster.add_worker()
        yield cluster
    finally:
        cluster.stop()
        time.sleep(0.5)
        shutil.rmtree(temp_dir, ignore_errors=True)
