"""The ``bwrap`` sandbox: bubblewrap isolation for Inspect AI, with no container engine.

A package of its own: it imports nothing else of Airlock, so it could ship alone. Two faces:

* the Inspect provider :class:`BwrapSandboxEnvironment` (``sandbox="bwrap"``; registered through the
  ``inspect_ai`` entry point, so ``inspect eval --sandbox bwrap`` finds it), and
* the same sandboxes without Inspect (:func:`sample_sandboxes`, :class:`Sandbox`), for code that needs a
  sandbox but not an evaluation; importing them does not import Inspect.

See docs/sandbox.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airlock.sandbox.config import BwrapConfig, SandboxLimits, ServiceConfig, load_config
from airlock.sandbox.errors import (
    OutputLimitError,
    SandboxConfigError,
    SandboxError,
    SandboxExhaustedError,
    SandboxUnavailableError,
    SandboxUnsupportedError,
    ServiceNotReadyError,
)
from airlock.sandbox.sample import CommandResult, ReplyLimits, Sandbox, sample_sandboxes, start_sample, stop_sample

if TYPE_CHECKING:
    from airlock.sandbox.provider import BwrapSandboxEnvironment

__all__ = [
    "BwrapConfig",
    "BwrapSandboxEnvironment",
    "CommandResult",
    "OutputLimitError",
    "ReplyLimits",
    "Sandbox",
    "SandboxConfigError",
    "SandboxError",
    "SandboxExhaustedError",
    "SandboxLimits",
    "SandboxUnavailableError",
    "SandboxUnsupportedError",
    "ServiceConfig",
    "ServiceNotReadyError",
    "load_config",
    "sample_sandboxes",
    "start_sample",
    "stop_sample",
]


def __getattr__(name: str) -> Any:
    # The provider imports Inspect (about a second): only when it is asked for.
    if name == "BwrapSandboxEnvironment":
        from airlock.sandbox.provider import BwrapSandboxEnvironment

        return BwrapSandboxEnvironment
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
