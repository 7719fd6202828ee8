"""The ``bwrap`` sandbox: bubblewrap isolation for Inspect AI, with no container engine.

Registered for Inspect through the ``inspect_ai`` entry point, so ``inspect eval --sandbox bwrap`` and
``Task(sandbox="bwrap")`` both use it.
"""

from airlock.evals.sandbox.config import BwrapConfig, SandboxLimits, ServiceConfig
from airlock.evals.sandbox.environment import BwrapSandboxEnvironment
from airlock.evals.sandbox.errors import (
    SandboxConfigError,
    SandboxError,
    SandboxUnsupportedError,
    ServiceNotReadyError,
)

__all__ = [
    "BwrapConfig",
    "BwrapSandboxEnvironment",
    "SandboxConfigError",
    "SandboxError",
    "SandboxLimits",
    "SandboxUnsupportedError",
    "ServiceConfig",
    "ServiceNotReadyError",
]
