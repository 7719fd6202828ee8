"""Sandbox benchmark: ``bwrap`` against Inspect's built-in ``local`` provider, in one run.

Run: ``.venv/bin/python bench/sandbox.py``. ``local`` isolates nothing, so it is the floor: the ratios
say what bwrap's isolation costs. Prints the median of many repetitions of

* sample start plus teardown (``sample_init`` then ``sample_cleanup``), aim under 50 ms for bwrap;
* ``exec(["true"])`` in a running sample, aim within 1.5x of local;
* a sample with two services started and torn down, on one loopback and (as root) as separate hosts, aim under
  300 ms, as a ratio to the sample without services measured in the same run; and as root the same with services
  that may switch users (a compose file's), each in a user namespace of 65,536 ids made for it.

A container start is about a second, for comparison.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time

from inspect_ai.util import SandboxEnvironment
from inspect_ai.util._sandbox.local import LocalSandboxEnvironment

from airlock.sandbox import BwrapConfig, BwrapSandboxEnvironment, ServiceConfig, sample_sandboxes
from airlock.sandbox.config import SandboxLimits
from airlock.sandbox.resources import create_resource_group

STARTS = 30
EXECS = 300


async def start_and_teardown(provider: type[SandboxEnvironment]) -> float:
    timings = []
    for _ in range(STARTS):
        began = time.perf_counter()
        environments = await provider.sample_init("bench", None, {})
        await provider.sample_cleanup("bench", None, environments, False)
        timings.append(time.perf_counter() - began)
    return statistics.median(timings)


async def exec_latency(provider: type[SandboxEnvironment]) -> float:
    environments = await provider.sample_init("bench", None, {})
    try:
        sandbox = environments["default"]
        timings = []
        for _ in range(EXECS):
            began = time.perf_counter()
            result = await sandbox.exec(["true"])
            timings.append(time.perf_counter() - began)
            assert result.success
        return statistics.median(timings)
    finally:
        await provider.sample_cleanup("bench", None, environments, False)


TWO_SERVICES = [
    ServiceConfig(name="web", command=["sleep", "600"]),
    ServiceConfig(name="db", command=["sleep", "600"], networks=["inner"]),
]


async def with_services(network: str, switch_users: bool = False) -> float:
    services = [service.model_copy(update={"switch_users": switch_users}) for service in TWO_SERVICES]
    config = BwrapConfig.model_validate({"network": network, "services": services, "networks": ["default", "inner"]})
    timings = []
    for _ in range(STARTS // 3):
        began = time.perf_counter()
        async with sample_sandboxes(config):
            pass
        timings.append(time.perf_counter() - began)
    return statistics.median(timings)


async def main() -> int:
    group = create_resource_group("bench-probe", SandboxLimits())
    limits = group.kind
    group.destroy()
    await start_and_teardown(BwrapSandboxEnvironment)  # warm-up: binary checks, page cache
    local_start = await start_and_teardown(LocalSandboxEnvironment)
    bwrap_start = await start_and_teardown(BwrapSandboxEnvironment)
    local_exec = await exec_latency(LocalSandboxEnvironment)
    bwrap_exec = await exec_latency(BwrapSandboxEnvironment)
    print(f"bwrap sandbox against Inspect's local provider (limits enforced by {limits})")
    print(
        f"  sample start + teardown: bwrap {bwrap_start * 1000:6.1f} ms, local {local_start * 1000:6.2f} ms "
        f"(aim: bwrap under 50 ms; a container start is about 1000 ms)"
    )
    print(
        f"  exec of `true`:          bwrap {bwrap_exec * 1000:6.2f} ms, local {local_exec * 1000:6.2f} ms, "
        f"ratio {bwrap_exec / local_exec:4.2f}x (aim: within 1.5x)"
    )
    shared = await with_services("private")
    print(
        f"  two services, one loopback: {shared * 1000:6.1f} ms, {shared / bwrap_start:4.1f}x a sample without "
        "services (aim: under 300 ms)"
    )
    if os.geteuid() == 0:
        separate = await with_services("hosts")
        print(
            f"  two services, separate hosts: {separate * 1000:6.1f} ms, {separate / bwrap_start:4.1f}x "
            "(aim: under 300 ms)"
        )
        switching = await with_services("hosts", switch_users=True)
        print(
            f"  the same, services that switch users (compose's): {switching * 1000:6.1f} ms, "
            f"{switching / separate:4.2f}x the one-user services"
        )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
