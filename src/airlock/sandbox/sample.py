"""A sample's sandboxes, usable without Inspect: ``default`` for the agent and one per target service.

Each sample gets its own sandboxes, all on the sample's private network namespace (loopback only,
unreachable from the host and from other samples). Each sandbox stays up for the whole sample, with an exec
server inside (:mod:`.execd`), so a command costs a request, not a new sandbox. See :mod:`.bwrap` for what
isolates it. The Inspect provider (:mod:`.provider`) is a thin layer over this module; code that needs a
sandbox but not Inspect (``airlock sandbox exec``, building and judging challenges) uses it directly, and
does not pay for importing Inspect.

Example::

    async with sample_sandboxes(BwrapConfig()) as sandboxes:
        result = await sandboxes["default"].exec(["sh", "-c", "id"], timeout=10)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal, overload

from airlock.sandbox.bwrap import SYSTEM_PATH, WORKDIR
from airlock.sandbox.config import BwrapConfig, SandboxLimits, ServiceConfig
from airlock.sandbox.errors import (
    OutputLimitError,
    SandboxConfigError,
    SandboxError,
    SandboxExhaustedError,
    ServiceNotReadyError,
)
from airlock.sandbox.images import Image, ImageStore
from airlock.sandbox.network import AGENT, Switch, Topology, wire
from airlock.sandbox.process import FILE_TIMEOUT, GRACE, SandboxProcess
from airlock.sandbox.protocol import (
    OUTPUT_LIMIT_EXCEEDED,
    PROCESS_LIMIT,
    ExecRequest,
    ProbeRequest,
    ReadRequest,
    SpawnRequest,
    WriteRequest,
)

logger = logging.getLogger(__name__)

SERVICE_LOG = "/run/service.log"
"""Where a service's output goes, inside its own sandbox."""

_OS_ERRORS: dict[str, type[OSError]] = {
    "OSError": OSError,
    "FileNotFoundError": FileNotFoundError,
    "PermissionError": PermissionError,
    "IsADirectoryError": IsADirectoryError,
    "NotADirectoryError": NotADirectoryError,
    "FileExistsError": FileExistsError,
}


@dataclass(frozen=True)
class ReplyLimits:
    """The most a sandbox sends back: per output stream of a command, and per file read (Inspect's defaults).
    Output beyond the first is counted, not sent; a reply announcing more than asked for breaks the protocol."""

    exec_output: int = 10 << 20
    read_file: int = 100 << 20


@dataclass(frozen=True)
class CommandResult:
    """How a command ended: its exit status (128 + N when signal N killed it, as a shell reports it) and output."""

    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False
    """The command was killed at its timeout (only when :meth:`Sandbox.exec` was asked not to raise)."""

    @property
    def success(self) -> bool:
        return self.returncode == 0


class Sandbox:
    """One running sandbox: run commands in it, read and write its files."""

    def __init__(
        self,
        process: SandboxProcess,
        limits: SandboxLimits,
        image: Image | None = None,
        *,
        switch: Switch | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.process = process
        self.limits = limits
        self.image = image
        self.env = env or {}
        """What every command here gets in its environment (a compose service's ``environment``, say)."""
        self.switch = switch
        """The sample's network switch (separate hosts), which the agent's sandbox takes down with it."""
        self.reply_limits = ReplyLimits()

    @property
    def name(self) -> str:
        return self.process.name

    @property
    def username(self) -> str:
        """Who commands run as: ``sandbox``, or ``root`` (inside the sandbox only) when the sample asked for it."""
        return self.process.username

    async def exec(
        self,
        cmd: list[str],
        input: str | bytes | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
        output_limit: int | None = None,
        raise_on_timeout: bool = True,
    ) -> CommandResult:
        """Run ``cmd`` to its end. A command still running at ``timeout`` seconds is killed with every process it
        started, and :class:`TimeoutError` raised (or, with ``raise_on_timeout=False``, the output it wrote until
        then returned, ``timed_out`` set: a grader judges what happened before the hang); output beyond
        ``output_limit`` bytes per stream (default: :attr:`reply_limits`) raises :class:`OutputLimitError`."""
        payload = input.encode() if isinstance(input, str) else (input or b"")
        limit = self.reply_limits.exec_output if output_limit is None else output_limit
        request: ExecRequest = {
            "op": "exec",
            "id": 0,
            "size": 0,
            "cmd": cmd,
            "cwd": resolve(cwd or WORKDIR),
            "env": self.environment(env),
            "timeout": timeout,
            "has_input": input is not None,
            "limit": limit,
            "rlimits": {} if self.limits.cpu_seconds is None else {"RLIMIT_CPU": self.limits.cpu_seconds},
        }
        oom_kills_before = self.process.group.oom_kills()
        reply = await self.process.request(
            request, payload, timeout=None if timeout is None else timeout + GRACE, reply_limit=limit
        )
        header = reply.header
        if not header["ok"]:
            raise self._error(header)
        if header["timed_out"] and raise_on_timeout:
            raise TimeoutError(f"Command timed out after {timeout:g} seconds: {shlex.join(cmd)[:200]}")
        stdout = reply.payloads[0].decode(errors="replace")
        stderr = reply.payloads[1].decode(errors="replace")
        if header["stdout_total"] > limit or header["stderr_total"] > limit:
            raise OutputLimitError(
                f"The command's output exceeded the limit of {limit} bytes: {shlex.join(cmd)[:200]}",
                limit=limit,
                truncated=stdout,
            )
        returncode = header["returncode"]
        if returncode < 0:
            # Killed by a signal: report it the way a shell does (SIGKILL gives 137).
            returncode = 128 - returncode
        if returncode == 137 and self._killed_for_memory(oom_kills_before):
            # The command, or a process it waited for (a shell reports that as 137 too), met the memory limit.
            stderr += (
                f"\nsandbox: a process was killed because the sandbox ran out of memory "
                f"(its limit is {self.limits.memory_mb} MB, files in /work and /tmp included).\n"
            )
        return CommandResult(returncode, stdout, stderr, timed_out=bool(header["timed_out"]))

    def _killed_for_memory(self, before: int | None) -> bool:
        after = self.process.group.oom_kills()
        return before is not None and after is not None and after > before

    @overload
    async def read_file(
        self, file: str, text: Literal[True] = True, *, limit: int | None = None, force: bool = False
    ) -> str: ...

    @overload
    async def read_file(
        self, file: str, text: Literal[False], *, limit: int | None = None, force: bool = False
    ) -> bytes: ...

    async def read_file(
        self, file: str, text: bool = True, *, limit: int | None = None, force: bool = False
    ) -> str | bytes:
        """The file's content; a missing file raises FileNotFoundError (and so on, as ``open`` would), a FIFO or
        device OSError (never a wait), a file larger than ``limit`` bytes (default: :attr:`reply_limits`)
        :class:`OutputLimitError`. With ``force``, a file of the sandbox's user that its mode makes unreadable is
        made readable first."""
        limit = self.reply_limits.read_file if limit is None else limit
        request: ReadRequest = {
            "op": "read",
            "id": 0,
            "size": 0,
            "path": resolve(file),
            "limit": limit,
            "force": force,
        }
        reply = await self.process.request(request, timeout=FILE_TIMEOUT, reply_limit=limit)
        if not reply.header["ok"]:
            if reply.header["error"] == OUTPUT_LIMIT_EXCEEDED:
                raise OutputLimitError(f"{file} is larger than the read limit of {limit} bytes.", limit=limit)
            raise self._error(reply.header)
        data = reply.payloads[0]
        return data.decode("utf-8") if text else data

    async def write_file(self, file: str, contents: str | bytes) -> None:
        """Write ``contents`` to ``file`` (relative paths are under /work), making its directories."""
        data = contents.encode() if isinstance(contents, str) else contents
        request: WriteRequest = {"op": "write", "id": 0, "size": 0, "path": resolve(file)}
        reply = await self.process.request(request, data, timeout=FILE_TIMEOUT)
        if not reply.header["ok"]:
            raise self._error(reply.header)

    async def close(self) -> None:
        await self.process.close()
        if self.switch is not None:
            await self.switch.stop()

    def environment(self, extra: dict[str, str] | None) -> dict[str, str]:
        """The environment commands get: the sandbox's own, never the caller's, plus ``extra``."""
        base = {
            "PATH": SYSTEM_PATH,
            "HOME": WORKDIR,
            "LANG": "C.UTF-8",
            "TERM": "dumb",
            "USER": self.username,
            "LOGNAME": self.username,
        }
        image = {} if self.image is None else self.image.config.env
        return {**base, **image, **self.env, **(extra or {})}

    def _error(self, header: dict[str, object]) -> Exception:
        """The exception for a failure the exec server reported: OSError subclasses as ``open`` raises them."""
        kind = _OS_ERRORS.get(str(header["error"]))
        errno = header.get("errno")
        if kind is not None:
            filename = header.get("filename")
            if isinstance(filename, str):
                return kind(errno if isinstance(errno, int) else 0, str(header["message"]), filename)
            return kind(errno if isinstance(errno, int) else 0, str(header["message"]))
        if header["error"] == PROCESS_LIMIT:
            return SandboxExhaustedError(
                f"The sandbox {self.name!r} has run out of processes (its limit is {self.limits.pids}): "
                "something in it is forking without end."
            )
        return SandboxError(f"The sandbox {self.name!r} failed: {header['error']}: {header['message']}")


def resolve(path: str) -> str:
    """A path in the sandbox: relative ones are under the work directory."""
    return path if path.startswith("/") else f"{WORKDIR}/{path}"


async def start_sample(name: str, config: BwrapConfig) -> dict[str, Sandbox]:
    """Start a sample's sandboxes: ``default`` and one per service, returned once every service with a port
    accepts connections. On any failure everything started is stopped before the error is raised."""
    names = [service.name for service in config.services]
    wanted = [config.image, *(service.image for service in config.services)]
    store = ImageStore(config.images()) if any(wanted) else None
    images = {reference: store.resolve(reference) for reference in wanted if reference and store is not None}
    separate = config.network == "hosts"
    topology = (
        Topology.of({AGENT: config.networks, **{service.name: service.networks for service in config.services}})
        if separate
        else None
    )
    started: list[Sandbox] = []
    try:
        switch = await Switch.start() if separate else None
        agent = Sandbox(
            await SandboxProcess.start(
                "default",
                user=config.user,
                limits=config.limits,
                hosts=names,
                image=images.get(config.image or ""),
                host_entries=None if topology is None else topology.hosts_file(AGENT),
            ),
            config.limits,
            images.get(config.image or ""),
            switch=switch,
            env=config.env,
        )
        started.append(agent)
        services: dict[str, Sandbox] = {}
        for service in config.services:
            image = images.get(service.image or "")
            process = await SandboxProcess.start(
                service.name,
                user=service.user,
                limits=service.limits,
                hosts=names,
                network_of=None if separate else agent.process,
                image=image,
                host_entries=None if topology is None else topology.hosts_file(service.name),
                switch_users=service.switch_users,
            )
            services[service.name] = Sandbox(process, service.limits, image)
            started.append(services[service.name])
        if topology is not None and switch is not None:
            pids = {AGENT: agent.process.inner_pid, **{n: box.process.inner_pid for n, box in services.items()}}
            await wire(topology, pids, switch)
        for service in config.services:
            await _spawn_service(service, services[service.name])
        for service in config.services:
            if service.port is not None:
                # On one shared loopback the agent's side is asked; between hosts, the service's own address.
                asker = agent if topology is None else services[service.name]
                host = "127.0.0.1" if topology is None else topology.first_address(service.name)
                await _wait_until_ready(service, asker, services[service.name], host)
            if service.healthcheck is not None:
                await _wait_until_healthy(service, services[service.name])
        logger.debug("sample %s: %d sandboxes up", name, len(started))
        return {"default": agent, **services}
    except BaseException:
        await stop_sample(started)
        raise


async def stop_sample(sandboxes: Iterable[Sandbox]) -> None:
    """Stop the sandboxes and everything in them; nothing of them outlives this call."""
    await asyncio.gather(*(sandbox.close() for sandbox in sandboxes), return_exceptions=True)


@asynccontextmanager
async def sample_sandboxes(
    config: BwrapConfig | None = None, *, name: str = "airlock"
) -> AsyncIterator[dict[str, Sandbox]]:
    """A sample's sandboxes for the length of an ``async with`` block."""
    sandboxes = await start_sample(name, config or BwrapConfig())
    try:
        yield sandboxes
    finally:
        await stop_sample(sandboxes.values())


def service_command(service: ServiceConfig, image: Image | None) -> list[str]:
    """What a service runs, by Docker's rules: a given entrypoint replaces the image's entrypoint and command; a
    given command replaces only the image's command."""
    if service.entrypoint is not None:
        return [*service.entrypoint, *(service.command or [])]
    entrypoint = image.config.entrypoint if image is not None else []
    return [*entrypoint, *(service.command or (image.config.cmd if image is not None else []))]


async def _spawn_service(service: ServiceConfig, sandbox: Sandbox) -> None:
    """Put the service's files in place and start its command (the image's, where it names none)."""
    image = sandbox.image
    command = service_command(service, image)
    if not command:
        raise SandboxConfigError(f"The service {service.name!r} has no command, and its image names none.")
    for path, content in service.files.items():
        await sandbox.write_file(path, content)
    request: SpawnRequest = {
        "op": "spawn",
        "id": 0,
        "size": 0,
        "cmd": command,
        "cwd": service.working_dir or (image.config.working_dir if image else "") or WORKDIR,
        "env": sandbox.environment(service.env),
        "log": SERVICE_LOG,
    }
    reply = await sandbox.process.request(request, timeout=30)
    if not reply.header["ok"]:
        raise SandboxError(
            f"The service {service.name!r} could not start {shlex.join(command)}: {reply.header['message']}."
        )


async def _wait_until_healthy(service: ServiceConfig, sandbox: Sandbox) -> None:
    """Run the service's healthcheck in its own sandbox until it succeeds, within its ``ready_timeout``."""
    assert service.healthcheck is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + service.ready_timeout
    last = None
    while loop.time() < deadline:
        last = await sandbox.exec(
            service.healthcheck, timeout=max(1.0, min(30.0, deadline - loop.time())), raise_on_timeout=False
        )
        if last.success:
            return
        await asyncio.sleep(service.healthcheck_interval)
    said = "" if last is None else (last.stdout + last.stderr).strip()[-300:]
    raise ServiceNotReadyError(
        f"The service {service.name!r} was not healthy within {service.ready_timeout:g} s: its healthcheck "
        f"{shlex.join(service.healthcheck)} " + (f"last said: {said}." if said else "printed nothing.")
    )


async def _wait_until_ready(service: ServiceConfig, asker: Sandbox, target: Sandbox, host: str) -> None:
    """Wait until the service accepts connections on ``host`` at its port, asked from ``asker``'s sandbox."""
    assert service.port is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + service.ready_timeout
    probe: ProbeRequest = {"op": "probe", "id": 0, "size": 0, "host": host, "port": service.port, "timeout": 0.5}
    while loop.time() < deadline:
        reply = await asker.process.request(probe, timeout=10)
        if reply.header.get("reachable"):
            return
        await asyncio.sleep(0.02)
    log = ""
    with contextlib.suppress(Exception):
        log = (await target.read_file(SERVICE_LOG))[-500:].strip()
    raise ServiceNotReadyError(
        f"The service {service.name!r} did not accept connections on port {service.port} within "
        f"{service.ready_timeout:g} s after starting "
        + (shlex.join(service.command) if service.command else f"its image's command ({service.image})")
        + (f"; its output ends with: {log}" if log else "; it printed nothing")
        + "."
    )
