"""The exec protocol: what the provider and the exec server inside a sandbox say to each other.

One source for both ends. The exec server (:mod:`.execd`) runs inside the sandbox under the system Python with
nothing but the standard library, so this module is standard library only and must stay importable by Python
3.8: it is placed beside the server in the sandbox, and imported from the package on the host.

Wire format, both directions: one line of JSON (the header), then exactly ``size`` bytes of payload; an exec
reply is followed by ``stdout_size`` bytes of output, then ``stderr_size`` bytes. Every request carries an
``id`` that its reply repeats; the server's first message, unasked, has id :data:`READY_ID`.
"""

from __future__ import annotations

from typing import Literal, TypedDict, Union

READY_ID = 0
"""The id of the message the server sends once, unasked, when it is ready to serve."""

Operation = Literal["exec", "spawn", "read", "write", "probe", "ping"]


class Header(TypedDict):
    id: int
    size: int


class ExecRequest(Header):
    """Run a command to its end (or its timeout) and capture its output."""

    op: Literal["exec"]
    cmd: list[str]
    cwd: str
    env: dict[str, str]
    timeout: float | None
    has_input: bool
    """Whether the payload is the command's standard input (otherwise it reads /dev/null)."""
    limit: int
    """Bytes of each output stream to send back; the rest is counted, not kept."""
    rlimits: dict[str, int]
    """Resource limits for this command alone (``RLIMIT_*`` names)."""


class SpawnRequest(Header):
    """Start a long-running service in a session of its own, its output going to ``log``."""

    op: Literal["spawn"]
    cmd: list[str]
    cwd: str
    env: dict[str, str]
    log: str


class ReadRequest(Header):
    """Read a regular file (anything else, a FIFO or a device, is refused rather than waited on)."""

    op: Literal["read"]
    path: str
    limit: int
    """Files larger than this are refused (:data:`OUTPUT_LIMIT_EXCEEDED`) without being read."""
    force: bool
    """Whether a file of the server's own user that its mode makes unreadable is made readable first (a grader
    reading what a service left, whatever mode the attack gave it)."""


class WriteRequest(Header):
    """Write the payload to ``path``, making its parent directories."""

    op: Literal["write"]
    path: str


class ProbeRequest(Header):
    """Whether something accepts TCP connections on ``host:port`` (a service's readiness)."""

    op: Literal["probe"]
    host: str
    port: int
    timeout: float


class PingRequest(Header):
    op: Literal["ping"]


# Evaluated at run time, so in the spelling older Pythons understand (annotations above are strings).
Request = Union[ExecRequest, SpawnRequest, ReadRequest, WriteRequest, ProbeRequest, PingRequest]  # noqa: UP007


class Reply(Header):
    ok: bool


class ErrorReply(Reply):
    """A request that failed: the exception's class name, its errno and its message."""

    error: str
    errno: int | None
    message: str
    """The error's words (an OSError's ``strerror``, without the ``[Errno N]`` that the caller's exception adds)."""
    filename: str | None


class ExecReply(Reply):
    returncode: int
    """The exit status, or minus the signal that killed the command."""
    timed_out: bool
    stdout_size: int
    stderr_size: int
    stdout_total: int
    """How many bytes the command wrote on standard output in all (``stdout_size`` were kept)."""
    stderr_total: int


class ProbeReply(Reply):
    reachable: bool


class ProcessReply(Reply):
    """The answer to ``ping`` and ``spawn``, and the unasked ready message: who and where the process is."""

    pid: int
    uid: int


OUTPUT_LIMIT_EXCEEDED = "OutputLimitExceeded"
"""The ``error`` of a read refused because the file is larger than the request's limit."""
PROCESS_LIMIT = "ProcessLimit"
"""The ``error`` of an exec that could not start because the sandbox has no processes left."""
