"""The exec server that runs inside every bwrap sandbox (standard library only, Python 3.8+).

The provider starts it as the sandbox's command (``python3 -I -S execd.py FD LIMITS``) and talks to it
over a socket inherited as descriptor ``FD``, so one long-lived sandbox serves every ``exec``,
``read_file`` and ``write_file`` of a sample without paying for a new sandbox each time. Everything it
does, it does as the sandbox's user, so file permissions inside the sandbox are what Inspect's contract
expects.

The socket is held by this server alone: bwrap's own init process (pid 1, which any command could reach
with ``pidfd_getfd``) has only /dev/null and a start-up error pipe, the server is non-dumpable (no
ptrace, no /proc/<pid>/fd), and commands do not inherit it. A command therefore cannot forge a reply.

Wire format, both directions: one line of JSON (the header), then exactly ``header["size"]`` bytes of
payload (and, in exec replies, ``stdout_size`` then ``stderr_size`` bytes). Requests carry an ``id``
that the reply repeats; requests are served concurrently, one thread each.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

Request = dict[str, Any]

_output_lock = threading.Lock()
_channel: socket.socket
CHUNK = 1 << 16


def reply(header: dict[str, Any], *payloads: bytes) -> None:
    data = json.dumps(header, separators=(",", ":")).encode() + b"\n"
    with _output_lock:
        _channel.sendall(data)
        for payload in payloads:
            _channel.sendall(payload)


def error_reply(request_id: int, error: BaseException) -> None:
    reply(
        {
            "id": request_id,
            "ok": False,
            "error": type(error).__name__,
            "errno": getattr(error, "errno", None),
            "message": str(error),
            "size": 0,
        }
    )


def _set_limits(rlimits: dict[str, int]) -> None:
    for name, value in rlimits.items():
        resource.setrlimit(getattr(resource, name), (value, value))


def _limits_setter(rlimits: dict[str, int]) -> Callable[[], None]:
    return lambda: _set_limits(rlimits)


class _Capture:
    """What a command wrote on one stream: the first ``keep`` bytes, and how many there were in all."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.chunks: list[bytes] = []
        self.kept = 0
        self.total = 0
        self.lock = threading.Lock()

    def drain(self, stream: Any) -> None:
        # os.read returns whatever is there: output is captured as it comes, even if a background child
        # keeps the stream open after the command ends.
        descriptor = stream.fileno()
        while True:
            chunk = os.read(descriptor, CHUNK)
            if not chunk:
                return
            with self.lock:
                if self.kept < self.keep:
                    piece = chunk[: self.keep - self.kept]
                    self.chunks.append(piece)
                    self.kept += len(piece)
                self.total += len(chunk)

    def snapshot(self) -> tuple[bytes, int]:
        with self.lock:
            return b"".join(self.chunks), self.total


def _feed(stream: Any, data: bytes) -> None:
    try:
        stream.write(data)
    except BrokenPipeError:
        pass
    finally:
        with contextlib.suppress(BrokenPipeError):
            stream.close()


def op_exec(request: Request, payload: bytes) -> None:
    limit = request["limit"]
    try:
        process = subprocess.Popen(
            request["cmd"],
            stdin=subprocess.PIPE if request.get("has_input") else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=request["cwd"],
            env=request["env"],
            start_new_session=True,
            # Limits common to every command were set on the server itself and are inherited; a per-command
            # limit costs a preexec function (and about a millisecond), so only when there is one.
            preexec_fn=_limits_setter(request["rlimits"]) if request.get("rlimits") else None,
        )
    except FileNotFoundError as error:
        # A missing program (or working directory) is an ordinary failed command, as a shell reports it.
        message = "sandbox: {}: {}\n".format(error.filename or request["cmd"][0], error.strerror)
        reply(
            {
                "id": request["id"],
                "ok": True,
                "returncode": 127,
                "timed_out": False,
                "stdout_size": 0,
                "stderr_size": len(message.encode()),
                "stdout_total": 0,
                "stderr_total": len(message.encode()),
                "size": 0,
            },
            message.encode(),
        )
        return
    out, err = _Capture(limit), _Capture(limit)
    readers = [
        threading.Thread(target=out.drain, args=(process.stdout,)),
        threading.Thread(target=err.drain, args=(process.stderr,)),
    ]
    if request.get("has_input"):
        readers.append(threading.Thread(target=_feed, args=(process.stdin, payload)))
    for reader in readers:
        reader.daemon = True
        reader.start()
    timed_out = False
    try:
        process.wait(timeout=request.get("timeout"))
    except subprocess.TimeoutExpired:
        timed_out = True
    if timed_out:
        # A command that timed out takes its whole process group with it, background children included.
        # One that finished leaves its background children running, as a shell would.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    # A background child may keep the output open; do not wait for it for more than a moment.
    deadline = time.monotonic() + 0.5
    for reader in readers:
        reader.join(max(0.0, deadline - time.monotonic()))
    stdout, stdout_total = out.snapshot()
    stderr, stderr_total = err.snapshot()
    reply(
        {
            "id": request["id"],
            "ok": True,
            "returncode": process.returncode,
            "timed_out": timed_out,
            "stdout_size": len(stdout),
            "stderr_size": len(stderr),
            "stdout_total": stdout_total,
            "stderr_total": stderr_total,
            "size": 0,
        },
        stdout,
        stderr,
    )


def op_spawn(request: Request, payload: bytes) -> None:
    """Start a long-running service in its own session; its output goes to ``log``."""
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    process = subprocess.Popen(
        request["cmd"],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        cwd=request["cwd"],
        env=request["env"],
        start_new_session=True,
    )
    os.close(log)
    reply({"id": request["id"], "ok": True, "pid": process.pid, "size": 0})


def op_read(request: Request, payload: bytes) -> None:
    path = request["path"]
    status = os.stat(path)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
    if status.st_size > request["limit"]:
        reply(
            {
                "id": request["id"],
                "ok": False,
                "error": "OutputLimitExceeded",
                "errno": None,
                "message": path,
                "size": 0,
            }
        )
        return
    with open(path, "rb") as stream:
        data = stream.read()
    reply({"id": request["id"], "ok": True, "size": len(data)}, data)


def op_write(request: Request, payload: bytes) -> None:
    path = request["path"]
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    with open(path, "wb") as stream:
        stream.write(payload)
    reply({"id": request["id"], "ok": True, "size": 0})


def op_probe(request: Request, payload: bytes) -> None:
    """Whether something accepts connections on ``host:port`` (a service's readiness)."""
    try:
        with socket.create_connection((request["host"], request["port"]), timeout=request.get("timeout", 1)):
            reachable = True
    except OSError:
        reachable = False
    reply({"id": request["id"], "ok": True, "reachable": reachable, "size": 0})


def op_ping(request: Request, payload: bytes) -> None:
    reply({"id": request["id"], "ok": True, "pid": os.getpid(), "uid": os.getuid(), "size": 0})


OPERATIONS = {
    "exec": op_exec,
    "spawn": op_spawn,
    "read": op_read,
    "write": op_write,
    "probe": op_probe,
    "ping": op_ping,
}


def serve(request: Request, payload: bytes) -> None:
    try:
        OPERATIONS[request["op"]](request, payload)
    except Exception as error:  # every failure goes back to the caller, who maps it to Inspect's errors
        error_reply(request["id"], error)


def read_exactly(stream: Any, size: int) -> bytes:
    chunks = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _protect_server() -> None:
    """Make the server non-dumpable: processes of the same user (everything the commands start) can then
    neither ptrace it nor open its file descriptors under /proc, so none can write a forged reply on its
    standard output or read another command's input."""
    import ctypes

    pr_set_dumpable = 4
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(pr_set_dumpable, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")


def main() -> None:
    global _channel
    _protect_server()
    _channel = socket.socket(fileno=int(sys.argv[1]))
    incoming = _channel.makefile("rb")
    os.umask(0o022)
    # Limits for every command (file size, no core dumps, memory where no cgroup limits it), inherited
    # from the server. A file growing past its limit then fails with EFBIG instead of killing the server.
    _set_limits({"RLIMIT_CORE": 0, **json.loads(sys.argv[2])})
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    reply({"id": 0, "ok": True, "ready": True, "pid": os.getpid(), "uid": os.getuid(), "size": 0})
    while True:
        line = incoming.readline()
        if not line:
            return
        request = json.loads(line)
        payload = read_exactly(incoming, request.get("size", 0))
        worker = threading.Thread(target=serve, args=(request, payload))
        worker.daemon = True
        worker.start()


if __name__ == "__main__":
    main()
