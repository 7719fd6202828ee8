"""``airlock eval run --executor ray``: a review's samples run across a real Ray cluster on loopback (a head and
worker nodes started with ``ray start``), with the verdicts the local executor gives for the same seeds; a worker
node killed mid-run loses nothing and records nothing twice; nothing readable (the endpoint's credential, the
transcripts) is left in Ray's hands; a node with another Airlock is refused before it runs anything."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from airlock.app import Airlock
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.evals.challenges import find_challenges, load_challenge
from airlock.review import SubmissionRequest
from airlock.review.models import EvalRun, Review, SampleVerdict
from tests.support.cli import Cli
from tests.support.fake_openai import FakeEndpoint, Policy, fake_endpoint, replaying_references
from tests.support.ray_cluster import LocalRayCluster, local_ray_cluster
from tests.support.world import World, build_world, database_snapshot

MODEL = "openai-api/fakelab/frontier-mini"
CREDENTIAL = "sk-cluster-credential-5f0c2a9e71d4"
UNSOLVED_FAMILY = "logic-constraint"
SAMPLES = 6


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRayCluster]:
    with local_ray_cluster(tmp_path_factory.mktemp("ray"), workers=2) as running:
        yield running


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Airlock, World, Settings]]:
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path}/airlock.db")
    airlock = Airlock.open(settings, ManualClock(datetime.now(UTC)), must_be_initialised=False)
    airlock.initialise()
    try:
        yield airlock, build_world(airlock), settings
    finally:
        airlock.close()


@pytest.fixture
def suite(tmp_path: Path) -> str:
    """The quick suite (one instance of each family), two epochs, no baselines: six samples of the model."""
    quick = yaml.safe_load((Path(__file__).parent / "support" / "suites" / "quick.yaml").read_text())
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump({**quick, "name": "cluster", "epochs": 2, "baselines": []}))
    return str(path)


def suites_cache() -> Path:
    return Path(os.environ["XDG_CACHE_HOME"]) / "airlock" / "suites"


def all_but_one_family(suites: Path) -> Policy:
    """Replays every reference solution except for one family's, which it cannot solve: mixed verdicts."""
    replay = replaying_references(suites)

    def policy(messages: list[dict[str, Any]]) -> str:
        text = json.dumps(messages)
        for directory in find_challenges(suites):
            challenge = load_challenge(directory)
            if challenge.canary in text and challenge.family == UNSOLVED_FAMILY:
                return "I do not know."
        return replay(messages)

    return policy


@pytest.fixture
def endpoint() -> Iterator[FakeEndpoint]:
    with fake_endpoint(all_but_one_family(suites_cache())) as running:
        yield running


def accepted_review(airlock: Airlock, world: World, base_url: str) -> str:
    detail = airlock.submissions.submit(
        world.acme_admin,
        SubmissionRequest(
            model=MODEL,
            model_version="1",
            planned_release_date=airlock.clock.now().date() + timedelta(days=40),
            model_card="card",
            base_url=base_url,
            endpoint_credentials=CREDENTIAL,
        ),
    )
    airlock.reviews.accept(world.lead, detail.id)
    airlock.reviews.assign(world.lead, detail.id, world.reviewer.email)
    return detail.id


def cli(airlock: Airlock, settings: Settings) -> Cli:
    assert isinstance(airlock.clock, ManualClock)
    return Cli(settings, airlock.clock)


def verdicts(airlock: Airlock, review: str) -> dict[tuple[str, str, int], str]:
    with airlock.database.transaction(read_only=True) as session:
        rows = session.scalars(
            select(SampleVerdict)
            .join(EvalRun, EvalRun.id == SampleVerdict.run_id)
            .join(Review, Review.id == EvalRun.review_id)
            .where(Review.public_id == review, SampleVerdict.subject == "model")
        )
        return {(row.task, row.sample_id, row.epoch): row.verdict for row in rows}


def airlock_process(*arguments: str) -> list[str]:
    """``airlock ARGUMENTS`` as the evaluator runs it: a process of its own (a process that joined a Ray cluster
    keeps Ray's client, which ends the process a minute after the cluster is gone: never this test's process)."""
    return [sys.executable, "-m", "airlock.cli.main", *arguments]


def environment(settings: Settings, cluster: LocalRayCluster) -> dict[str, str]:
    return {
        **os.environ,
        **cluster.environment,
        "AIRLOCK_HOME": str(settings.home),
        "AIRLOCK_DATABASE_URL": str(settings.database_url),
    }


def run_on_cluster(settings: Settings, cluster: LocalRayCluster, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        airlock_process(*arguments, "--executor", "ray", "--address", cluster.address),
        env=environment(settings, cluster),
        capture_output=True,
        text=True,
        timeout=500,
        check=False,
    )


def files_holding(root: Path, markers: list[bytes]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                data = path.read_bytes()
            except OSError:
                continue
            found += [f"{path}: {marker!r}" for marker in markers if marker in data]
    return found


@pytest.mark.timeout(600)  # two runs of the suite: 20 s alone, 40 to 135 s under load
def test_a_run_on_the_cluster_gets_the_local_verdicts_for_the_same_seeds_and_leaves_ray_nothing_readable(
    deployment: tuple[Airlock, World, Settings], endpoint: FakeEndpoint, cluster: LocalRayCluster, suite: str
) -> None:
    airlock, world, settings = deployment
    here = accepted_review(airlock, world, endpoint.url)
    there = accepted_review(airlock, world, endpoint.url)
    locally = cli(airlock, settings)("eval", "run", here, "--suite", suite, "--as", world.lead.email, "--json")
    assert locally.exit_code == 0, locally.stderr

    outcome = run_on_cluster(
        settings,
        cluster,
        "eval",
        "run",
        there,
        "--suite",
        suite,
        "--same-instances-as",
        here,
        "--as",
        world.lead.email,
        "--json",
    )

    assert outcome.returncode == 0, outcome.stderr
    assert json.loads(outcome.stdout)["status"] == "completed"
    expected = verdicts(airlock, here)
    assert len(expected) == SAMPLES
    assert verdicts(airlock, there) == expected
    assert set(expected.values()) == {"exploit", "not proven"}, "the policy should solve some samples and not others"
    # The run's transcripts came back whole, through the sealed channel, into the vault.
    transcript = airlock.reviews.read_content(world.lead, there, "eval_transcript", purpose="test")
    canaries = sorted({load_challenge(path).canary.encode() for path in find_challenges(suites_cache())})
    assert any(canary in transcript for canary in canaries)
    # Ray's session directory (its logs, spill files, sockets' neighbours) holds none of it.
    searched = [path for path in cluster.temp_dir.rglob("*") if path.is_file()]
    assert any(path.name.startswith("python-core-worker") for path in searched), "Ray's worker logs are searched"
    assert files_holding(cluster.temp_dir, [CREDENTIAL.encode(), *canaries]) == []


@pytest.mark.timeout(600)  # 20 s alone, up to 155 s under load
def test_a_node_with_another_airlock_is_refused_before_it_runs_anything(
    deployment: tuple[Airlock, World, Settings], endpoint: FakeEndpoint, cluster: LocalRayCluster, suite: str
) -> None:
    airlock, world, settings = deployment
    # A node whose Airlock differs by one line: its Python finds a copy of the package first.
    import airlock as package

    other = settings.home.parent / "other-airlock"
    shutil.copytree(Path(package.__file__).parent, other / "airlock", ignore=shutil.ignore_patterns("__pycache__"))
    with (other / "airlock" / "errors.py").open("a") as module:
        module.write("\n# a node that was not upgraded\n")
    stale = cluster.add_worker(extra_environment={"PYTHONPATH": str(other)})
    review = accepted_review(airlock, world, endpoint.url)
    try:
        outcome = run_on_cluster(settings, cluster, "eval", "run", review, "--suite", suite, "--as", world.lead.email)
    finally:
        cluster.kill_node(stale)

    assert outcome.returncode == 0, outcome.stderr
    refused = [line for line in outcome.stderr.splitlines() if "is refused" in line]
    assert len(refused) == 1, outcome.stderr
    assert "install the same Airlock there" in refused[0]
    assert len(verdicts(airlock, review)) == SAMPLES


# 20 to 35 s alone; 40 to 215 s beside the other test processes on 2 cores (a worker start per shard, the rerun).
@pytest.mark.timeout(600)
def test_a_worker_node_killed_mid_run_loses_nothing_and_records_every_sample_once(
    deployment: tuple[Airlock, World, Settings], endpoint: FakeEndpoint, cluster: LocalRayCluster, suite: str
) -> None:
    airlock, world, settings = deployment
    review = accepted_review(airlock, world, endpoint.url)
    # Two shards of three samples, one on each worker; two samples end, every later one waits at the model with
    # its shard in flight; then the second worker dies.
    doomed = cluster.workers[1]  # the second of the two the cluster started with
    endpoint.hold_after = 2
    command = airlock_process("eval", "run", review, "--suite", suite, "--as", world.lead.email)
    command += ["--executor", "ray", "--address", cluster.address, "--json"]
    running = subprocess.Popen(
        command, env=environment(settings, cluster), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert endpoint.held.wait(timeout=240), "no sample reached the model"
        cluster.kill_node(doomed)
        endpoint.release.set()
        stdout, stderr = running.communicate(timeout=500)
    finally:
        if running.poll() is None:
            running.kill()

    assert running.returncode == 0, stderr
    assert json.loads(stdout)["status"] == "completed"
    lost = [line for line in stderr.splitlines() if "was lost" in line]
    assert len(lost) == 1, stderr
    assert "unfinished samples run again" in lost[0]
    with airlock.database.transaction(read_only=True) as session:
        keys = [
            (row.task, row.sample_id, row.epoch)
            for row in session.scalars(select(SampleVerdict).where(SampleVerdict.subject == "model"))
        ]
    assert len(keys) == len(set(keys)) == SAMPLES


def test_a_cluster_that_cannot_run_the_suite_is_refused_in_one_line_and_changes_nothing(
    deployment: tuple[Airlock, World, Settings],
    endpoint: FakeEndpoint,
    cluster: LocalRayCluster,
    suite: str,
    tmp_path: Path,
) -> None:
    airlock, world, settings = deployment
    review = accepted_review(airlock, world, endpoint.url)
    before = database_snapshot(airlock.database)
    run = cli(airlock, settings)
    arguments = ("eval", "run", review, "--suite", suite, "--as", world.lead.email)
    wrong_token = tmp_path / "not-the-token"
    wrong_token.write_text("0" * 64)

    nobody = run(*arguments, "--executor", "ray", "--address", "127.0.0.1:9")
    no_address = run(*arguments, "--executor", "ray", env={"RAY_ADDRESS": ""})
    not_an_address = run(*arguments, "--executor", "ray", "--address", "head-node")
    address_alone = run(*arguments, "--address", cluster.address)
    # Joining is tried in a process of its own: a process that once joined a Ray cluster is ended by Ray's client a
    # minute after that cluster is gone.
    other_token = subprocess.run(
        airlock_process(*arguments, "--executor", "ray", "--address", cluster.address),
        env={**environment(settings, cluster), "RAY_AUTH_TOKEN_PATH": str(wrong_token)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert nobody.exit_code == 1
    assert nobody.stderr.strip().count("\n") == 0
    assert "Nothing answers at 127.0.0.1:9" in nobody.stderr
    assert (no_address.exit_code, not_an_address.exit_code, address_alone.exit_code) == (2, 2, 2)
    assert "RAY_ADDRESS" in no_address.stderr
    assert "is not HOST:PORT" in not_an_address.stderr
    assert "--executor ray" in address_alone.stderr
    assert other_token.returncode == 1
    assert other_token.stderr.strip().splitlines() == [
        f"Error: The Ray cluster at {cluster.address} refused this process's token (none, or not the cluster's). "
        "Set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH to a copy of the cluster's token file (docs/cluster.md, "
        "step 2)."
    ]
    assert database_snapshot(airlock.database) == before
