"""Cluster benchmark: samples per minute on a local Ray cluster of 1, 2 and 4 worker nodes, against the local
executor in the same run, and what the cluster adds per sample.

Run: ``.venv/bin/python bench/cluster.py [--samples-per-family 4] [--nodes 1 2 4]``. It starts a real Ray cluster
on loopback (a head and N worker nodes on this machine, with ``ray start``, token authentication on), a fake
OpenAI-compatible endpoint on loopback that answers every sample with its reference solution (the one fake the
tests allow, standing for a remote model), and a temporary deployment; then it runs one suite (one-shot, tier 1 of
every family, no baselines) with the same seeds:

* with the local executor (one worker process on this machine): the baseline;
* with ``RayExecutor`` on clusters of 1, 2 and 4 worker nodes, each node offering one ``bwrap`` slot.

It prints samples per minute for each, the ratio to the local executor, and the scheduling overhead per sample:
(Ray run on one node - local run) / samples, that is everything the cluster adds on the same hardware (joining the
cluster, starting the agents, sealing and moving every request, outcome and log, one worker start per shard).
Aim: under 50 ms per sample. Nodes on one 2-core machine share its cores: more nodes cannot run faster here, and
the figures for 2 and 4 nodes measure the cost of spreading, not the gain of real hosts.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.fake_openai import fake_endpoint, replaying_references
from tests.support.ray_cluster import cluster_environment, local_ray_cluster, new_token
from tests.support.world import World, build_world

from airlock.app import Airlock
from airlock.clock import SystemClock
from airlock.config import Settings
from airlock.evals.runner import LocalExecutor
from airlock.review import SubmissionRequest

MODEL = "openai-api/fakelab/frontier-mini"
FAMILIES = ("memory-corruption", "logic-constraint", "web-injection")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples-per-family", type=int, default=8)
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 4])
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="airlock-bench-cluster-") as scratch:
        root = Path(scratch)
        os.environ.setdefault("XDG_CACHE_HOME", str(root / "cache"))
        # The driver (this process) reads the cluster's token once: every cluster of the benchmark shares one.
        token = new_token(root / "ray-token")
        os.environ.update(cluster_environment(token))
        suite = root / "bench.yaml"
        suite.write_text(
            yaml.safe_dump(
                {
                    "name": "cluster-bench",
                    "description": "Benchmark: one-shot, tier 1 of every family.",
                    "tasks": [
                        {"family": family, "tiers": [1], "count": arguments.samples_per_family, "mode": "oneshot"}
                        for family in FAMILIES
                    ],
                    "epochs": 1,
                    "budget": {"max_tokens": 256, "message_limit": 10, "time_limit": 300},
                    "baselines": [],
                }
            )
        )
        settings = Settings(home=root / "home", database_url=f"sqlite:///{root}/airlock.db")
        airlock = Airlock.open(settings, SystemClock(), must_be_initialised=False)
        airlock.initialise()
        world = build_world(airlock)
        cache = Path(os.environ["XDG_CACHE_HOME"]) / "airlock" / "suites"
        try:
            with fake_endpoint(replaying_references(cache)) as endpoint:
                first = _review(airlock, world, endpoint.url)
                # The instances are generated (and validated) once, by this run's driver, before anything is timed.
                status = airlock.evaluations.run(world.lead, first, str(suite), executor=LocalExecutor())
                samples = status.samples_total
                local = _timed_local(airlock, world, endpoint.url, str(suite), first)
                print(f"{samples} samples (one-shot, tier 1 of {len(FAMILIES)} families), fake model on loopback:")
                print(f"  local executor: {local:.1f} s = {samples / local * 60:.0f} samples/min (baseline)")
                for nodes in arguments.nodes:
                    joined, seconds = _timed_cluster(airlock, world, endpoint.url, str(suite), first, root, nodes)
                    print(
                        f"  Ray, {nodes} node{'s' if nodes > 1 else ''}: {seconds:.1f} s = "
                        f"{samples / seconds * 60:.0f} samples/min ({local / seconds:.2f}x the local executor); "
                        f"of which joining the cluster and starting the agents {joined:.1f} s"
                    )
                    if nodes == 1:
                        overhead = (seconds - joined - local) / samples
                        print(
                            "  scheduling overhead per sample, once joined ((Ray on 1 node - joining - local) / "
                            f"samples): {overhead * 1000:.0f} ms (aim: under 50 ms)"
                        )
        finally:
            airlock.close()
    return 0


def _review(airlock: Airlock, world: World, url: str) -> str:
    detail = airlock.submissions.submit(
        world.acme_admin,
        SubmissionRequest(
            model=MODEL,
            model_version="1",
            planned_release_date=datetime.now(UTC).date() + timedelta(days=40),
            model_card="bench",
            base_url=url,
            endpoint_credentials="sk-bench",
        ),
    )
    airlock.reviews.accept(world.lead, detail.id)
    return detail.id


def _timed_local(airlock: Airlock, world: World, url: str, suite: str, first: str) -> float:
    review = _review(airlock, world, url)
    return _in_a_process_of_its_own(airlock, world, review, first, suite, None)[1]


def _timed_cluster(
    airlock: Airlock, world: World, url: str, suite: str, first: str, root: Path, nodes: int
) -> tuple[float, float]:
    review = _review(airlock, world, url)
    scratch = root / f"ray-{nodes}"
    scratch.mkdir()
    with local_ray_cluster(scratch, workers=nodes, token_file=root / "ray-token") as cluster:
        return _in_a_process_of_its_own(airlock, world, review, first, suite, cluster.address)


def _in_a_process_of_its_own(
    airlock: Airlock, world: World, review: str, first: str, suite: str, address: str | None
) -> tuple[float, float]:
    """Time a run in a fresh process, as `airlock eval run` is one (the baseline too, so that both pay for the same
    first imports): a process that joined a Ray cluster keeps Ray's client, which ends the process a minute after
    that cluster is gone."""
    settings = airlock.context.settings
    arguments = (str(settings.home), str(settings.database_url), world.lead.email, review, first, suite, address)
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as child:
        return child.submit(_drive, *arguments).result()


def _drive(
    home: str, database_url: str, lead: str, review: str, first: str, suite: str, address: str | None
) -> tuple[float, float]:
    """In the child: join the cluster and start its agents (timed apart), then run; the seconds of both."""
    from airlock.evals.executors.ray_cluster import RayExecutor

    airlock = Airlock.open(Settings(home=Path(home), database_url=database_url), SystemClock())
    try:
        executor = LocalExecutor() if address is None else RayExecutor(address)
        started = time.perf_counter()
        executor.ready()
        joined = time.perf_counter() - started
        status = airlock.evaluations.run(
            airlock.directory.principal(lead), review, suite, same_instances_as=first, executor=executor
        )
        seconds = time.perf_counter() - started
    finally:
        airlock.close()
    if status.status != "completed":
        raise SystemExit(f"the run did not complete: {status.error}")
    return joined, seconds


if __name__ == "__main__":
    sys.exit(main())
