"""What a sample (or a whole task) can ask of its bwrap sandbox: network, services, user and limits.

Given to Inspect as the sandbox's configuration, either as this model or as a YAML/JSON file::

    sandbox=("bwrap", BwrapConfig(network="private", services=[ServiceConfig(name="target", ...)]))
    sandbox=("bwrap", "sandbox.yaml")
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from airlock.sandbox.errors import SandboxConfigError

SandboxUser = Literal["sandbox", "root"]


class SandboxLimits(BaseModel):
    """Resource limits of one sandbox environment (each service has its own)."""

    memory_mb: int = Field(default=1024, ge=16, le=1 << 22)
    """Memory of all its processes together (cgroup), tmpfs contents included."""
    pids: int = Field(default=256, ge=8, le=1 << 22)
    """Processes and threads at once (cgroup): a fork bomb stops here."""
    cpus: float = Field(default=1.0, gt=0, le=1024)
    """CPU time per wall-clock second, in cores (cgroup quota)."""
    cpu_seconds: int | None = Field(default=None, ge=1, le=1 << 30)
    """CPU seconds each command may use (RLIMIT_CPU); None for no limit beyond the timeout."""
    file_size_mb: int = Field(default=256, ge=1, le=1 << 22)
    """Largest file a command may write (RLIMIT_FSIZE)."""
    work_mb: int = Field(default=512, ge=1, le=1 << 22)
    """Size of the writable work directory ``/work`` (a tmpfs)."""
    tmp_mb: int = Field(default=256, ge=1, le=1 << 22)
    """Size of the private ``/tmp`` (a tmpfs)."""
    ptys: int = Field(default=64, ge=1, le=1024)
    """Pseudo-terminals open at once (as root: the sandbox's own devpts; otherwise the kernel's shared pool)."""


class ServiceConfig(BaseModel):
    """A target service in its own sandbox, on the sample's private network."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    """The environment's name for Inspect (``sandbox("target")``) and its host name on the network."""
    command: list[str] | None = Field(default=None, min_length=1)
    """The long-running command that serves, started once the service's files are in place; on an image, its
    entrypoint and command by default. As in a compose file, it replaces the image's command, after the image's
    entrypoint (where ``entrypoint`` does not replace that too)."""
    entrypoint: list[str] | None = Field(default=None, min_length=1)
    """Replaces the image's entrypoint (and then its command, where ``command`` is not given)."""
    image: str | None = None
    """An image (a name or digest in the image store) whose root the service runs on, instead of the host's /usr."""
    env: dict[str, str] = Field(default_factory=dict)
    """Environment of the service's command (over the image's own)."""
    working_dir: str | None = None
    """Where the command starts: by default the image's working directory, or /work."""
    networks: list[str] = Field(default_factory=lambda: ["default"], min_length=1)
    """With ``network: hosts``, the sample's networks this service is on (by name)."""
    healthcheck: list[str] | None = Field(default=None, min_length=1)
    """A command run in the service's sandbox until it succeeds: the sample starts only then (like ``port``)."""
    healthcheck_interval: float = Field(default=1.0, gt=0)
    files: dict[str, str] = Field(default_factory=dict)
    """Files to put in the service's sandbox before it starts: path (relative to /work) -> text."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """The TCP port it listens on; the sample starts only once it accepts connections."""
    ready_timeout: float = Field(default=15.0, gt=0)
    user: SandboxUser = "sandbox"
    switch_users: bool = False
    """The service may become other users, as a container's root does (xinetd's ``user =``, socat's ``su=``,
    supervisord): its sandbox maps 65,536 ids and keeps a container root's capabilities, all within a user namespace
    of its own (see :mod:`.users`). Needs Airlock to run as root; elsewhere the service gets the one-user sandbox."""
    limits: SandboxLimits = Field(default_factory=SandboxLimits)


class BwrapConfig(BaseModel):
    """Configuration of the ``bwrap`` sandbox for a sample."""

    network: Literal["none", "private", "hosts"] = "none"
    """``none``: the sample's own network namespace with loopback only. ``private``: the same, shared with
    the sample's services. ``hosts``: every sandbox a host of its own, on the networks it names (as root; see
    :mod:`.network`). None reaches the host or anything beyond it."""
    networks: list[str] = Field(default_factory=lambda: ["default"], min_length=1)
    """With ``network: hosts``, the sample's networks the agent's sandbox is on."""
    env: dict[str, str] = Field(default_factory=dict)
    """Environment of every command in the agent's sandbox (over the image's own)."""
    services: list[ServiceConfig] = Field(default_factory=list)
    user: SandboxUser = "sandbox"
    """Who commands run as: an unprivileged user by default; ``root`` (inside the sandbox only) on request."""
    limits: SandboxLimits = Field(default_factory=SandboxLimits)
    image: str | None = None
    """An image for the agent's sandbox (the ``default`` one), instead of the host's /usr."""
    image_store: str | None = None
    """The directory of the image store that images are named in; by default ``$AIRLOCK_IMAGES``."""

    def __hash__(self) -> int:
        # Inspect groups samples by their sandbox configuration, so it must be hashable.
        return hash(self.model_dump_json())

    @field_validator("services")
    @classmethod
    def _unique_names(cls, services: list[ServiceConfig]) -> list[ServiceConfig]:
        names = [service.name for service in services]
        if "default" in names or len(set(names)) != len(names):
            raise ValueError("service names must be unique and not 'default'")
        return services

    @model_validator(mode="after")
    def _services_need_a_network(self) -> BwrapConfig:
        if self.services and self.network == "none":
            raise ValueError("services run on the sample's private network: set network: private (or hosts)")
        for service in self.services:
            if service.command is None and service.entrypoint is None and service.image is None:
                raise ValueError(f"the service {service.name!r} needs a command, or an image that names one")
        return self

    def images(self) -> Path:
        """The image store's directory (see :attr:`image_store`)."""
        where = self.image_store or os.environ.get("AIRLOCK_IMAGES")
        if not where:
            raise SandboxConfigError(
                "The sandbox names an image but no image store: set image_store in its configuration or AIRLOCK_IMAGES."
            )
        return Path(where)


def load_config(config: object) -> BwrapConfig:
    """The configuration Inspect passed: None, a :class:`BwrapConfig`, a dict, or a YAML/JSON file path."""
    if config is None:
        return BwrapConfig()
    if isinstance(config, BwrapConfig):
        return config
    import yaml  # here, not at the top: a configuration given as a file is the rare case

    try:
        if isinstance(config, str):
            path = Path(config)
            if _is_compose_file(path):
                from airlock.sandbox.compose import config_from_compose

                return config_from_compose(path)
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except OSError as error:
                raise SandboxConfigError(
                    f"Cannot read the bwrap sandbox configuration {config}: {error.strerror}."
                ) from error
            return BwrapConfig.model_validate(data or {})
        if isinstance(config, dict):
            return BwrapConfig.model_validate(config)
        if isinstance(config, BaseModel):
            return BwrapConfig.model_validate(config.model_dump())
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "configuration"
        raise SandboxConfigError(f"The bwrap sandbox configuration is invalid at {where}: {first['msg']}.") from error
    except yaml.YAMLError as error:
        raise SandboxConfigError(
            f"The bwrap sandbox configuration {config} is not valid YAML ({_yaml_problem(error)})."
        ) from error
    raise SandboxConfigError(f"The bwrap sandbox cannot use a configuration of type {type(config).__name__}.")


COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


def _is_compose_file(path: Path) -> bool:
    return path.name in COMPOSE_FILES or path.name.endswith(("-compose.yaml", "-compose.yml", ".compose.yaml"))


def _yaml_problem(error: Exception) -> str:
    """A YAML parser's error in one line: where (line and column, counted from 1) and what."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return str(problem) if mark is None else f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
