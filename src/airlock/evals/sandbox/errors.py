"""Why a sandbox could not be set up, in words a person can act on."""

from __future__ import annotations


class SandboxError(RuntimeError):
    """The bwrap sandbox cannot be set up here; the message names the cause and what to do."""


class SandboxConfigError(SandboxError):
    """The sandbox configuration is invalid."""


class SandboxUnsupportedError(SandboxError):
    """This machine lacks something the sandbox needs (a binary, a kernel feature, a privilege)."""


class ServiceNotReadyError(SandboxError):
    """A target service did not start accepting connections in time."""
