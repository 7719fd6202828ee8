"""One command in a fresh sandbox, for ``airlock sandbox exec``: debugging challenges, showing the walls."""

from __future__ import annotations

import asyncio

from airlock.sandbox.config import BwrapConfig
from airlock.sandbox.sample import CommandResult, sample_sandboxes


def run_once(config: BwrapConfig, command: list[str], *, timeout: float | None = None) -> CommandResult:
    """Start the sample's sandboxes, run ``command`` in ``default``, and tear everything down."""

    async def run() -> CommandResult:
        async with sample_sandboxes(config, name="airlock-sandbox-exec") as sandboxes:
            return await sandboxes["default"].exec(command, timeout=timeout)

    return asyncio.run(run())
