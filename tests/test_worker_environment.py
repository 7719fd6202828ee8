"""The evaluation worker gets an explicit, minimal environment: none of the evaluator's secrets (its master key,
model API keys, anything else it keeps in its environment) is in the worker's ``/proc/<pid>/environ``; a run
started from the portal gets the master key on a pipe, never in its environment. The secrets are set where the
real system has them: in the evaluator's environment."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from airlock.app import Airlock
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.evals.process_environment import child_environment
from tests.support.fake_openai import FakeEndpoint, fake_endpoint, replaying_references
from tests.support.world import World, build_world
from tests.test_eval_runs import QUICK, SMOKE_SAMPLES, accepted_review, suites_cache

WAIT_SECONDS = 180


@pytest.fixture
def evaluator_secrets(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The evaluator's environment as a lab runs it: the master key from a secret store, a model API key, and
    a random marker standing for whatever else it holds."""
    values = {
        "AIRLOCK_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "OPENAI_API_KEY": f"sk-evaluator-{secrets.token_hex(16)}",
        "EVALUATOR_MARKER": f"marker-{secrets.token_hex(16)}",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def deployment(tmp_path: Path, evaluator_secrets: dict[str, str]) -> Iterator[tuple[Airlock, World, Settings]]:
    """A deployment whose master key comes from the environment (so it is the real secret, not a stand-in),
    on today's date (its background runs use the real clock)."""
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path}/airlock.db")
    assert settings.master_key is not None
    airlock = Airlock.open(settings, ManualClock(datetime.now(UTC)), must_be_initialised=False)
    airlock.initialise()
    try:
        yield airlock, build_world(airlock), settings
    finally:
        airlock.close()


@pytest.fixture
def endpoint() -> Iterator[FakeEndpoint]:
    with fake_endpoint(replaying_references(suites_cache())) as running:
        yield running


def test_a_child_of_the_evaluation_gets_only_the_variables_it_needs(
    tmp_path: Path, evaluator_secrets: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-evaluator")
    monkeypatch.setenv("INSPECT_LOG_DIR", "/somewhere/else")
    monkeypatch.setenv("LLAMA_CPP_LIB_PATH", "/opt/llama")

    environment = child_environment(tmp_path, {"XDG_DATA_HOME": str(tmp_path / "data")})

    assert not set(evaluator_secrets) & set(environment)
    assert not {"ANTHROPIC_API_KEY", "INSPECT_LOG_DIR"} & set(environment)
    assert not set(evaluator_secrets.values()) & set(environment.values())
    assert environment["PATH"] == os.environ["PATH"]
    assert environment["LLAMA_CPP_LIB_PATH"] == "/opt/llama"
    assert environment["XDG_DATA_HOME"] == str(tmp_path / "data")
    for name in ("HOME", "TMPDIR"):
        assert Path(environment[name]).parent == tmp_path
        assert Path(environment[name]).is_dir()


def test_the_worker_process_holds_none_of_the_evaluators_secrets(
    deployment: tuple[Airlock, World, Settings], endpoint: FakeEndpoint, evaluator_secrets: dict[str, str]
) -> None:
    airlock, world, settings = deployment
    review = accepted_review(airlock, world, base_url=endpoint.url)
    endpoint.hold_after = 0  # the first sample's request waits: the worker is alive while the test looks at it
    command = [sys.executable, "-m", "airlock.cli.main", "eval", "run", review, "--suite", QUICK]
    command += ["--as", world.reviewer.email]
    environment = {**os.environ, **settings.as_environment()}  # the key, as the evaluator has it
    run = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert endpoint.held.wait(timeout=WAIT_SECONDS), "the run never reached the model"
        (worker,) = processes("airlock.evals.worker", parent=run.pid)
        seen = environ_of(worker)
        endpoint.hold_after = None
        endpoint.release.set()
        _, stderr = run.communicate(timeout=WAIT_SECONDS)
    finally:
        if run.poll() is None:
            run.kill()
    assert b"INSPECT_TRACE_FILE=" in seen  # the right process was read
    for name, value in evaluator_secrets.items():
        assert value.encode() not in seen, f"{name} reached the worker"
    assert run.returncode == 0, stderr.decode()
    assert endpoint.sample_calls == SMOKE_SAMPLES  # the model's credentials reached it all the same, on its stdin


def test_a_run_started_from_the_portal_gets_the_master_key_on_a_pipe_not_in_its_environment(
    deployment: tuple[Airlock, World, Settings], endpoint: FakeEndpoint, evaluator_secrets: dict[str, str]
) -> None:
    airlock, world, _ = deployment
    review = accepted_review(airlock, world, base_url=endpoint.url)
    endpoint.hold_after = 0

    airlock.evaluations.start(world.reviewer, review, QUICK)

    assert endpoint.held.wait(timeout=WAIT_SECONDS), "the background run never reached the model"
    (job,) = processes("airlock.evaluation_job", review)
    seen = environ_of(job)
    (worker,) = processes("airlock.evals.worker", parent=job)
    seen_by_worker = environ_of(worker)
    endpoint.hold_after = None
    endpoint.release.set()
    assert b"AIRLOCK_HOME=" in seen
    assert evaluator_secrets["AIRLOCK_MASTER_KEY"].encode() not in seen
    assert b"AIRLOCK_MASTER_KEY" not in seen
    for value in evaluator_secrets.values():
        assert value.encode() not in seen_by_worker
    # It opened the deployment (which needs the key) and finished the run.
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline and airlock.evaluations.in_progress(review):
        time.sleep(0.5)
    (finished,) = airlock.evaluations.status(world.reviewer, review)
    assert finished.status == "completed", finished.error


def processes(*needles: str, parent: int | None = None) -> list[int]:
    """The processes whose command line holds every needle (and whose parent is ``parent``, if given).

    A process between fork and exec still shows its parent's command line, so a match has exec'd.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            status = (entry / "status").read_text()
        except OSError:
            continue
        parent_pid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
        if all(needle in command for needle in needles) and (parent is None or parent_pid == parent):
            found.append(int(entry.name))
    return found


def environ_of(pid: int) -> bytes:
    return (Path("/proc") / str(pid) / "environ").read_bytes()
