"""One command in a fresh sandbox, for ``airlock sandbox exec``: debugging challenges, showing the walls."""

from __future__ import annotations

import asyncio

from inspect_ai.util import ExecResult

from airlock.evals.sandbox.config import BwrapConfig
from airlock.evals.sandbox.environment import BwrapSandboxEnvironment


def run_once(config: BwrapConfig, command: list[str], *, timeout: int | None = None) -> ExecResult[str]:
    """Start the sample's sandboxes, run ``command`` in ``default``, and tear everything down."""

    async def run() -> ExecResult[str]:
        environments = await BwrapSandboxEnvironment.sample_init("airlock-sandbox-exec", config, {})
        try:
            return await environments["default"].exec(command, timeout=timeout, user=None)
        finally:
            await BwrapSandboxEnvironment.sample_cleanup("airlock-sandbox-exec", config, environments, False)

    return asyncio.run(run())
