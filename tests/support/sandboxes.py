"""Helpers for tests of the bwrap sandbox."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from airlock.evals.sandbox import BwrapConfig, BwrapSandboxEnvironment


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
