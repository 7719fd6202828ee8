"""Setting up a sandbox that cannot work fails at once with the cause named, never with a hang."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from inspect_ai.util import SandboxUserUnsupportedError

from airlock.sandbox import (
    BwrapConfig,
    SandboxConfigError,
    SandboxUnsupportedError,
    ServiceConfig,
    ServiceNotReadyError,
)
from airlock.sandbox.bwrap import check_support, find_bwrap
from airlock.sandbox.config import load_config
from tests.support.sandboxes import host_processes_with, sample

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fresh_checks() -> Iterator[None]:
    """Forget what earlier tests found out about this machine's bwrap."""
    find_bwrap.cache_clear()
    check_support.cache_clear()
    yield
    find_bwrap.cache_clear()
    check_support.cache_clear()


@pytest.mark.usefixtures("fresh_checks")
async def test_a_missing_bwrap_binary_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRLOCK_BWRAP", "/nonexistent/bwrap")
    with pytest.raises(SandboxUnsupportedError, match="No usable bwrap binary at /nonexistent/bwrap"):
        async with sample():
            pass


@pytest.mark.usefixtures("fresh_checks")
async def test_a_kernel_without_user_namespaces_is_explained(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """We cannot switch this host's kernel features off from a test, so a stand-in bwrap answers as a
    kernel without unprivileged user namespaces makes it answer."""
    stand_in = tmp_path / "bwrap"
    stand_in.write_text(
        "#!/bin/sh\necho 'bwrap: No permissions to create new namespace, likely because the kernel does not "
        "allow non-privileged user namespaces.' >&2\nexit 1\n"
    )
    stand_in.chmod(0o755)
    tmp_path.chmod(0o755)
    monkeypatch.setenv("AIRLOCK_BWRAP", str(stand_in))
    with pytest.raises(SandboxUnsupportedError, match=r"user\.max_user_namespaces"):
        async with sample():
            pass


async def test_a_service_that_never_listens_fails_in_its_timeout_and_leaves_nothing() -> None:
    marker = f"never-ready-{uuid.uuid4().hex}"
    config = BwrapConfig(
        network="private",
        services=[
            ServiceConfig(name="target", command=["sh", "-c", f"sleep 100; : {marker}"], port=8080, ready_timeout=1)
        ],
    )
    started = time.monotonic()
    with pytest.raises(ServiceNotReadyError, match="did not accept connections on port 8080 within 1 s"):
        async with sample(config):
            pass
    assert time.monotonic() - started < 10
    assert host_processes_with(marker) == []


async def test_a_service_that_crashes_shows_its_output() -> None:
    config = BwrapConfig(
        network="private",
        services=[
            ServiceConfig(
                name="target",
                command=["python3", "-c", "print('port already taken'); raise SystemExit(3)"],
                port=8080,
                ready_timeout=1,
            )
        ],
    )
    with pytest.raises(ServiceNotReadyError, match="its output ends with: port already taken"):
        async with sample(config):
            pass


def test_services_without_a_private_network_are_refused() -> None:
    with pytest.raises(SandboxConfigError, match="network: private"):
        load_config({"services": [{"name": "target", "command": ["true"]}]})


def test_an_unreadable_or_malformed_configuration_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SandboxConfigError, match="Cannot read the bwrap sandbox configuration"):
        load_config(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "sandbox.yaml"
    bad.write_text("limits:\n  memory_mb: lots\n")
    with pytest.raises(SandboxConfigError, match=r"invalid at limits\.memory_mb"):
        load_config(str(bad))


async def test_commands_run_only_as_the_sandboxs_own_user() -> None:
    async with sample() as environments:
        with pytest.raises(SandboxUserUnsupportedError):
            await environments["default"].exec(["id"], user="root")
        assert (await environments["default"].exec(["id", "-un"], user="sandbox")).stdout == "sandbox\n"


async def test_a_sample_may_ask_for_root_inside_its_sandbox_and_gains_nothing_outside() -> None:
    async with sample(BwrapConfig(user="root")) as environments:
        result = await environments["default"].exec(["sh", "-c", "id -u; grep CapEff /proc/self/status"], user="root")
        uid, capabilities = result.stdout.split("\n")[:2]
        assert uid == "0"
        assert capabilities.split()[-1] == "0000000000000000"
        assert not (await environments["default"].exec(["touch", "/usr/escape"])).success
