"""The ``bwrap`` sandbox provider for Inspect AI.

Each sample gets its own sandboxes: ``default`` for the agent, and one per target service, all on the
sample's private network namespace (loopback only, unreachable from the host and from other samples).
Each sandbox stays up for the whole sample, with an exec server inside (:mod:`.execd`), so a command
costs a request, not a new sandbox. See :mod:`.bwrap` for what isolates it.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from typing import Any, Literal, Union, overload

from inspect_ai.util import (
    ExecResult,
    OutputLimitExceededError,
    SandboxEnvironment,
    SandboxEnvironmentConfigType,
    SandboxEnvironmentLimits,
    SandboxUserUnsupportedError,
    sandboxenv,
)
from pydantic import BaseModel
from typing_extensions import override

from airlock.evals.sandbox.bwrap import WORKDIR, check_support, find_bwrap
from airlock.evals.sandbox.config import BwrapConfig, SandboxLimits, ServiceConfig, load_config
from airlock.evals.sandbox.errors import SandboxError, ServiceNotReadyError
from airlock.evals.sandbox.process import FILE_TIMEOUT, GRACE, SandboxProcess

_ERRORS: dict[str, type[OSError]] = {
    "FileNotFoundError": FileNotFoundError,
    "PermissionError": PermissionError,
    "IsADirectoryError": IsADirectoryError,
    "NotADirectoryError": NotADirectoryError,
    "FileExistsError": FileExistsError,
}


@sandboxenv(name="bwrap")
class BwrapSandboxEnvironment(SandboxEnvironment):
    """A bubblewrap sandbox: no Docker, no daemon, started in milliseconds."""

    def __init__(self, sandbox: SandboxProcess, limits: SandboxLimits) -> None:
        super().__init__()
        self.sandbox = sandbox
        self.limits = limits

    # Lifecycle -------------------------------------------------------------------------------------

    @override
    @classmethod
    async def task_init(cls, task_name: str, config: SandboxEnvironmentConfigType | None) -> None:
        load_config(config)
        await asyncio.to_thread(check_support, find_bwrap())

    @override
    @classmethod
    async def sample_init(
        cls, task_name: str, config: SandboxEnvironmentConfigType | None, metadata: dict[str, str]
    ) -> dict[str, SandboxEnvironment]:
        settings = load_config(config)
        hosts = [service.name for service in settings.services]
        started: list[SandboxProcess] = []
        try:
            agent = await SandboxProcess.start("default", user=settings.user, limits=settings.limits, hosts=hosts)
            started.append(agent)
            services: dict[str, BwrapSandboxEnvironment] = {}
            for service in settings.services:
                services[service.name] = await cls._start_service(service, agent, hosts)
                started.append(services[service.name].sandbox)
            default = cls(agent, settings.limits)
            for service in settings.services:
                if service.port is not None:
                    await _wait_until_ready(service, default, services[service.name])
            return {"default": default, **services}
        except BaseException:
            await asyncio.gather(*(sandbox.close() for sandbox in started), return_exceptions=True)
            raise

    @classmethod
    async def _start_service(
        cls, service: ServiceConfig, agent: SandboxProcess, hosts: list[str]
    ) -> BwrapSandboxEnvironment:
        sandbox = await SandboxProcess.start(
            service.name, user=service.user, limits=service.limits, hosts=hosts, network_of=agent
        )
        environment = cls(sandbox, service.limits)
        for path, content in service.files.items():
            await environment.write_file(path, content)
        reply = await sandbox.request(
            {
                "op": "spawn",
                "cmd": service.command,
                "cwd": WORKDIR,
                "env": environment._environment(None),
                "log": "/run/service.log",
            },
            timeout=30,
        )
        if not reply.header["ok"]:
            await sandbox.close()
            raise SandboxError(
                f"The service {service.name!r} could not start {shlex.join(service.command)}: "
                f"{reply.header['message']}."
            )
        return environment

    @override
    @classmethod
    async def sample_cleanup(
        cls,
        task_name: str,
        config: SandboxEnvironmentConfigType | None,
        environments: dict[str, SandboxEnvironment],
        interrupted: bool,
    ) -> None:
        await asyncio.gather(
            *(environment.as_type(BwrapSandboxEnvironment).sandbox.close() for environment in environments.values()),
            return_exceptions=True,
        )

    @override
    @classmethod
    def config_deserialize(cls, config: dict[str, Any]) -> BaseModel:
        return BwrapConfig.model_validate(config)

    @override
    def default_polling_interval(self) -> float:
        return 0.2

    # Commands and files ----------------------------------------------------------------------------

    @override
    async def exec(
        self,
        cmd: list[str],
        input: str | bytes | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        user: str | None = None,
        timeout: int | None = None,
        timeout_retry: bool = True,
        concurrency: bool = True,
    ) -> ExecResult[str]:
        self._check_user(user)
        payload = input.encode() if isinstance(input, str) else (input or b"")
        rlimits = {} if self.limits.cpu_seconds is None else {"RLIMIT_CPU": self.limits.cpu_seconds}
        limit = SandboxEnvironmentLimits.MAX_EXEC_OUTPUT_SIZE
        reply = await self.sandbox.request(
            {
                "op": "exec",
                "cmd": cmd,
                "cwd": self._resolve(cwd or WORKDIR),
                "env": self._environment(env),
                "timeout": timeout,
                "has_input": input is not None,
                "limit": limit,
                "rlimits": rlimits,
            },
            payload,
            timeout=None if timeout is None else timeout + GRACE,
        )
        header = reply.header
        if not header["ok"]:
            raise self._error(header)
        if header["timed_out"]:
            raise TimeoutError(f"Command timed out after {timeout} seconds: {shlex.join(cmd)[:200]}")
        stdout = reply.payloads[0].decode(errors="replace")
        stderr = reply.payloads[1].decode(errors="replace")
        if header["stdout_total"] > limit or header["stderr_total"] > limit:
            raise OutputLimitExceededError(
                limit_str=SandboxEnvironmentLimits.MAX_EXEC_OUTPUT_SIZE_STR, truncated_output=stdout
            )
        returncode = header["returncode"]
        if returncode < 0:
            # Killed by a signal: report it the way a shell does (SIGTERM gives 143).
            returncode = 128 - returncode
        return ExecResult(success=returncode == 0, returncode=returncode, stdout=stdout, stderr=stderr)

    @override
    async def write_file(self, file: str, contents: str | bytes) -> None:
        data = contents.encode() if isinstance(contents, str) else contents
        reply = await self.sandbox.request({"op": "write", "path": self._resolve(file)}, data, timeout=FILE_TIMEOUT)
        if not reply.header["ok"]:
            raise self._error(reply.header)

    @overload
    async def read_file(self, file: str, text: Literal[True] = True) -> str: ...

    @overload
    async def read_file(self, file: str, text: Literal[False]) -> bytes: ...

    @override
    async def read_file(self, file: str, text: bool = True) -> Union[str | bytes]:  # noqa: UP007 (Inspect's signature)
        reply = await self.sandbox.request(
            {"op": "read", "path": self._resolve(file), "limit": SandboxEnvironmentLimits.MAX_READ_FILE_SIZE},
            timeout=FILE_TIMEOUT,
        )
        if not reply.header["ok"]:
            if reply.header["error"] == "OutputLimitExceeded":
                raise OutputLimitExceededError(
                    limit_str=SandboxEnvironmentLimits.MAX_READ_FILE_SIZE_STR, truncated_output=None
                )
            raise self._error(reply.header)
        data = reply.payloads[0]
        return data.decode("utf-8") if text else data

    # Helpers ---------------------------------------------------------------------------------------

    def _error(self, header: dict[str, Any]) -> Exception:
        """The exception Inspect's contract names for a failure the exec server reported."""
        kind = _ERRORS.get(header["error"])
        if kind is not None:
            return kind(header.get("errno") or 0, header["message"])
        if header.get("errno") == 11 or "new thread" in header["message"]:
            return SandboxError(
                f"The sandbox {self.sandbox.name!r} has run out of processes (its limit is {self.limits.pids}): "
                "something in it is forking without end."
            )
        return SandboxError(f"The sandbox failed: {header['error']}: {header['message']}")

    def _check_user(self, user: str | None) -> None:
        if user is None or user == self.sandbox.username or (user == str(0) and self.sandbox.user == "root"):
            return
        raise SandboxUserUnsupportedError(
            f"This bwrap sandbox runs commands as {self.sandbox.username!r} only, not as {user!r}; "
            "a sample that needs root inside its sandbox asks for it with user: root."
        )

    def _environment(self, extra: dict[str, str] | None) -> dict[str, str]:
        base = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": WORKDIR,
            "LANG": "C.UTF-8",
            "TERM": "dumb",
            "USER": self.sandbox.username,
            "LOGNAME": self.sandbox.username,
        }
        return {**base, **(extra or {})}

    @staticmethod
    def _resolve(path: str) -> str:
        return path if path.startswith("/") else f"{WORKDIR}/{path}"


async def _wait_until_ready(
    service: ServiceConfig, agent: BwrapSandboxEnvironment, environment: BwrapSandboxEnvironment
) -> None:
    """Wait until the service accepts connections on its port, seen from the agent's side of the network."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + service.ready_timeout
    while loop.time() < deadline:
        reply = await agent.sandbox.request(
            {"op": "probe", "host": "127.0.0.1", "port": service.port, "timeout": 0.5}, timeout=10
        )
        if reply.header.get("reachable"):
            return
        await asyncio.sleep(0.02)
    log = ""
    with contextlib.suppress(Exception):
        log = (await environment.read_file("/run/service.log"))[-500:].strip()
    raise ServiceNotReadyError(
        f"The service {service.name!r} did not accept connections on port {service.port} within "
        f"{service.ready_timeout:g} s after starting {shlex.join(service.command)}"
        + (f"; its output ends with: {log}" if log else "; it printed nothing")
        + "."
    )
