"""The ``bwrap`` sandbox provider for Inspect AI: a thin layer over :mod:`.sample` that speaks Inspect's contract.

Registered for Inspect through the ``inspect_ai`` entry point, so ``inspect eval --sandbox bwrap`` and
``Task(sandbox="bwrap")`` both use it. The sandbox's own errors become the ones Inspect names, each keeping the
original as its cause: a sandbox that is gone raises ``SandboxUnavailableError`` (tools report it to the model
as ``sandbox_unavailable`` and the sample goes on), an oversized output ``OutputLimitExceededError``, a user
the sandbox does not have ``SandboxUserUnsupportedError``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal, Union, overload

from inspect_ai.util import (
    ExecResult,
    OutputLimitExceededError,
    SandboxEnvironment,
    SandboxEnvironmentConfigType,
    SandboxEnvironmentLimits,
    SandboxUnavailableError,
    SandboxUserUnsupportedError,
    sandboxenv,
)
from pydantic import BaseModel
from typing_extensions import override

from airlock.sandbox import errors
from airlock.sandbox.bwrap import check_support, find_bwrap
from airlock.sandbox.config import COMPOSE_FILES, BwrapConfig, load_config
from airlock.sandbox.resources import remove_leftover_groups
from airlock.sandbox.sample import Sandbox, start_sample, stop_sample

logger = logging.getLogger(__name__)


@sandboxenv(name="bwrap")
class BwrapSandboxEnvironment(SandboxEnvironment):
    """A bubblewrap sandbox: no Docker, no daemon, started in milliseconds."""

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__()
        self.sandbox = sandbox

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
        sandboxes = await start_sample(task_name, load_config(config))
        return {name: cls(sandbox) for name, sandbox in sandboxes.items()}

    @override
    @classmethod
    async def sample_cleanup(
        cls,
        task_name: str,
        config: SandboxEnvironmentConfigType | None,
        environments: dict[str, SandboxEnvironment],
        interrupted: bool,
    ) -> None:
        await stop_sample(environment.as_type(BwrapSandboxEnvironment).sandbox for environment in environments.values())

    @override
    @classmethod
    async def task_cleanup(cls, task_name: str, config: SandboxEnvironmentConfigType | None, cleanup: bool) -> None:
        # Every sample stops its own sandboxes (and they die with this process in any case); what a killed
        # evaluation can leave behind is empty resource groups, removed here rather than by a later run.
        removed = await asyncio.to_thread(remove_leftover_groups, "", 300.0)
        if removed:
            logger.info("bwrap: removed %d resource groups left by sandboxes that are gone", len(removed))

    @override
    @classmethod
    async def cli_cleanup(cls, id: str | None) -> None:
        """``inspect sandbox cleanup bwrap [ID]``: remove what sandboxes that are gone left behind."""
        removed = await asyncio.to_thread(remove_leftover_groups, id or "")
        print(f"bwrap: removed {len(removed)} resource groups left by sandboxes that are gone.")

    @override
    @classmethod
    def config_files(cls) -> list[str]:
        # A compose file beside a task is this provider's configuration too (docs/sandbox.md, "Compose files").
        return list(COMPOSE_FILES)

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
        try:
            # Inspect's limits are read at each call: they may differ between contexts.
            result = await self.sandbox.exec(
                cmd,
                input=input,
                cwd=cwd,
                env=env,
                timeout=timeout,
                output_limit=SandboxEnvironmentLimits.MAX_EXEC_OUTPUT_SIZE,
            )
        except errors.OutputLimitError as error:
            raise OutputLimitExceededError(
                limit_str=SandboxEnvironmentLimits.MAX_EXEC_OUTPUT_SIZE_STR, truncated_output=error.truncated
            ) from error
        except errors.SandboxUnavailableError as error:
            raise SandboxUnavailableError(str(error)) from error
        return ExecResult(
            success=result.success, returncode=result.returncode, stdout=result.stdout, stderr=result.stderr
        )

    @override
    async def write_file(self, file: str, contents: str | bytes) -> None:
        try:
            await self.sandbox.write_file(file, contents)
        except errors.SandboxUnavailableError as error:
            raise SandboxUnavailableError(str(error)) from error

    @overload
    async def read_file(self, file: str, text: Literal[True] = True) -> str: ...

    @overload
    async def read_file(self, file: str, text: Literal[False]) -> bytes: ...

    @override
    async def read_file(self, file: str, text: bool = True) -> Union[str | bytes]:  # noqa: UP007 (Inspect's signature)
        try:
            data = await self.sandbox.read_file(file, text=False, limit=SandboxEnvironmentLimits.MAX_READ_FILE_SIZE)
        except errors.OutputLimitError as error:
            raise OutputLimitExceededError(
                limit_str=SandboxEnvironmentLimits.MAX_READ_FILE_SIZE_STR, truncated_output=None
            ) from error
        except errors.SandboxUnavailableError as error:
            raise SandboxUnavailableError(str(error)) from error
        return data.decode("utf-8") if text else data

    def _check_user(self, user: str | None) -> None:
        username = self.sandbox.username
        if user is None or user == username or (user == str(0) and username == "root"):
            return
        raise SandboxUserUnsupportedError(
            f"This bwrap sandbox runs commands as {username!r} only, not as {user!r}; "
            "a sample that needs root inside its sandbox asks for it with user: root."
        )
