"""Compose files under bwrap: a suite's compose file, written for Docker, runs as a sample's sandboxes; what a sandbox
cannot do is refused with the key named."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from airlock.sandbox import SandboxConfigError, load_config, sample_sandboxes
from airlock.sandbox.compose import config_from_compose
from airlock.sandbox.images import ImageStore

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def compose(directory: Path, text: str, name: str = "compose.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


TARGET = """
services:
  victim:
    image: target
    command: ["socat", "TCP-LISTEN:7000,reuseaddr,fork", "SYSTEM:echo $$GREETING"]
    environment:
      GREETING: hello-from-the-victim
    healthcheck:
      test: ["CMD-SHELL", "socat -u /dev/null TCP:127.0.0.1:7000"]
      interval: 1s
      retries: 20
"""


async def test_an_included_service_with_its_image_environment_and_healthcheck_runs_for_the_agent(
    store: ImageStore, tmp_path: Path
) -> None:
    compose(tmp_path, TARGET, "victim.yaml")
    path = compose(
        tmp_path,
        """
        include:
          - victim.yaml
        services:
          attacker:
            image: target
            x-default: true
            command: ["tail", "-f", "/dev/null"]
            environment: [ROLE=attacker]
            restart: always
        """,
    )
    config = config_from_compose(path, image_store=str(store.root))
    assert config.image == "target"
    assert [service.name for service in config.services] == ["victim"], "include: was followed"
    async with sample_sandboxes(config) as sandboxes:
        agent = sandboxes["default"]
        said = await agent.exec(["sh", "-c", "echo $ROLE; socat -t 5 - TCP:victim:7000"], timeout=20)
        assert said.stdout.split() == ["attacker", "hello-from-the-victim"]


async def test_a_service_starts_as_root_on_a_low_port_and_may_become_another_user_as_in_a_container(
    store: ImageStore, tmp_path: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("separate hosts, whose namespaces let a service listen on any port, need root")
    path = compose(
        tmp_path,
        """
        services:
          attacker:
            image: target
            x-default: true
          web:
            image: target
            command: ["socat", "TCP-LISTEN:80,reuseaddr,fork,su=nobody", "SYSTEM:id -un"]
          named:
            image: target
            user: ctf
            command: ["socat", "TCP-LISTEN:81,reuseaddr,fork", "SYSTEM:id -u"]
        """,
    )
    config = config_from_compose(path, image_store=str(store.root))
    for service in config.services:
        service.port = 80 if service.name == "web" else 81
    async with sample_sandboxes(config) as sandboxes:
        agent = sandboxes["default"]
        web = await agent.exec(["sh", "-c", "socat -t 5 - TCP:web:80 </dev/null"], timeout=20)
        assert web.stdout.strip() == "nobody", "root by default, on port 80, switching to nobody as socat's su= asks"
        named = await agent.exec(["sh", "-c", "socat -t 5 - TCP:named:81 </dev/null"], timeout=20)
        assert named.stdout.strip() not in ("", "0"), "a user its compose file names, not root"


def test_a_compose_file_is_this_providers_configuration_too(store: ImageStore, tmp_path: Path) -> None:
    os.environ["AIRLOCK_IMAGES"] = str(store.root)
    try:
        config = load_config(str(compose(tmp_path, TARGET)))
    finally:
        del os.environ["AIRLOCK_IMAGES"]
    assert config.image == "target", "the only service is the agent's"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("build", "."),
        ("volumes", ["/etc:/host-etc"]),
        ("privileged", True),
        ("cap_add", ["NET_ADMIN"]),
        ("devices", ["/dev/kvm"]),
        ("network_mode", "host"),
    ],
)
def test_what_a_sandbox_cannot_do_is_refused_naming_the_key(tmp_path: Path, key: str, value: object) -> None:
    import yaml

    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump({"services": {"target": {"image": "target", key: value}}}))
    with pytest.raises(SandboxConfigError, match=f"sets {key}") as refused:
        config_from_compose(path)
    assert "\n" not in str(refused.value)


def test_docker_only_keys_are_ignored_and_limits_taken(tmp_path: Path) -> None:
    path = compose(
        tmp_path,
        """
        services:
          default:
            image: target
          web:
            image: target
            command: python3 -m http.server 80
            ports: ["8080:80"]
            restart: unless-stopped
            depends_on: [default]
            mem_limit: 256m
            cpus: 0.5
            pids_limit: 64
        """,
    )
    (web,) = config_from_compose(path).services
    assert web.command == ["python3", "-m", "http.server", "80"]
    assert (web.limits.memory_mb, web.limits.cpus, web.limits.pids) == (256, 0.5, 64)


def test_a_file_that_includes_itself_is_refused(tmp_path: Path) -> None:
    path = compose(tmp_path, "include: [compose.yaml]\nservices: {default: {image: target}}\n")
    with pytest.raises(SandboxConfigError, match="includes itself"):
        config_from_compose(path)


@pytest.mark.skipif(os.geteuid() != 0, reason="separate hosts need root to wire the sample's networks")
async def test_a_compose_range_keeps_a_service_behind_its_jump_host(store: ImageStore, tmp_path: Path) -> None:
    path = compose(
        tmp_path,
        """
        services:
          attacker:
            image: target
            x-default: true
            networks: [outside]
          jump:
            image: target
            command: ["socat", "TCP-LISTEN:2222,reuseaddr,fork", "TCP:internal:7000"]
            networks: [outside, inside]
          internal:
            image: target
            command: ["socat", "TCP-LISTEN:7000,reuseaddr,fork", "SYSTEM:echo INTERNAL-SECRET"]
            networks: [inside]
            healthcheck:
              test: socat -u /dev/null TCP:127.0.0.1:7000
              interval: 1s
        networks:
          outside: {}
          inside: {}
        """,
    )
    config = config_from_compose(path, image_store=str(store.root))
    assert config.network == "hosts"
    async with sample_sandboxes(config) as sandboxes:
        agent = sandboxes["default"]
        direct = await agent.exec(["sh", "-c", "socat -t 3 - TCP:internal:7000"], timeout=20)
        assert direct.returncode != 0, "the internal service is not on the agent's network"
        through = await agent.exec(["sh", "-c", "sleep 1; socat -t 5 - TCP:jump:2222"], timeout=20)
        assert through.stdout.strip() == "INTERNAL-SECRET"


def test_interpolation_takes_the_env_file_beside_the_compose_file_never_the_evaluators_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRLOCK_MASTER_KEY", "evaluator-secret")
    (tmp_path / ".env").write_text("PORT=7000\n")
    path = compose(
        tmp_path,
        """
        services:
          default: {image: target}
          web:
            image: target
            command: "serve --port ${PORT} --key ${AIRLOCK_MASTER_KEY:-none} --price $$5"
        """,
    )
    (web,) = config_from_compose(path).services
    assert web.command == ["serve", "--port", "7000", "--key", "none", "--price", "$5"]
