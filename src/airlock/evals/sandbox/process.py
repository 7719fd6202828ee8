"""One running sandbox: the bwrap process, its resource group, and the conversation with its exec server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import uuid
from dataclasses import dataclass
from importlib import resources
from typing import Any

from airlock.evals.sandbox.bwrap import SANDBOX_UID, SandboxSpec, check_support, find_bwrap, launcher_argv, sandbox_argv
from airlock.evals.sandbox.config import SandboxLimits, SandboxUser
from airlock.evals.sandbox.errors import SandboxError
from airlock.evals.sandbox.resources import ResourceGroup, create_resource_group

START_TIMEOUT = 20.0


@dataclass(frozen=True)
class Reply:
    header: dict[str, Any]
    payloads: list[bytes]


class SandboxProcess:
    """A sandbox that stays up for a whole sample and serves requests until :meth:`close`."""

    def __init__(
        self, name: str, user: SandboxUser, process: asyncio.subprocess.Process, group: ResourceGroup, inner_pid: int
    ) -> None:
        self.name = name
        self.user = user
        self.username = "root" if user == "root" else "sandbox"
        self.process = process
        self.group = group
        self.inner_pid = inner_pid
        """Host pid of the first process inside the sandbox: services join its network namespace."""
        self._pending: dict[int, asyncio.Future[Reply]] = {}
        self._next_id = 1
        self._write_lock = asyncio.Lock()
        self._reader = asyncio.get_running_loop().create_task(self._read_replies())
        self.closed = False

    @classmethod
    async def start(
        cls,
        name: str,
        *,
        user: SandboxUser,
        limits: SandboxLimits,
        hosts: list[str],
        network_of: SandboxProcess | None = None,
    ) -> SandboxProcess:
        """Start a sandbox named ``name`` (its host name too); services pass the sandbox whose network they join."""
        bwrap = find_bwrap()
        check_support(bwrap)
        group = create_resource_group(f"{name}-{uuid.uuid4().hex[:12]}", limits)
        descriptors: list[int] = []
        try:
            execd = _memory_file("execd", resources.files("airlock.evals.sandbox").joinpath("execd.py").read_bytes())
            descriptors.append(execd)
            etc = {name_: _memory_file(name_, content) for name_, content in _etc_files(name, user, hosts).items()}
            descriptors += etc.values()
            info_read, info_write = os.pipe()
            descriptors += [info_read, info_write]
            rlimits = {"RLIMIT_FSIZE": limits.file_size_mb << 20}
            if not group.limits_memory:
                rlimits["RLIMIT_AS"] = limits.memory_mb << 20
            spec = SandboxSpec(
                hostname=name,
                user=user,
                limits=limits,
                execd_fd=execd,
                etc_fds=etc,
                info_fd=info_write,
                rlimits=rlimits,
                share_network=network_of is not None,
            )
            argv = launcher_argv(
                sandbox_argv(bwrap, spec),
                attach=group.attach_files,
                network_of=None if network_of is None else network_of.inner_pid,
            )
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=tuple(descriptors),
                limit=1 << 20,
            )
            os.close(info_write)
            descriptors.remove(info_write)
            descriptors.remove(info_read)  # the reader below owns it from here
            try:
                inner_pid = await asyncio.wait_for(_read_child_pid(info_read), START_TIMEOUT)
                sandbox = cls(name, user, process, group, inner_pid)
                await asyncio.wait_for(sandbox._ready, START_TIMEOUT)
            except (TimeoutError, EOFError, SandboxError) as error:
                await _stop(process)
                stderr = (await process.stderr.read()).decode(errors="replace").strip() if process.stderr else ""
                raise SandboxError(
                    f"The sandbox {name!r} did not start: {stderr.splitlines()[-1] if stderr else error}."
                ) from None
            return sandbox
        except BaseException:
            group.destroy()
            raise
        finally:
            for descriptor in descriptors:
                with contextlib.suppress(OSError):
                    os.close(descriptor)

    @property
    def _ready(self) -> asyncio.Future[Reply]:
        return self._pending.setdefault(0, asyncio.get_running_loop().create_future())

    async def request(self, header: dict[str, Any], payload: bytes = b"") -> Reply:
        """Send one request and wait for its reply."""
        if self.closed:
            raise SandboxError(f"The sandbox {self.name!r} has been shut down.")
        request_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        line = json.dumps({**header, "id": request_id, "size": len(payload)}, separators=(",", ":")).encode() + b"\n"
        stdin = self.process.stdin
        assert stdin is not None
        try:
            async with self._write_lock:
                stdin.write(line)
                if payload:
                    stdin.write(payload)
                await stdin.drain()
        except (ConnectionError, RuntimeError):
            self._pending.pop(request_id, None)
            raise SandboxError(f"The sandbox {self.name!r} is no longer running.") from None
        try:
            return await future
        finally:
            self._pending.pop(request_id, None)

    async def _read_replies(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            while True:
                line = await stdout.readline()
                if not line:
                    break
                header = json.loads(line)
                sizes = (
                    [header["stdout_size"], header["stderr_size"]]
                    if "stdout_size" in header
                    else [header.get("size", 0)]
                )
                payloads = [await stdout.readexactly(size) if size else b"" for size in sizes]
                future = self._pending.get(header["id"])
                if future is None and header["id"] == 0:
                    future = self._ready
                if future is not None and not future.done():
                    future.set_result(Reply(header, payloads))
        except (asyncio.IncompleteReadError, ValueError, ConnectionError):
            pass
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(SandboxError(f"The sandbox {self.name!r} stopped unexpectedly."))

    async def close(self) -> None:
        """Stop the sandbox and everything in it; nothing of it outlives this call."""
        if self.closed:
            return
        self.closed = True
        await _stop(self.process)
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await asyncio.to_thread(self.group.destroy)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        await process.wait()


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


def _memory_file(name: str, content: bytes) -> int:
    """An anonymous in-memory file holding ``content``, positioned at its start, to hand to bwrap."""
    descriptor = os.memfd_create(f"airlock-{name}", 0)
    os.write(descriptor, content)
    os.lseek(descriptor, 0, os.SEEK_SET)
    return descriptor


def _etc_files(hostname: str, user: SandboxUser, hosts: list[str]) -> dict[str, bytes]:
    """The synthetic /etc: accounts for root and the sandbox user only, the sample's hosts on loopback."""
    names = " ".join(["localhost", hostname, *hosts])
    return {
        "passwd": (
            "root:x:0:0:root:/work:/bin/bash\n"
            f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:sandbox:/work:/bin/bash\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        ).encode(),
        "group": f"root:x:0:\nsandbox:x:{SANDBOX_UID}:\nnogroup:x:65534:\n".encode(),
        "hosts": f"127.0.0.1 {names}\n::1 localhost ip6-localhost ip6-loopback\n".encode(),
        "hostname": f"{hostname}\n".encode(),
        "nsswitch.conf": b"passwd: files\ngroup: files\nhosts: files\n",
        "resolv.conf": b"# no name service inside an Airlock sandbox\n",
    }
