"""Compose files under bwrap: the field's suites, written for Docker, run as a sample's sandboxes.

A compose file is read with Inspect's own compose parsing (``inspect_ai.util._sandbox.compose``), after following
its ``include:`` entries. Each service becomes a sandbox on its image (imported into the image store beforehand:
``airlock images import``), with its command or entrypoint, environment, working directory and healthcheck; the
service marked ``x-default`` (or named ``default``, or else the first) is the agent's sandbox, where the model's
tools run. As root, each service is a host of its own on the networks it names (``network: hosts``); otherwise they
share one loopback (``network: private``), which keeps names working but cannot keep a service behind another.

What a bubblewrap sandbox cannot honour is refused with the key named, never half-done: building an image, host
volumes and devices, privileges and capabilities, another network mode. Keys about how Docker manages containers
(restart policies, ports published to the host, pull policies, dependencies) do not apply here and are ignored.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from airlock.sandbox.config import BwrapConfig, SandboxLimits, ServiceConfig
from airlock.sandbox.errors import SandboxConfigError

REFUSED = {
    "build": "images are imported or built with `airlock images`, not built from a Dockerfile: give image:",
    "volumes": "a sandbox mounts nothing of the host: put files in the image, or let the challenge write them",
    "devices": "a sandbox has no host devices",
    "privileged": "a sandbox has no privileges to give",
    "cap_add": "a sandbox has no capabilities to add",
    "security_opt": "a sandbox's security options are its own",
    "runtime": "a sandbox has no container runtime",
    "cgroup": "a sandbox's cgroup is its own",
    "extra_hosts": "a sample's names are its services'",
}
"""Keys that ask for what a sandbox cannot do, with why (when set to anything but false or empty)."""
IGNORED = {
    "restart", "ports", "expose", "pull_policy", "platform", "depends_on", "stop_grace_period", "init", "tty",
    "stdin_open", "hostname", "container_name", "read_only", "shm_size", "ulimits", "mem_reservation",
    "memswap_limit", "cap_drop", "labels", "logging",
}  # fmt: skip
"""Keys about how Docker manages containers, which mean nothing here."""
AGENT_KEY = "x-default"


def config_from_compose(path: str | Path, *, image_store: str | None = None) -> BwrapConfig:
    """The sample's sandboxes that the compose file at ``path`` describes."""
    from inspect_ai.util._sandbox.compose import ComposeConfig, ComposeService
    from pydantic import ValidationError

    file = Path(path)
    raw = _interpolated(_with_includes(file, set()), _dotenv(file.parent / ".env"))
    services = raw.get("services")
    if not isinstance(services, dict) or not services:
        raise SandboxConfigError(f"{file} has no services.")
    for name, service in services.items():
        if isinstance(service, dict):
            _refuse_what_cannot_run(file, str(name), service)
            _pids_from_deploy(service)
    try:
        parsed = ComposeConfig.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise SandboxConfigError(f"{file} is not a valid compose file at {where}: {first['msg']}.") from error
    agent_name = _agent(parsed.services)
    separate = os.geteuid() == 0
    sandboxes: list[ServiceConfig] = []
    agent: ComposeService = parsed.services[agent_name]
    for name, service in parsed.services.items():
        if name == agent_name:
            continue
        sandboxes.append(
            ServiceConfig(
                name=_host_name(file, name),
                image=service.image,
                entrypoint=_words(service.entrypoint) or None,
                command=_words(service.command) or None,
                env=_environment(file, service),
                working_dir=service.working_dir,
                networks=_networks(service),
                limits=_limits(service),
                healthcheck=_healthcheck(service),
                healthcheck_interval=_seconds(service.healthcheck.interval if service.healthcheck else None, 1.0),
                ready_timeout=_ready_timeout(service),
                # As in a container: root unless the compose file names another user, and able to switch users
                # (xinetd's ``user =``, socat's ``su=``, supervisord), in a user namespace of the service's own.
                user="root" if (service.user or "root").split(":")[0] in ("root", "0") else "sandbox",
                switch_users=True,
            )
        )
    return BwrapConfig(
        network=("hosts" if separate else "private") if sandboxes else "none",
        networks=_networks(agent),
        services=sandboxes,
        image=agent.image,
        env=_environment(file, agent),
        user="root" if (agent.user or "").split(":")[0] in ("root", "0") else "sandbox",
        limits=_limits(agent),
        image_store=image_store,
    )


def self_contained(path: str | Path) -> dict[str, Any]:
    """The compose file at ``path`` as one document that needs nothing beside it: ``include:`` followed, values
    interpolated from its ``.env``, each service's ``env_file`` folded into its ``environment``, and every dollar
    sign left written as ``$$``, so that :func:`config_from_compose` reads the saved document as it read the original
    (an importer keeps this with a challenge whose includes lie outside its directory)."""
    file = Path(path)
    raw = _interpolated(_with_includes(file, set()), _dotenv(file.parent / ".env"))
    for service in (raw.get("services") or {}).values():
        if isinstance(service, dict) and service.get("env_file"):
            from inspect_ai.util._sandbox.compose import ComposeService

            folded = _environment(file, ComposeService.model_validate({"env_file": service.pop("env_file")}))
            given = service.get("environment") or {}
            if isinstance(given, list):
                given = dict(item.split("=", 1) if "=" in item else (item, None) for item in given)
            service["environment"] = {**folded, **given}
    escaped: dict[str, Any] = _dollars_escaped(raw)
    return escaped


def _dollars_escaped(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [_dollars_escaped(item) for item in value]
    if isinstance(value, dict):
        return {key: _dollars_escaped(item) for key, item in value.items()}
    return value


def _with_includes(file: Path, seen: set[Path]) -> dict[str, Any]:
    """The compose file with the services (and networks) of the files it includes merged in."""
    resolved = file.resolve()
    if resolved in seen:
        raise SandboxConfigError(f"{file} includes itself (through include:).")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise SandboxConfigError(f"Cannot read the compose file {file}: {error.strerror}.") from error
    except yaml.YAMLError as error:
        raise SandboxConfigError(f"{file} is not valid YAML.") from error
    if not isinstance(raw, dict):
        raise SandboxConfigError(f"{file} is not a compose file (no mapping at its top).")
    includes = raw.pop("include", None) or []
    for entry in includes if isinstance(includes, list) else [includes]:
        paths = entry.get("path") if isinstance(entry, dict) else entry
        for included in paths if isinstance(paths, list) else [paths]:
            other = _with_includes(file.parent / str(included), {*seen, resolved})
            for section in ("services", "networks"):
                mine = raw.setdefault(section, {}) or {}
                for name, value in (other.get(section) or {}).items():
                    if name in mine:
                        raise SandboxConfigError(
                            f"{file} and the file it includes both define {section[:-1]} {name!r}."
                        )
                    mine[name] = value
                raw[section] = mine
    return raw


_VARIABLE = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def _interpolated(value: Any, variables: dict[str, str]) -> Any:
    """Compose's interpolation: ``$$`` is a dollar sign; ``${NAME}``, ``${NAME:-default}`` and ``$NAME`` take the
    value from the ``.env`` file beside the compose file, never from the evaluator's environment (which holds its
    secrets); a name it does not give is empty, or its default."""
    if isinstance(value, str):

        def substitute(found: re.Match[str]) -> str:
            if found.group(0) == "$$":
                return "$"
            name = found.group(1) or found.group(4)
            given = variables.get(name)
            if found.group(2) in (":-", ":?"):
                return given if given else found.group(3) or ""
            if found.group(2) in ("-", "?"):
                return given if given is not None else found.group(3) or ""
            return given or ""

        return _VARIABLE.sub(substitute, value)
    if isinstance(value, list):
        return [_interpolated(item, variables) for item in value]
    if isinstance(value, dict):
        return {key: _interpolated(item, variables) for key, item in value.items()}
    return value


def _dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            found[key.strip()] = value.strip().strip("'\"")
    return found


def _refuse_what_cannot_run(file: Path, name: str, service: dict[str, Any]) -> None:
    for key, why in REFUSED.items():
        if service.get(key) not in (None, False, [], {}):
            raise SandboxConfigError(f"{file}: the service {name!r} sets {key}, which cannot run here: {why}.")
    mode = service.get("network_mode")
    if mode not in (None, "bridge"):
        raise SandboxConfigError(
            f"{file}: the service {name!r} sets network_mode: {mode}, which cannot run here: a sandbox is on the "
            "sample's networks only."
        )


def _pids_from_deploy(service: dict[str, Any]) -> None:
    """The compose specification allows ``deploy.resources.limits.pids``, which Inspect's parser does not know: read
    as ``pids_limit`` (CAISI's suites set it on every service)."""
    limits = ((service.get("deploy") or {}).get("resources") or {}).get("limits")
    if isinstance(limits, dict) and "pids" in limits:
        pids = limits.pop("pids")
        service.setdefault("pids_limit", pids)


def _agent(services: dict[str, Any]) -> str:
    marked = [name for name, service in services.items() if getattr(service, "x_default", None)]
    if len(marked) > 1:
        raise SandboxConfigError(f"Several services are marked {AGENT_KEY}: {', '.join(marked)}; mark one.")
    if marked:
        return marked[0]
    return "default" if "default" in services else next(iter(services))


def _host_name(file: Path, name: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", name):
        raise SandboxConfigError(
            f"{file}: the service name {name!r} must start with a lowercase letter and hold only a-z, 0-9, _ and -."
        )
    return name


def _words(value: list[str] | str | None) -> list[str]:
    """A compose command or entrypoint: a list as it is, a string split as a shell would."""
    if value is None:
        return []
    return shlex.split(value) if isinstance(value, str) else [str(part) for part in value]


def _environment(file: Path, service: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    env_files = (
        service.env_file if isinstance(service.env_file, list) else [service.env_file] if service.env_file else []
    )
    for env_file in env_files:
        try:
            lines = (file.parent / env_file).read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise SandboxConfigError(f"{file}: cannot read the env_file {env_file}: {error.strerror}.") from error
        for line in lines:
            if line.strip() and not line.lstrip().startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                found[key.strip()] = value.strip()
    environment = service.environment
    if isinstance(environment, list):
        found.update(item.split("=", 1) for item in environment if "=" in item)
    elif isinstance(environment, dict):
        found.update({key: "" if value is None else str(value) for key, value in environment.items()})
    return found


def _networks(service: Any) -> list[str]:
    networks = service.networks
    if isinstance(networks, dict):
        return sorted(networks) or ["default"]
    return list(networks) if networks else ["default"]


def _limits(service: Any) -> SandboxLimits:
    limits: dict[str, Any] = {}
    memory = service.mem_limit or _deploy(service, "memory")
    if memory:
        limits["memory_mb"] = max(16, _bytes(str(memory)) >> 20)
    cpus = service.cpus or _deploy(service, "cpus")
    if cpus:
        limits["cpus"] = float(cpus)
    if service.pids_limit:
        limits["pids"] = max(8, int(service.pids_limit))
    return SandboxLimits(**limits)


def _deploy(service: Any, key: str) -> Any:
    deploy = service.deploy
    resources = getattr(deploy, "resources", None) if deploy else None
    limits = getattr(resources, "limits", None) if resources else None
    return getattr(limits, key, None) if limits else None


def _bytes(text: str) -> int:
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if found is None:
        raise SandboxConfigError(f"The memory limit {text!r} is not a size such as 512m or 2g.")
    number, unit = found.groups()
    return int(float(number) * 1024 ** "_kmgt".index(unit or "_"))


def _healthcheck(service: Any) -> list[str] | None:
    check = service.healthcheck
    if check is None or getattr(check, "disable", False) or not check.test:
        return None
    test = check.test if isinstance(check.test, list) else ["CMD-SHELL", check.test]
    kind, *rest = test
    if kind == "NONE":
        return None
    if kind == "CMD-SHELL":
        return ["sh", "-c", " ".join(rest)]
    return rest if kind == "CMD" else test


def _seconds(value: str | None, default: float) -> float:
    if not value:
        return default
    found = re.fullmatch(r"(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?", value.strip())
    if found is None or not any(found.groups()):
        return default
    minutes, seconds, milliseconds = found.groups()
    return int(minutes or 0) * 60 + float(seconds or 0) + int(milliseconds or 0) / 1000


def _ready_timeout(service: Any) -> float:
    check = service.healthcheck
    if check is None:
        return 60.0
    interval = _seconds(check.interval, 1.0)
    retries = check.retries or 3
    return max(15.0, _seconds(check.start_period, 0.0) + interval * (retries + 1) + _seconds(check.timeout, 5.0))
