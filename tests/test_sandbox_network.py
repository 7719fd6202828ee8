"""Separate hosts: a sample's sandboxes as machines on a range, each in a network namespace of its own, joined by the
networks they name; a host behind another is reached only through it, and nothing of the range outlives the sample."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from airlock.sandbox import BwrapConfig, SandboxUnsupportedError, ServiceConfig, sample_sandboxes
from airlock.sandbox import network as sandbox_network
from tests.support.sandboxes import host_processes_with, processes_appearing_with

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(os.geteuid() != 0, reason="wiring a sample's networks needs root (CAP_NET_ADMIN)"),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def fetch(url: str) -> list[str]:
    code = f"import urllib.request as u; print(u.urlopen({url!r}, timeout=3).read().decode().strip())"
    return ["python3", "-c", code]


def pivot(marker: str = "") -> BwrapConfig:
    """The agent on the outer network; a jump host on both; an internal service on the inner one only."""
    return BwrapConfig(
        network="hosts",
        networks=["outer"],
        services=[
            ServiceConfig(
                name="jump",
                command=["python3", "-m", "http.server", "8000"],
                files={"index.html": "jump host\n"},
                networks=["outer", "inner"],
                port=8000,
            ),
            ServiceConfig(
                name="internal",
                command=["sh", "-c", f"python3 -m http.server 9000; : {marker}"],
                files={"secret.txt": "INTERNAL-ONLY\n"},
                networks=["inner"],
                port=9000,
            ),
        ],
    )


def host_links() -> str:
    return subprocess.run(["/usr/sbin/ip", "-brief", "link"], capture_output=True, text=True, check=True).stdout


async def test_a_host_behind_another_is_reached_only_through_it() -> None:
    async with sample_sandboxes(pivot()) as sandboxes:
        agent, jump, internal = sandboxes["default"], sandboxes["jump"], sandboxes["internal"]
        assert (await agent.exec(fetch("http://jump:8000/"), timeout=20)).stdout == "jump host\n"
        assert "internal" not in await agent.read_file("/etc/hosts"), "the agent is told only of hosts it can reach"
        inner_address = next(
            line.split()[0] for line in (await jump.read_file("/etc/hosts")).splitlines() if line.endswith(" internal")
        )
        blocked = await agent.exec(fetch(f"http://{inner_address}:9000/secret.txt"), timeout=20)
        assert blocked.returncode != 0
        assert "unreachable" in blocked.stderr.lower()
        assert (await jump.exec(fetch("http://internal:9000/secret.txt"), timeout=20)).stdout == "INTERNAL-ONLY\n"
        forwarding = await jump.exec(["cat", "/proc/sys/net/ipv4/ip_forward"])
        assert forwarding.stdout.strip() == "0", "a host on two networks does not route between them"
        assert (await internal.exec(fetch("http://jump:8000/"), timeout=20)).stdout == "jump host\n"


async def test_the_range_leaves_nothing_behind() -> None:
    marker = f"range-{uuid.uuid4().hex}"
    before = host_links()
    async with sample_sandboxes(pivot(marker)) as sandboxes:
        assert processes_appearing_with(marker), "the internal service ran"
        switch = sandboxes["default"].switch
        assert switch is not None
        switch_pid = switch.pid
        assert "al" not in host_links().replace(before, ""), "the pairs live in the sample's namespaces, not the host's"
    await asyncio.sleep(0.2)
    assert host_processes_with(marker) == []
    assert not Path(f"/proc/{switch_pid}").exists(), "the switch is gone"
    assert host_links() == before


EVALUATION = """
import asyncio, sys
sys.path.insert(0, {root!r})
from tests.test_sandbox_network import pivot
from airlock.sandbox import start_sample

async def main():
    await start_sample("killed", pivot({marker!r}))
    print("ready", flush=True)
    await asyncio.sleep(1000)

asyncio.run(main())
"""


def test_an_evaluation_killed_with_sigkill_takes_its_range_with_it(tmp_path: Path) -> None:
    marker = f"killed-range-{uuid.uuid4().hex}"
    script = tmp_path / "evaluation.py"
    script.write_text(EVALUATION.format(root=str(Path(__file__).parent.parent), marker=marker))
    before = host_links()
    evaluation = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert evaluation.stdout is not None
        assert evaluation.stdout.readline().strip() == "ready"
        assert processes_appearing_with(marker)
        switches = [pid for pid in host_processes_with("infinity") if _parent(pid) == evaluation.pid]
        assert len(switches) == 1, "the sample's switch is the evaluation's child"
        evaluation.kill()
        evaluation.wait(10)
    finally:
        if evaluation.poll() is None:
            evaluation.kill()
    deadline = time.monotonic() + 5
    while host_processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host_processes_with(marker) == []
    while Path(f"/proc/{switches[0]}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{switches[0]}").exists(), "the switch died with the evaluation"
    assert host_links() == before


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


async def test_separate_hosts_without_root_are_refused_in_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SandboxUnsupportedError, match=r"Separate hosts \(network: hosts\) need root"):
        async with sample_sandboxes(pivot()):
            pass


def test_addresses_are_per_network_and_names_only_of_shared_networks() -> None:
    topology = sandbox_network.Topology.of({"default": ["outer"], "jump": ["outer", "inner"], "internal": ["inner"]})
    assert [name for _, name in topology.hosts_file("default")] == ["jump"]
    assert sorted(name for _, name in topology.hosts_file("jump")) == ["default", "internal"]
    addresses = set(topology.addresses.values())
    assert len(addresses) == 4
    assert all(address.startswith("10.77.") for address in addresses)
