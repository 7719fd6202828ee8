"""Separate hosts: a sample's sandboxes on networks of their own, as machines on a range are.

With ``network: hosts``, every sandbox of a sample (the agent's and each service's) has a network namespace of its
own. Each of the sample's networks is a bridge in a namespace that no sandbox can enter (the *switch*, held by a
process that does nothing and dies with the evaluation); a sandbox on a network is joined to its bridge by a virtual
ethernet pair, with an address from that network's private range, and reaches the others on it by name (its
``/etc/hosts``). A host on two networks does not forward between them, so a service behind another is reached only
through that one: an agent, a jump host and an internal service make a pivot.

The addresses exist only inside the sample's namespaces: the host's own network has no route to them, and nothing
in them has a route out. Wiring needs ``CAP_NET_ADMIN`` over the sandboxes' namespaces: as root only.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import secrets
import signal
from dataclasses import dataclass, field

from airlock.sandbox.bwrap import system_tool
from airlock.sandbox.errors import SandboxError, SandboxUnsupportedError

DEFAULT_NETWORK = "default"
AGENT = "default"
"""The agent's sandbox, by its name among the hosts."""
RANGE = ipaddress.IPv4Network("10.77.0.0/16")
"""Private addresses for the sample's networks (a /24 each), never configured outside its namespaces."""


@dataclass(frozen=True)
class Topology:
    """Which hosts are on which network, and their addresses there."""

    members: dict[str, list[str]]
    """Network -> the hosts on it."""
    addresses: dict[tuple[str, str], str] = field(default_factory=dict)
    """(network, host) -> the host's address on that network."""

    @classmethod
    def of(cls, networks_of: dict[str, list[str]]) -> Topology:
        """The topology where each host (``networks_of``'s keys) is on the networks it names."""
        names = sorted({network for networks in networks_of.values() for network in networks})
        if len(names) > 256:
            raise SandboxError("A sample may have at most 256 networks.")
        members = {name: sorted(host for host, networks in networks_of.items() if name in networks) for name in names}
        addresses: dict[tuple[str, str], str] = {}
        for index, name in enumerate(names):
            subnet = list(RANGE.subnets(new_prefix=24))[index]
            if len(members[name]) > 250:
                raise SandboxError(f"The network {name!r} has more than 250 hosts.")
            for offset, host in enumerate(members[name]):
                addresses[(name, host)] = str(subnet.network_address + 2 + offset)
        return cls(members, addresses)

    def hosts_file(self, host: str) -> list[tuple[str, str]]:
        """(address, name) for every other host that ``host`` shares a network with: its /etc/hosts."""
        seen: dict[str, str] = {}
        for network, members in self.members.items():
            if host not in members:
                continue
            for other in members:
                if other != host and other not in seen:
                    seen[other] = self.addresses[(network, other)]
        return sorted((address, name) for name, address in seen.items())

    def first_address(self, host: str) -> str:
        return next(address for (_, member), address in sorted(self.addresses.items()) if member == host)


class Switch:
    """The namespace holding the sample's bridges: a process that only sleeps in it, and dies with this one."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    async def start(cls) -> Switch:
        if os.geteuid() != 0:
            raise SandboxUnsupportedError(
                "Separate hosts (network: hosts) need root to wire the sample's networks; run the evaluation as root, "
                "or use network: private (one loopback shared by the sample's sandboxes)."
            )
        process = await asyncio.create_subprocess_exec(
            system_tool("setpriv"),
            "--pdeathsig",
            "KILL",
            "--",
            system_tool("unshare"),
            "--net",
            "--",
            "sleep",
            "infinity",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            cwd="/",
        )
        # The namespace is the sleeper's once unshare has executed it.
        for _ in range(200):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{process.pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                    return cls(process)
            await asyncio.sleep(0.005)
        await cls(process).stop()
        raise SandboxError("The sample's network switch did not start.")

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            await self.process.wait()


async def wire(topology: Topology, pids: dict[str, int], switch: Switch) -> None:
    """Create the bridges in ``switch`` and join each host (``pids``: host -> a process in its namespace) to its
    networks with a virtual ethernet pair and its address."""
    tag = secrets.token_hex(4)
    pairs: list[tuple[str, str, str, str]] = []  # (network, host, host's end, switch's end)
    for index, (network, members) in enumerate(sorted(topology.members.items())):
        for position, host in enumerate(members):
            pairs.append((network, host, f"al{tag}{index:02x}{position:02x}h", f"al{tag}{index:02x}{position:02x}s"))
    created = [
        f"link add {outside} type veth peer name {inside} netns {switch.pid}" for _, _, outside, inside in pairs
    ] + [f"link set {outside} netns {pids[host]}" for _, host, outside, _ in pairs]
    await _ip(None, created)
    bridges = {network: f"br{index}" for index, network in enumerate(sorted(topology.members))}
    switch_commands = [f"link add {bridge} type bridge" for bridge in bridges.values()]
    switch_commands += [f"link set {bridge} up" for bridge in bridges.values()]
    switch_commands += [f"link set {inside} master {bridges[network]} up" for network, _, _, inside in pairs]
    hosts: list[tuple[int, list[str]]] = []
    for host, pid in pids.items():
        mine = [(network, outside) for network, member, outside, _ in pairs if member == host]
        commands = ["link set lo up"]
        for number, (network, outside) in enumerate(mine):
            commands += [
                f"link set {outside} name eth{number}",
                f"addr add {topology.addresses[(network, host)]}/24 dev eth{number}",
                f"link set eth{number} up",
            ]
        hosts.append((pid, commands))
    # Once the pairs exist, each namespace is configured on its own: the switch and every host at once.
    await asyncio.gather(
        _ip(switch.pid, switch_commands), *(_ip(pid, commands, low_ports=True) for pid, commands in hosts)
    )


async def _ip(pid: int | None, commands: list[str], *, low_ports: bool = False) -> None:
    """Run ``ip`` commands (one process, ``-batch``), in the network namespace of ``pid`` or this one; with
    ``low_ports``, first let every user of that namespace listen on any port, as a container engine does in a
    container's network namespace (a target on port 80 runs as no privileged user, with no capability)."""
    if not commands:
        return
    argv = [system_tool("ip", "iproute2"), "-batch", "-"]
    if low_ports:
        argv = [
            "/bin/sh",
            "-c",
            'echo 0 > /proc/sys/net/ipv4/ip_unprivileged_port_start && exec "$@"',
            "sh",
            *argv,
        ]
    if pid is not None:
        argv = [system_tool("nsenter"), f"--net=/proc/{pid}/ns/net", "--", *argv]
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        cwd="/",
    )
    _, error = await process.communicate("\n".join(commands).encode() + b"\n")
    if process.returncode != 0:
        reason = (error.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
        raise SandboxError(f"The sample's networks could not be wired: {reason}.")
