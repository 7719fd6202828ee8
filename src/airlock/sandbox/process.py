"""One running sandbox: the bwrap process, its resource group, and the conversation with its exec server.

What comes back from a sandbox is untrusted input: replies are checked against the protocol and against
the limits before anything is allocated for them, and any violation shuts the sandbox down. A sandbox
whose exec server stops answering (a command inside froze it with SIGSTOP, say) is detected and shut
down too, so the evaluation never hangs on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from airlock.sandbox import protocol
from airlock.sandbox.bwrap import (
    EXECD_PATH,
    HOST_UIDS,
    LAUNCH_ENVIRONMENT,
    PROTOCOL_PATH,
    SANDBOX_UID,
    SandboxSpec,
    check_support,
    find_bwrap,
    join_new_session_keyring,
    launcher_argv,
    memory_file,
    sandbox_argv,
    seccomp_file,
    server_command,
    system_tool,
)
from airlock.sandbox.config import SandboxLimits, SandboxUser
from airlock.sandbox.errors import SandboxError, SandboxUnavailableError, SandboxUnsupportedError
from airlock.sandbox.images import Image
from airlock.sandbox.resources import ResourceGroup, create_resource_group
from airlock.sandbox.users import UserRangeError, claim_block, user_range_namespace

logger = logging.getLogger(__name__)

START_TIMEOUT = 20.0
WATCH_INTERVAL = 1.0
"""How often a pending request checks that the exec server is still able to answer."""
FILE_TIMEOUT = 600.0
"""How long a read or write of a file may take before the sandbox is given up on."""
GRACE = 30.0
"""Time beyond a command's own timeout for the exec server to kill it and answer."""


@dataclass(frozen=True)
class Reply:
    header: dict[str, Any]
    payloads: list[bytes]


class SandboxProcess:
    """A sandbox that stays up for a whole sample and serves requests until :meth:`close`."""

    def __init__(
        self,
        name: str,
        user: SandboxUser,
        process: asyncio.subprocess.Process,
        group: ResourceGroup,
        inner_pid: int,
        channel: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        self.name = name
        self.user = user
        self.username = "root" if user == "root" else "sandbox"
        self.process = process
        self.group = group
        self.inner_pid = inner_pid
        """Host pid of the sandbox's first process: services join its network namespace."""
        self._reader, self._writer = channel
        self._pending: dict[int, asyncio.Future[Reply]] = {}
        self._abandoned: set[int] = set()
        """Requests whose caller stopped waiting (cancelled): their replies are expected and dropped."""
        self._reply_limits: dict[int, int] = {protocol.READY_ID: 0}
        """The most bytes each payload of the reply to each request (waiting or abandoned) may have."""
        self._ready: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._next_id = 1
        self._write_lock = asyncio.Lock()
        self._server_pid: int | None = None
        self._id_claim: int | None = None
        """The lock that holds this sandbox's block of host ids (:func:`.users.claim_block`), if it has one."""
        self._reading = asyncio.get_running_loop().create_task(self._read_replies())
        self.closed = False
        self.failure: str | None = None

    @classmethod
    async def start(
        cls,
        name: str,
        *,
        user: SandboxUser,
        limits: SandboxLimits,
        hosts: list[str],
        network_of: SandboxProcess | None = None,
        image: Image | None = None,
        host_entries: list[tuple[str, str]] | None = None,
        switch_users: bool = False,
    ) -> SandboxProcess:
        """Start a sandbox named ``name`` (its host name too), on ``image``'s root or the host's /usr; services pass
        the sandbox whose network they join. With ``switch_users`` (and Airlock as root), the sandbox maps a range of
        ids and keeps a container root's capabilities in its own user namespace (:mod:`.users`)."""
        bwrap = find_bwrap()
        began = time.perf_counter()
        group = create_resource_group(f"{name}-{uuid.uuid4().hex[:12]}", limits)
        ours, theirs = socket.socketpair()
        descriptors: list[int] = []
        try:
            package = resources.files("airlock.sandbox")
            server_files = {
                EXECD_PATH: memory_file("execd", package.joinpath("execd.py").read_bytes()),
                PROTOCOL_PATH: memory_file("protocol", package.joinpath("protocol.py").read_bytes()),
            }
            descriptors += server_files.values()
            accounts = None if image is None else image.rootfs / "etc"
            if image is not None and os.geteuid() == 0:
                image.check_reachable()
            root = None if image is None else os.open(image.rootfs, os.O_PATH | os.O_DIRECTORY)
            if root is not None:
                descriptors.append(root)
            etc = {
                name_: memory_file(name_, content)
                for name_, content in _etc_files(name, user, hosts, accounts, host_entries).items()
            }
            descriptors += etc.values()
            seccomp = seccomp_file()
            if seccomp is not None:
                descriptors.append(seccomp)
            info_read, info_write = os.pipe()
            descriptors.append(info_write)
            userns = claim = None
            host_uid = HOST_UIDS[0] + secrets.randbelow(HOST_UIDS[1] - HOST_UIDS[0])
            if switch_users and os.geteuid() == 0:
                try:
                    host_uid, claim = claim_block()
                    userns = await asyncio.to_thread(user_range_namespace, host_uid)
                except UserRangeError as error:
                    raise SandboxError(f"The sandbox {name!r} did not start: {error}") from error
                descriptors.append(userns)
            rlimits = {"RLIMIT_FSIZE": limits.file_size_mb << 20}
            if not group.limits_memory:
                rlimits["RLIMIT_AS"] = limits.memory_mb << 20
            spec = SandboxSpec(
                hostname=name,
                user=user,
                limits=limits,
                command=server_command(
                    theirs.fileno(),
                    rlimits,
                    on_image=image is not None,
                    become=None if userns is None or user == "root" else SANDBOX_UID,
                ),
                server_files=server_files,
                etc_fds=etc,
                seccomp_fd=seccomp,
                info_fd=info_write,
                share_network=network_of is not None,
                root_fd=root,
                userns_fd=userns,
            )
            arguments = sandbox_argv(bwrap, spec)
            split = arguments.index("--")
            # The policy goes to bwrap through a descriptor, not its command line, which every process in
            # the sandbox could read in /proc/1/cmdline. (The command itself must stay on the command line.)
            policy = memory_file("bwrap-args", b"".join(part.encode() + b"\0" for part in arguments[1:split]))
            descriptors.append(policy)
            argv = launcher_argv(
                [bwrap, "--args", str(policy), *arguments[split:]],
                attach=group.attach_files,
                network_of=None if network_of is None else network_of.inner_pid,
                host_uid=host_uid,
            )
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(*descriptors, theirs.fileno()),
                env=LAUNCH_ENVIRONMENT,
                cwd="/",
                preexec_fn=join_new_session_keyring,
            )
            theirs.close()
            os.close(info_write)
            descriptors.remove(info_write)
            try:
                inner_pid = await asyncio.wait_for(_read_child_pid(info_read), START_TIMEOUT)
                channel = await asyncio.open_unix_connection(sock=ours, limit=1 << 16)
                sandbox = cls(name, user, process, group, inner_pid, channel)
                await asyncio.wait_for(asyncio.shield(sandbox._ready), START_TIMEOUT)
            except (TimeoutError, EOFError, SandboxError, OSError) as error:
                await _stop(process)
                stderr = (await process.stderr.read()).decode(errors="replace").strip() if process.stderr else ""
                # Whether this machine can host a sandbox at all is asked only now, when one did not start (asking
                # before every start would cost a second sandbox): the check names the cause and what to do.
                try:
                    await asyncio.to_thread(check_support, bwrap)
                except SandboxUnsupportedError as unsupported:
                    raise unsupported from error
                raise SandboxError(
                    f"The sandbox {name!r} did not start: {stderr.splitlines()[-1] if stderr else error}."
                ) from error
            sandbox._server_pid = inner_pid  # the exec server is the sandbox's pid 1
            sandbox._id_claim, claim = claim, None  # its block of ids stays claimed until it has ended
            _shield_from_oom_killer(inner_pid)
            try:
                await _limit_ptys(inner_pid, limits.ptys)
            except BaseException:
                await sandbox.close()
                raise
            # bwrap has said all it will: stop reading its error stream, so nothing in the sandbox can use it.
            _close_stderr(process)
            logger.debug(
                "sandbox %r started in %.0f ms (pid %d, limits by %s)",
                name,
                (time.perf_counter() - began) * 1000,
                inner_pid,
                group.kind,
            )
            return sandbox
        except BaseException:
            ours.close()
            await asyncio.to_thread(group.destroy)
            raise
        finally:
            with contextlib.suppress(OSError):
                theirs.close()
            if claim is not None:
                os.close(claim)
            for descriptor in descriptors:
                with contextlib.suppress(OSError):
                    os.close(descriptor)

    async def request(
        self,
        header: Mapping[str, object],
        payload: bytes = b"",
        *,
        timeout: float | None = None,
        reply_limit: int = 0,
    ) -> Reply:
        """Send one request and wait for its reply; ``timeout`` bounds the wait (None: only the watchdog).
        A reply announcing a payload larger than ``reply_limit`` bytes breaks the protocol."""
        if self.closed:
            raise SandboxUnavailableError(self.failure or f"The sandbox {self.name!r} has been shut down.")
        request_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self._reply_limits[request_id] = reply_limit
        line = json.dumps({**header, "id": request_id, "size": len(payload)}, separators=(",", ":")).encode() + b"\n"
        try:
            async with self._write_lock:
                self._writer.write(line)
                if payload:
                    self._writer.write(payload)
                await self._writer.drain()
            return await self._wait(future, timeout)
        except (ConnectionError, RuntimeError) as error:
            raise SandboxUnavailableError(self.failure or f"The sandbox {self.name!r} is no longer running.") from error
        finally:
            self._pending.pop(request_id, None)
            if future.done():
                self._reply_limits.pop(request_id, None)
            else:
                self._abandoned.add(request_id)

    async def _wait(self, future: asyncio.Future[Reply], timeout: float | None) -> Reply:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            done, _ = await asyncio.wait({future}, timeout=WATCH_INTERVAL)
            if done:
                # A reply, or the failure the reader set when the sandbox was shut down.
                return future.result()
            if self.closed:
                raise SandboxUnavailableError(self.failure or f"The sandbox {self.name!r} has been shut down.")
            if self._server_frozen():
                await self._fail(
                    f"The exec server of sandbox {self.name!r} was stopped and could never answer; "
                    "the sandbox was shut down."
                )
            elif deadline is not None and loop.time() > deadline:
                await self._fail(f"The sandbox {self.name!r} stopped answering; it was shut down.")

    def _server_frozen(self) -> bool:
        """Whether the exec server is stopped or traced (state T or t), so it can never answer."""
        if self._server_pid is None:
            return False
        try:
            state = Path(f"/proc/{self._server_pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        return state in ("T", "t")

    async def _read_replies(self) -> None:
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    break
                header, sizes = _checked_header(line, self._reply_limits)
                payloads = [await self._reader.readexactly(size) if size else b"" for size in sizes]
                if header["id"] in self._abandoned:
                    self._abandoned.discard(header["id"])
                    self._reply_limits.pop(header["id"], None)
                future = self._ready if header["id"] == protocol.READY_ID else self._pending.get(header["id"])
                if future is not None and not future.done():
                    future.set_result(Reply(header, payloads))
        except (asyncio.IncompleteReadError, ValueError, ConnectionError) as error:
            if not self.closed:  # (a sandbox being shut down drops its end of the channel: nothing to report)
                # Anything off-protocol means the channel can no longer be trusted.
                self.failure = f"The sandbox {self.name!r} broke its protocol ({error}); it was shut down."
                asyncio.get_running_loop().create_task(self.close())
        finally:
            failure = SandboxUnavailableError(self.failure or f"The sandbox {self.name!r} stopped unexpectedly.")
            for future in [self._ready, *self._pending.values()]:
                if not future.done():
                    future.set_exception(failure)

    async def _fail(self, reason: str) -> None:
        logger.warning("%s", reason)
        self.failure = reason
        await self.close()

    async def close(self) -> None:
        """Stop the sandbox and everything in it; nothing of it outlives this call."""
        if self.closed:
            return
        self.closed = True
        logger.debug("sandbox %r shutting down%s", self.name, f": {self.failure}" if self.failure else "")
        # Kill the sandbox's pid 1 (the exec server) first: the kernel then kills everything in its pid namespace,
        # and bwrap, its parent, reaps it and exits, so no orphan is left for the host's init to reap (which, in a
        # container without one, would pile up as zombies).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.inner_pid, signal.SIGKILL)
        try:
            await asyncio.wait_for(self.process.wait(), 2)
        except TimeoutError:
            await _stop(self.process)
        self._writer.close()
        if self._reading is not asyncio.current_task():
            self._reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reading
        await asyncio.to_thread(self.group.destroy)
        if self._id_claim is not None:  # every process of the block's ids is gone with the pid namespace
            os.close(self._id_claim)
            self._id_claim = None


def _checked_header(line: bytes, limits: dict[int, int]) -> tuple[dict[str, Any], list[int]]:
    """The reply header in ``line`` and the payload sizes it announces, or ValueError if it breaks the protocol:
    ``limits`` holds, for each request a reply may answer, the most bytes each payload may have."""
    header = json.loads(line)
    if not isinstance(header, dict) or not isinstance(header.get("id"), int):
        raise ValueError("a reply without an id")
    limit = limits.get(header["id"])
    if limit is None:
        raise ValueError(f"a reply to request {header['id']}, which is not waiting")
    announced = (
        [header.get("stdout_size"), header.get("stderr_size")] if "stdout_size" in header else [header.get("size")]
    )
    sizes = [size for size in announced if isinstance(size, int) and 0 <= size <= limit]
    if len(sizes) != len(announced):
        raise ValueError(f"a reply announcing {announced} bytes, beyond the limit of {limit}")
    return header, sizes


async def _limit_ptys(pid: int, ptys: int) -> None:
    """As root, bound the sandbox's pseudo-terminals: bwrap mounts its /dev/pts with no ``max=``, so one sandbox could
    take the kernel's whole shared pool (``kernel.pty.max``) from every other sandbox and container. The remount, in
    the sandbox's own mount namespace, keeps bwrap's modes."""
    if os.geteuid() != 0:
        return
    # mount enters the namespace itself (--namespace) once it is loaded from the host: through nsenter it would be
    # looked up in the sandbox's root, which on an image may have no mount program.
    mount = await asyncio.create_subprocess_exec(
        system_tool("mount"),
        "--namespace",
        f"/proc/{pid}/ns/mnt",
        "-o",
        f"remount,mode=620,ptmxmode=666,max={ptys}",
        "/dev/pts",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=LAUNCH_ENVIRONMENT,
        cwd="/",
    )
    _, error = await mount.communicate()
    if mount.returncode != 0:
        raise SandboxError(
            f"The sandbox's pseudo-terminals could not be bounded: {error.decode(errors='replace').strip()}."
        )


def _shield_from_oom_killer(pid: int) -> None:
    """Exempt the exec server from the OOM killer, where this process may (root with CAP_SYS_RESOURCE); commands
    it starts are raised to the top of the list again. Without the privilege, commands are only raised above the
    server, and one that lowers its own score again can get the server killed: its own sandbox ends, and its
    attempt fails (docs/sandbox.md)."""
    if os.geteuid() != 0:
        return
    score = Path(f"/proc/{pid}/oom_score_adj")
    with contextlib.suppress(OSError):
        score.write_text("-1000")
    with contextlib.suppress(OSError):
        if score.read_text().strip() != "-1000":
            logger.debug("no privilege to exempt the exec server from the OOM killer (CAP_SYS_RESOURCE)")


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        await process.wait()


def _close_stderr(process: asyncio.subprocess.Process) -> None:
    transport = getattr(process, "_transport", None)
    pipe = transport.get_pipe_transport(2) if transport is not None else None
    if pipe is not None:
        pipe.close()


async def _read_child_pid(descriptor: int) -> int:
    """The host pid of the sandbox's first process, from bwrap's --info-fd JSON."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(descriptor, "rb")
    )
    try:
        data = b""
        while True:
            chunk = await reader.read(4096)
            if not chunk:
                raise EOFError("bwrap exited before it reported its sandbox")
            data += chunk
            with contextlib.suppress(ValueError):
                return int(json.loads(data)["child-pid"])
    finally:
        transport.close()


def _etc_files(
    hostname: str,
    user: SandboxUser,
    hosts: list[str],
    image_etc: Path | None,
    host_entries: list[tuple[str, str]] | None = None,
) -> dict[str, bytes]:
    """The sandbox's own /etc files: accounts for root and the sandbox user (on an image, added to the image's own
    accounts), the sample's hosts (on loopback, or at their addresses when hosts are separate), no name service."""
    names = " ".join(["localhost", hostname, *([] if host_entries is not None else hosts)])
    others = "".join(f"{address} {name}\n" for address, name in host_entries or [])
    passwd = (
        "root:x:0:0:root:/work:/bin/bash\n"
        f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:sandbox:/work:/bin/bash\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    )
    group = f"root:x:0:\nsandbox:x:{SANDBOX_UID}:\nnogroup:x:65534:\n"
    if image_etc is not None:
        passwd = _merged_accounts(image_etc / "passwd", passwd)
        group = _merged_accounts(image_etc / "group", group)
    return {
        "passwd": passwd.encode(),
        "group": group.encode(),
        "hosts": f"127.0.0.1 {names}\n::1 localhost ip6-localhost ip6-loopback\n{others}".encode(),
        "hostname": f"{hostname}\n".encode(),
        "nsswitch.conf": b"passwd: files\ngroup: files\nhosts: files\n",
        "resolv.conf": b"# no name service inside an Airlock sandbox\n",
    }


def _merged_accounts(image_file: Path, ours: str) -> str:
    """The image's account lines, with ours added for the ids it does not have (a service keeps its own user)."""
    try:
        theirs = image_file.read_text(errors="replace").splitlines()
    except OSError:
        return ours
    taken = {line.split(":")[2] for line in theirs if line.count(":") >= 3}
    added = [line for line in ours.splitlines() if line.split(":")[2] not in taken]
    return "\n".join([*theirs, *added]) + "\n"
