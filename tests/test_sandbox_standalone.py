"""The sandbox stands on its own: a package that imports nothing else of Airlock, with Inspect's hooks."""

from __future__ import annotations

import ast
import asyncio
import logging
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import airlock.sandbox
from airlock.sandbox import SandboxLimits, SandboxUnavailableError, sample_sandboxes
from airlock.sandbox.provider import BwrapSandboxEnvironment
from airlock.sandbox.resources import create_resource_group, remove_leftover_groups

PACKAGE = Path(airlock.sandbox.__file__).parent


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_module_of_the_sandbox_imports_the_rest_of_airlock() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 8
    outside = {
        f"{path.name}: {name}"
        for path in modules
        for name in imported_modules(path)
        if (name == "airlock" or name.startswith("airlock.")) and not name.startswith("airlock.sandbox")
    }
    assert outside == set()


def test_importing_the_sandbox_loads_no_other_part_of_airlock_and_not_inspect() -> None:
    probe = (
        "import sys, airlock.sandbox, airlock.sandbox.oneshot; "
        "print(sorted(m for m in sys.modules if m.startswith(('airlock', 'inspect_ai'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    modules = eval(loaded)  # noqa: S307 (our own subprocess printed a list literal)
    assert [name for name in modules if not name.startswith("airlock.sandbox")] == ["airlock"]


def test_the_provider_alone_loads_inspect_and_the_sandbox_only() -> None:
    probe = (
        "import sys, airlock.sandbox.provider; "
        "print(sorted(m for m in sys.modules if m == 'airlock' or m.startswith('airlock.')))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert all(name == "airlock" or name.startswith("airlock.sandbox") for name in eval(loaded))  # noqa: S307


def test_the_exec_protocol_is_declared_once_and_the_server_uses_it() -> None:
    """Both ends name the operations of protocol.py; the server defines no message shape of its own."""
    server = (PACKAGE / "execd.py").read_text()
    assert "protocol.ExecReply" in server
    assert "protocol.READY_ID" in server
    sample = (PACKAGE / "sample.py").read_text()
    assert "ExecRequest" in sample


def test_leftover_resource_groups_are_removed_by_the_cleanup_and_live_ones_are_not() -> None:
    name = f"leftover-{uuid.uuid4().hex[:8]}"
    group = create_resource_group(name, SandboxLimits())
    if group.kind == "rlimit":
        pytest.skip("this machine gives Airlock no cgroups, so sandboxes leave no groups behind to clean up")
    live = create_resource_group(f"{name}-live", SandboxLimits())
    sleeper = subprocess.Popen(["/bin/sleep", "30"])
    try:
        for attach in live.attach_files:
            attach.write_text(str(sleeper.pid))
        removed = remove_leftover_groups(name, older_than=0)
        assert {path.name for path in removed} == {name}
        assert all(path.parent.exists() for path in live.attach_files), "a group with a process in it stays"
    finally:
        sleeper.kill()
        sleeper.wait()
        live.destroy()
        group.destroy()


def test_the_inspect_cleanup_hooks_run(capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(BwrapSandboxEnvironment.task_cleanup("task", None, True))
    asyncio.run(BwrapSandboxEnvironment.cli_cleanup(None))
    assert "resource groups left by sandboxes that are gone" in capsys.readouterr().out


def test_a_sandbox_given_up_on_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def freeze_and_ask() -> None:
        async with sample_sandboxes() as sandboxes:
            os.kill(sandboxes["default"].process.inner_pid, signal.SIGSTOP)
            with pytest.raises(SandboxUnavailableError):
                await sandboxes["default"].exec(["true"])

    with caplog.at_level(logging.WARNING, logger="airlock.sandbox"):
        asyncio.run(freeze_and_ask())
    assert any("was stopped and could never answer" in record.getMessage() for record in caplog.records)


def test_a_limit_the_cgroup_refuses_is_an_error_not_a_sandbox_without_cgroups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in cgroup v1 tree whose pids.max cannot be written, as a kernel refuses an out-of-range value."""
    from airlock.sandbox import SandboxConfigError, resources

    for controller in ("memory", "pids", "cpu"):
        (tmp_path / controller).mkdir()
    monkeypatch.setattr(resources, "CGROUP_ROOT", tmp_path)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    real_mkdir = Path.mkdir

    def mkdir_refusing_pids(path: Path, *args: object, **kwargs: object) -> None:
        real_mkdir(path, *args, **kwargs)  # type: ignore[arg-type]
        if path.parent.parent.name == "pids" and not (path / "pids.max").exists():
            real_mkdir(path / "pids.max")  # writing it now fails, as a refused value does

    monkeypatch.setattr(Path, "mkdir", mkdir_refusing_pids)
    with pytest.raises(SandboxConfigError, match=r"cgroup refused the limit 256 in .*pids\.max"):
        resources.create_resource_group("refused", SandboxLimits())


def test_limits_beyond_any_machine_are_refused_as_configuration() -> None:
    from pydantic import ValidationError

    for too_much in ({"pids": 1 << 62}, {"memory_mb": 1 << 44}, {"cpus": 1e9}):
        with pytest.raises(ValidationError):
            SandboxLimits.model_validate(too_much)
