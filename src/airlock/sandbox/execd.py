"""The exec server that runs inside every bwrap sandbox (standard library only, Python 3.8+).

The provider starts it as the sandbox's command (``python3 -I -S execd.py FD LIMITS``) and talks to it over a
socket inherited as descriptor ``FD``, so one long-lived sandbox serves every ``exec``, ``read_file`` and
``write_file`` of a sample without paying for a new sandbox each time. Everything it does, it does as the
sandbox's user, so file permissions inside the sandbox are what Inspect's contract expects. The messages are
declared in :mod:`.protocol`, which sits beside this file in the sandbox.

The server is the sandbox's pid 1: processes inside cannot signal it (the kernel ignores their signals to a
namespace's init), it reaps the orphans that the kernel hands to it, and when it ends, the kernel ends everything
in the sandbox. The socket is held by this server alone: it is non-dumpable (no ptrace, no /proc/<pid>/fd) and
commands do not inherit the socket, so a command cannot forge a reply. Requests are served concurrently, one
thread each.

What every command gets from the server:

* the limits common to all commands (file size, no core dumps, address space where no cgroup limits memory),
  inherited from the server itself;
* ``SIGXFSZ`` ignored, so a write past the file-size limit fails with "File too large" instead of killing the
  writer, and ``SIGPIPE`` at its default, so pipelines end as in any shell;
* an OOM score of 1000: when the sandbox runs out of memory the kernel kills a command, not this server;
* with a timeout: the command's first process becomes a child subreaper, so everything it starts stays in its
  process tree (a ``setsid`` daemon and a double fork included), and the whole tree is killed at the timeout. A
  command that finishes in time leaves its background processes running, as a shell would.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import resource
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

try:  # on the host, as part of the package
    from airlock.sandbox import protocol
except ImportError:  # inside the sandbox, beside this file: run from its path, never found by a search of sys.path,
    # which would let a command's file in a writable directory stand in for a module the server imports.
    import types

    protocol = types.ModuleType("protocol")
    _path = os.path.join(os.path.dirname(__file__), "protocol.py")
    with open(_path) as _source:
        exec(compile(_source.read(), _path, "exec"), protocol.__dict__)  # noqa: S102 (our own file, read-only)

_output_lock = threading.Lock()
_channel: socket.socket
_libc = ctypes.CDLL(None, use_errno=True)
CHUNK = 1 << 16
T = TypeVar("T")
"""What :func:`_start_with_room` starts (a process or a thread)."""

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
KILL_ROUNDS = 1000
"""Rounds of killing a timed-out command's process tree; each kills every process found (forks included)."""
EMPTY_PASSES_TO_STOP = 3
"""Passes in a row that find no process left in the tree before the kill stops (a fork may land between passes)."""
REAP_INTERVAL = 0.25
"""How often orphans that ended are reaped (each zombie holds one of the sandbox's processes until then)."""
ROOM_WAIT = 1.0
"""How long a process or thread that cannot start for want of processes is retried, while ended orphans are reaped."""

_spawning = threading.Lock()
_own_children: dict[int, int] = {}
"""Children started here, which their Popen objects reap (pid -> how many Popen objects hold it)."""


def reply(header: dict[str, Any], *payloads: bytes) -> None:
    data = json.dumps(header, separators=(",", ":")).encode() + b"\n"
    with _output_lock:
        # MSG_NOSIGNAL: SIGPIPE is at its default here (commands inherit it), so a closed channel must not kill.
        _channel.sendall(data, socket.MSG_NOSIGNAL)
        for payload in payloads:
            _channel.sendall(payload, socket.MSG_NOSIGNAL)


def _out_of_processes(error: BaseException) -> bool:
    """Whether ``error`` is a fork or a thread refused at the sandbox's process limit."""
    return isinstance(error, BlockingIOError) or (isinstance(error, RuntimeError) and "new thread" in str(error))


def _start_with_room(start: Callable[[], T]) -> T:
    """``start()`` (a process or a thread), retried for a moment if it fails for want of processes. The zombies of
    a command just killed (a fork storm at its timeout) hold the sandbox's processes until they are reaped, which the
    reaper does only every :data:`REAP_INTERVAL`: the next command must not be refused for them. A sandbox that is
    really full (a storm still running) is refused after :data:`ROOM_WAIT`."""
    deadline = time.monotonic() + ROOM_WAIT
    while True:
        try:
            return start()
        except (BlockingIOError, RuntimeError) as error:
            if not _out_of_processes(error) or time.monotonic() >= deadline:
                raise
        _reap_ended_orphans()
        time.sleep(0.01)


def error_reply(request_id: int, error: BaseException) -> None:
    name = type(error).__name__
    if _out_of_processes(error):
        name = protocol.PROCESS_LIMIT
    failed: protocol.ErrorReply = {
        "id": request_id,
        "ok": False,
        "error": name,
        "errno": getattr(error, "errno", None),
        # An OSError's words without its "[Errno N]" prefix, which the caller's own exception adds again.
        "message": getattr(error, "strerror", None) or str(error),
        "filename": getattr(error, "filename", None),
        "size": 0,
    }
    reply(dict(failed))


def _set_limits(rlimits: dict[str, int]) -> None:
    for name, value in rlimits.items():
        resource.setrlimit(getattr(resource, name), (value, value))


def _command_setup(rlimits: dict[str, int], subreaper: bool) -> Callable[[], None] | None:
    """What runs in a command's process before it executes: per-command limits, subreaping, and (since the function
    runs anyway) the OOM score, before the command can fork. Each costs a preexec function (about a millisecond), so
    only when asked for; otherwise the score is set just after the start (:func:`_prefer_for_oom_kill`)."""
    if not rlimits and not subreaper:
        return None

    def setup() -> None:
        _set_limits(rlimits)
        if subreaper:
            _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        _prefer_for_oom_kill(os.getpid())

    return setup


def _spawn(command: list[str], **options: Any) -> subprocess.Popen[bytes]:
    """Popen, noted as a child of our own, so that the orphan reaper leaves it to its Popen."""

    def start() -> subprocess.Popen[bytes]:
        with _spawning:
            process = subprocess.Popen(command, **options)
            _own_children[process.pid] = _own_children.get(process.pid, 0) + 1
        return process

    return _start_with_room(start)


def _forget(process: subprocess.Popen[bytes]) -> None:
    """After ``process`` was reaped by its Popen."""
    with _spawning:
        left = _own_children.pop(process.pid, 1) - 1
        if left > 0:
            _own_children[process.pid] = left


def _reap_orphans() -> None:
    """As pid 1, the server inherits every orphan in the sandbox; reap those that ended, for ever."""
    while True:
        time.sleep(REAP_INTERVAL)
        _reap_ended_orphans()


def _reap_ended_orphans() -> None:
    with _spawning:
        for pid in _children(os.getpid()):
            if pid not in _own_children and _is_zombie(pid):
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)


def _children(pid: int) -> list[int]:
    """The children of ``pid`` (of every thread of it)."""
    children: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as stream:
                children += [int(child) for child in stream.read().split()]
    except OSError:
        pass
    return children


def _prefer_for_oom_kill(pid: int) -> None:
    """Make the kernel's OOM killer take this process (and what it forks later) before the server. (Where the
    provider runs as root it also makes the server itself unkillable by the OOM killer: a command that lowers its own
    score then stalls itself, until its timeout, rather than costing the sandbox its server.)"""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/oom_score_adj", "w") as stream:
        stream.write("1000")


def _descendants(root: int) -> list[int]:
    """Every living process below ``root`` in the process tree. Read from each process's own parent in
    ``/proc/PID/stat``, not from the ``children`` files: the kernel says those are reliable only while the children
    are stopped, and a fork storm is exactly when they are not (a tree walked through them missed live processes)."""
    parent_of: dict[int, int] = {}
    living: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stream:
                fields = stream.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(entry)
        parent_of[pid] = int(fields[1])
        if fields[0] != "Z":
            living.add(pid)
    below: set[int] = {root}
    found: list[int] = []
    changed = True
    while changed:
        changed = False
        for pid, parent in parent_of.items():
            if parent in below and pid not in below:
                below.add(pid)
                changed = True
                if pid in living:
                    found.append(pid)
    return found


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stream:
            return stream.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _kill_tree(root: int) -> None:
    """Kill ``root`` and every process below it. Descendants go first: while ``root`` (a subreaper) lives, an
    orphan is reparented to it and stays in its tree; once all are gone, ``root`` follows."""
    # A process forking at the moment of a pass can leave a child that pass did not see: stop only after a few
    # passes in a row found nothing, since once ``root`` dies an orphan is no longer in its tree.
    empty_passes = 0
    for _ in range(KILL_ROUNDS):
        living = _descendants(root)
        if not living:
            empty_passes += 1
            if empty_passes == EMPTY_PASSES_TO_STOP:
                break
            time.sleep(0.001)
            continue
        empty_passes = 0
        for pid in living:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(root, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(root, signal.SIGKILL)


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
    # A command that stops reading its input must not take the server down with SIGPIPE: blocked in this thread,
    # the signal stays pending here (and is dropped with the thread) while the write fails with EPIPE.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPIPE})
    try:
        stream.write(data)
    except BrokenPipeError:
        pass
    finally:
        with contextlib.suppress(BrokenPipeError):
            stream.close()


def _missing_program(request: protocol.ExecRequest, error: FileNotFoundError) -> None:
    """A missing program (or working directory) is an ordinary failed command, as a shell reports it."""
    message = "sandbox: {}: {}\n".format(error.filename or request["cmd"][0], error.strerror).encode()
    answer: protocol.ExecReply = {
        "id": request["id"],
        "ok": True,
        "returncode": 127,
        "timed_out": False,
        "stdout_size": 0,
        "stderr_size": len(message),
        "stdout_total": 0,
        "stderr_total": len(message),
        "size": 0,
    }
    reply(dict(answer), message)


def op_exec(request: protocol.ExecRequest, payload: bytes) -> None:
    timeout = request["timeout"]
    try:
        process = _spawn(
            request["cmd"],
            stdin=subprocess.PIPE if request["has_input"] else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=request["cwd"],
            env=request["env"],
            start_new_session=True,
            # The server's own signal dispositions (see the module's docstring) are what commands should get.
            restore_signals=False,
            preexec_fn=_command_setup(request["rlimits"], subreaper=timeout is not None),
        )
    except FileNotFoundError as error:
        _missing_program(request, error)
        return
    _prefer_for_oom_kill(process.pid)
    out, err = _Capture(request["limit"]), _Capture(request["limit"])
    readers = [
        threading.Thread(target=out.drain, args=(process.stdout,)),
        threading.Thread(target=err.drain, args=(process.stderr,)),
    ]
    if request["has_input"]:
        readers.append(threading.Thread(target=_feed, args=(process.stdin, payload)))
    try:
        for reader in readers:
            reader.daemon = True
            _start_with_room(reader.start)
    except RuntimeError:
        # No thread to read its output (the sandbox's process limit reached, by this command's own fork storm
        # most likely): the command is running, and the error goes back as a failed exec, so nothing may be left
        # of it. With a timeout its tree is known (it is a subreaper); without one its session is.
        if timeout is not None:
            _kill_tree(process.pid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        _forget(process)
        _reap_ended_orphans()
        raise
    timed_out = False
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_tree(process.pid)
    process.wait()
    _forget(process)
    if timed_out:
        # What it left are zombies now ours (its tree was killed before it): reap them before answering, or the
        # next command finds the sandbox's processes taken by them and cannot fork.
        _reap_ended_orphans()
    # A background child may keep the output open; do not wait for it for more than a moment.
    deadline = time.monotonic() + 0.5
    for reader in readers:
        reader.join(max(0.0, deadline - time.monotonic()))
    stdout, stdout_total = out.snapshot()
    stderr, stderr_total = err.snapshot()
    answer: protocol.ExecReply = {
        "id": request["id"],
        "ok": True,
        "returncode": process.returncode,
        "timed_out": timed_out,
        "stdout_size": len(stdout),
        "stderr_size": len(stderr),
        "stdout_total": stdout_total,
        "stderr_total": stderr_total,
        "size": 0,
    }
    reply(dict(answer), stdout, stderr)


def op_spawn(request: protocol.SpawnRequest, payload: bytes) -> None:
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        # A service runs until the sandbox ends: it is the reaper's to reap, not a Popen's.
        process = subprocess.Popen(
            request["cmd"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=request["cwd"],
            env=request["env"],
            start_new_session=True,
            restore_signals=False,
        )
    finally:
        os.close(log)
    _prefer_for_oom_kill(process.pid)
    answer: protocol.ProcessReply = {"id": request["id"], "ok": True, "pid": process.pid, "uid": os.getuid(), "size": 0}
    reply(dict(answer))


def op_read(request: protocol.ReadRequest, payload: bytes) -> None:
    path = request["path"]
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer that never comes.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except PermissionError:
        if not request["force"] or os.stat(path).st_uid != os.getuid():
            raise
        os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) | stat.S_IRUSR)
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as stream:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise OSError(errno.EINVAL, "Not a regular file (a FIFO, socket or device is not read)", path)
        if status.st_size > request["limit"]:
            refused: protocol.ErrorReply = {
                "id": request["id"],
                "ok": False,
                "error": protocol.OUTPUT_LIMIT_EXCEEDED,
                "errno": None,
                "message": path,
                "filename": path,
                "size": 0,
            }
            reply(dict(refused))
            return
        data = stream.read(request["limit"] + 1)
    if len(data) > request["limit"]:  # it grew after the stat
        raise OSError(errno.EFBIG, "The file grew past the read limit while it was read", path)
    answer: protocol.Reply = {"id": request["id"], "ok": True, "size": len(data)}
    reply(dict(answer), data)


def op_write(request: protocol.WriteRequest, payload: bytes) -> None:
    path = request["path"]
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    # What is asked for is a file with this content: whatever is in the way and is not a regular file (a FIFO that
    # would block the writer, a socket, a device) is replaced, and the new file is made here (O_EXCL), never opened
    # through something a command put back meanwhile.
    for _ in range(3):
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISREG(os.stat(path).st_mode):
                os.unlink(path)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CREAT | os.O_NONBLOCK, 0o666)
        except OSError as error:
            if error.errno != errno.ENXIO:  # (a FIFO put back between the unlink and the open)
                raise
            continue
        if stat.S_ISREG(os.fstat(descriptor).st_mode):
            break
        os.close(descriptor)
    else:
        raise OSError(errno.EBUSY, "Something kept replacing the file with a FIFO or device", path)
    with os.fdopen(descriptor, "wb") as stream:
        os.set_blocking(descriptor, True)
        stream.write(payload)
    answer: protocol.Reply = {"id": request["id"], "ok": True, "size": 0}
    reply(dict(answer))


def op_probe(request: protocol.ProbeRequest, payload: bytes) -> None:
    try:
        with socket.create_connection((request["host"], request["port"]), timeout=request["timeout"]):
            reachable = True
    except OSError:
        reachable = False
    answer: protocol.ProbeReply = {"id": request["id"], "ok": True, "reachable": reachable, "size": 0}
    reply(dict(answer))


def op_ping(request: protocol.PingRequest, payload: bytes) -> None:
    answer: protocol.ProcessReply = {"id": request["id"], "ok": True, "pid": os.getpid(), "uid": os.getuid(), "size": 0}
    reply(dict(answer))


OPERATIONS: dict[str, Callable[[Any, bytes], None]] = {
    "exec": op_exec,
    "spawn": op_spawn,
    "read": op_read,
    "write": op_write,
    "probe": op_probe,
    "ping": op_ping,
}


def serve(request: dict[str, Any], payload: bytes) -> None:
    try:
        OPERATIONS[request["op"]](request, payload)
    except Exception as error:  # every failure goes back to the caller, who maps it to its own errors
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
    channel or read another command's input."""
    if _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")


def main() -> None:
    global _channel
    if len(sys.argv) > 3:
        # A service that may switch users starts as its namespace's root; one whose compose file names another user
        # becomes it first. Leaving root this way clears every capability, as a container's non-root user has none.
        become = int(sys.argv[3])
        # What bwrap made as the namespace's root becomes the user's, as a one-user sandbox has it: the writable
        # places, and the server's own directories (it imports from them as it goes).
        for made in ("/work", "/run", "/run/airlock", "/run/airlock/host"):
            if os.path.isdir(made):
                os.chown(made, become, become)
        os.setgroups([])
        os.setresgid(become, become, become)
        os.setresuid(become, become, become)
    _protect_server()
    _channel = socket.socket(fileno=int(sys.argv[1]))
    incoming = _channel.makefile("rb")
    os.umask(0o022)
    # Limits for every command (file size, no core dumps, memory where no cgroup limits it), inherited from the
    # server, and the signal dispositions commands inherit (see the module's docstring).
    _set_limits({"RLIMIT_CORE": 0, **json.loads(sys.argv[2])})
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    # Python handles SIGINT, and the kernel delivers to a namespace's init only the signals it handles: at its default
    # the server cannot be interrupted from inside (and commands get the default too).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    ready: protocol.ProcessReply = {
        "id": protocol.READY_ID,
        "ok": True,
        "pid": os.getpid(),
        "uid": os.getuid(),
        "size": 0,
    }
    reply(dict(ready))
    threading.Thread(target=_reap_orphans, daemon=True).start()
    while True:
        line = incoming.readline()
        if not line:
            return
        request = json.loads(line)
        payload = read_exactly(incoming, request.get("size", 0))
        worker = threading.Thread(target=serve, args=(request, payload))
        worker.daemon = True
        try:
            _start_with_room(worker.start)
        except RuntimeError as error:  # no thread left: the sandbox's process limit is reached
            error_reply(request["id"], error)


if __name__ == "__main__":
    main()
