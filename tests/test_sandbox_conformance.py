"""Inspect's own conformance suite for sandbox providers, run against ``bwrap``.

Every check of ``inspect_ai/util/_sandbox/self_check.py`` runs here against a fresh sandbox; the few
that cannot hold for this provider are skipped, each with the reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from inspect_ai.util import SandboxEnvironment
from inspect_ai.util._sandbox.self_check import *  # noqa: F403 (the suite is a set of test functions)

from airlock.sandbox import BwrapSandboxEnvironment

pytestmark = pytest.mark.anyio

CANNOT_HOLD: dict[str, str] = {
    "test_exec_as_user": (
        "bwrap maps exactly one user id into each sandbox (no subordinate id ranges without the setuid "
        "newuidmap helper), so a user created inside with adduser cannot be switched to; exec(user=...) "
        "accepts the sandbox's own user, and root for samples that ask for it"
    ),
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def sandbox_env(request: pytest.FixtureRequest) -> AsyncIterator[SandboxEnvironment]:
    reason = CANNOT_HOLD.get(request.node.originalname)
    if reason is not None:
        pytest.skip(reason)
    environments = await BwrapSandboxEnvironment.sample_init("conformance", None, {})
    try:
        yield environments["default"]
    finally:
        await BwrapSandboxEnvironment.sample_cleanup("conformance", None, environments, False)
