"""What can go wrong with a sandbox, in words a person can act on.

The sandbox stands on its own (it imports nothing else of Airlock), so these are its own errors; the Inspect
provider (:mod:`.provider`) turns them into Inspect's where Inspect names one (a dead sandbox becomes
``SandboxUnavailableError``, an oversized output ``OutputLimitExceededError``), keeping each as the cause.
"""

from __future__ import annotations


class SandboxError(RuntimeError):
    """The bwrap sandbox failed or cannot be set up here; the message names the cause and what to do."""


class SandboxConfigError(SandboxError):
    """The sandbox configuration is invalid."""


class SandboxUnsupportedError(SandboxError):
    """This machine lacks something the sandbox needs (a binary, a kernel feature, a privilege)."""


class SandboxUnavailableError(SandboxError):
    """The sandbox is not running any more (shut down, killed, or it broke the protocol): nothing more can be
    asked of it."""


class SandboxExhaustedError(SandboxError):
    """The sandbox has run out of processes: something in it forks without end."""


class ServiceNotReadyError(SandboxError):
    """A target service did not start accepting connections in time."""


class OutputLimitError(SandboxError):
    """A command's output, or a file read, is larger than the limit; ``truncated`` holds what was kept."""

    def __init__(self, message: str, *, limit: int, truncated: str | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.truncated = truncated
