"""Helpers for tests of the bwrap sandbox."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from airlock.sandbox import BwrapConfig, BwrapSandboxEnvironment


@asynccontextmanager
async def sample(config: BwrapConfig | None = None) -> AsyncIterator[dict[str, BwrapSandboxEnvironment]]:
    """The sandboxes of one sample, cleaned up afterwards as Inspect would."""
    environments = await BwrapSandboxEnvironment.sample_init("test", config, {})
    try:
        yield {name: environment.as_type(BwrapSandboxEnvironment) for name, environment in environments.items()}
    finally:
        await BwrapSandboxEnvironment.sample_cleanup("test", config, environments, False)


def host_processes_with(marker: str) -> list[int]:
    """Host pids whose command line contains ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def processes_appearing_with(marker: str, within_seconds: float = 5.0) -> list[int]:
    """Host pids whose command line contains ``marker``, waiting up to ``within_seconds`` for one to show:
    a process forked a moment ago may still be between fork and exec, when its command line reads as empty."""
    give_up = time.monotonic() + within_seconds
    while not (found := host_processes_with(marker)) and time.monotonic() < give_up:
        time.sleep(0.05)
    return found


def processes_left_with(marker: str, within_seconds: float = 5.0) -> list[int]:
    """Host pids whose command line contains ``marker`` once ``within_seconds`` have passed without all of them
    ending: a process sent SIGKILL a moment ago keeps its command line until the kernel has torn it down, which
    on a busy machine takes a while for a few hundred of them."""
    give_up = time.monotonic() + within_seconds
    while (found := host_processes_with(marker)) and time.monotonic() < give_up:
        time.sleep(0.05)
    return found
