"""Running a suite's samples against a model: the executor interface and the local executor.

The runner knows nothing of reviews, the database or the vault. It is given a run plan, a model, and the
samples still to run; it reports each sample's outcome the moment the sample ends (``on_sample``), so the
caller can record it durably before the next one ends, and it hands back Inspect's logs at the end. That
is what makes a run resumable: whatever was recorded is never run again.

The local executor runs Inspect's ``eval_set`` in a child process of its own (a worker, see
:mod:`airlock.evals.worker`), for three reasons: Inspect's process-wide state (its data directory, where
it buffers samples, and its trace log) can be pointed into a private directory without touching the
caller's; the worker dies with its parent, even on SIGKILL; and the cluster executor runs the very same
worker on each node (:mod:`airlock.evals.executors.ray_cluster`: a plan in, outcomes out). The private
directory is on tmpfs (``/dev/shm``) where there is one, so plaintext logs never reach a disk; it is
removed at the end, and one left by a killed run is swept by the next.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Self

from pydantic import BaseModel

from airlock.errors import AirlockError
from airlock.evals.challenges import Challenge, find_challenges, load_challenge
from airlock.evals.challenges.execution import cache_directory
from airlock.evals.challenges.tasks import suite_for
from airlock.evals.process_environment import child_environment
from airlock.evals.suites import RunPlan, SuiteTask

SampleKey = tuple[str, str, int]
"""(task key, sample id, epoch): one sample of a run."""
PRIVATE_PREFIX = "airlock-run-"
STDERR_TAIL = 4000


class RunnerError(AirlockError):
    kind = "evaluation_failed"


@dataclass(frozen=True)
class ModelAccess:
    """How to reach the model: its Inspect name, and the endpoint and credentials, held only in memory."""

    name: str
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSettings:
    """Concurrency and patience."""

    max_samples: int = 2
    """Samples in progress at once."""
    max_connections: int = 4
    """Requests to the model in flight at once."""
    max_sandboxes: int = 4
    """Sandboxes (agentic samples, services) alive at once."""
    model_retries: int = 3
    """Retries of a failed request to the model, with backoff, before the sample fails."""
    model_timeout: int = 120
    """Seconds before a request to the model counts as failed."""


class SampleOutcome(BaseModel):
    """What became of one sample: the verdict with its evidence, the cost, and the transcript (JSON)."""

    task: str
    sample_id: str
    epoch: int
    family: str
    variant: str
    difficulty: int
    challenge_version: str
    verdict: str
    """``exploit``, ``not proven``, or ``error`` when the sample could not run to its verdict."""
    reason: str
    partial_credit: float = 0.0
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    transcript: str = ""

    @property
    def key(self) -> SampleKey:
        return (self.task, self.sample_id, self.epoch)


@dataclass(frozen=True)
class PlannedSample:
    task: SuiteTask
    challenge: Challenge
    epoch: int

    @property
    def key(self) -> SampleKey:
        return (self.task.key, self.challenge.name, self.epoch)


@dataclass(frozen=True)
class LogFile:
    name: str
    content: bytes


class Executor(Protocol):
    def ready(self) -> None:
        """Check that the samples can run (a cluster reached, nodes admitted) before anything is recorded; raises
        :class:`RunnerError` in one sentence if not."""
        ...

    def run(
        self,
        plan: RunPlan,
        model: ModelAccess,
        pending: Sequence[SampleKey],
        settings: RunSettings,
        on_sample: Callable[[SampleOutcome], None],
    ) -> list[LogFile]:
        """Run the ``pending`` samples of ``plan``, reporting each as it ends; return Inspect's logs."""
        ...

    def close(self) -> None:
        """Release what :meth:`ready` took (a cluster's agents), where :meth:`run` did not run to release it."""
        ...


def planned_samples(plan: RunPlan) -> list[PlannedSample]:
    """Every sample of the plan, in order; generates (and validates) instances not yet in the cache."""
    samples = []
    for planned in plan.tasks:
        task = planned.task
        directory = suite_for(planned.challenge_plan())
        challenges = [load_challenge(path) for path in find_challenges(directory)]
        for epoch in range(1, plan.suite.epochs + 1):
            samples += [PlannedSample(task, challenge, epoch) for challenge in challenges]
    return samples


def content_digest(samples: Sequence[PlannedSample]) -> str:
    """One digest of every instance a run would use (each challenge's content hash, by sample): two machines that
    generate the same plan agree on it only if they generated exactly the same instances."""
    digest = hashlib.sha256()
    for sample in samples:
        digest.update(f"{sample.key}\0{sample.challenge.version or sample.challenge.content_hash()}\n".encode())
    return digest.hexdigest()


class SamplesRequest(BaseModel):
    """Samples to run, and everything needed to run them (the model's credentials included: never on disk)."""

    plan: RunPlan
    model: str
    base_url: str | None
    api_key: str | None
    model_args: dict[str, Any]
    pending: list[SampleKey]
    settings: dict[str, int]

    @classmethod
    def of(
        cls, plan: RunPlan, model: ModelAccess, pending: Sequence[SampleKey], settings: RunSettings, **more: Any
    ) -> Self:
        return cls(
            plan=plan,
            model=model.name,
            base_url=model.base_url,
            api_key=model.api_key,
            model_args=model.args,
            pending=list(pending),
            settings=settings.__dict__,
            **more,
        )

    @property
    def model_access(self) -> ModelAccess:
        return ModelAccess(self.model, self.base_url, self.api_key, self.model_args)

    @property
    def run_settings(self) -> RunSettings:
        return RunSettings(**self.settings)


class WorkerRequest(SamplesRequest):
    """What the parent sends the worker on its standard input."""

    log_dir: str


class LocalExecutor:
    """Runs the samples on this machine, in a worker process (see the module's docstring)."""

    def ready(self) -> None:
        """Nothing to check: this machine is the one that runs the samples."""

    def close(self) -> None:
        """Nothing held."""

    def run(
        self,
        plan: RunPlan,
        model: ModelAccess,
        pending: Sequence[SampleKey],
        settings: RunSettings,
        on_sample: Callable[[SampleOutcome], None],
    ) -> list[LogFile]:
        sweep_private_directories()
        private = private_directory()
        try:
            request = WorkerRequest.of(plan, model, pending, settings, log_dir=str(private / "logs"))
            self._work(request, private, on_sample)
            return _logs_in(private / "logs")
        finally:
            shutil.rmtree(private, ignore_errors=True)

    def _work(self, request: WorkerRequest, private: Path, on_sample: Callable[[SampleOutcome], None]) -> None:
        reports, report_writer = os.pipe()
        # An explicit environment, never the evaluator's own (its secrets would be readable in
        # /proc/<pid>/environ and inherited further): see airlock.evals.process_environment.
        environment = child_environment(
            private,
            {
                # Inspect's sample buffer and other state, and its trace log: into the private directory.
                "XDG_DATA_HOME": str(private / "data"),
                "INSPECT_TRACE_FILE": str(private / "trace.log"),
                # The challenge cache the parent just filled (HOME moved, so it is named).
                "XDG_CACHE_HOME": str(cache_directory().parent.parent.resolve()),
                "AIRLOCK_WORKER_REPORTS": str(report_writer),
                "AIRLOCK_WORKER_PARENT": str(os.getpid()),
            },
        )
        worker = subprocess.Popen(
            [sys.executable, "-m", "airlock.evals.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=environment,
            # Inspect reads a .env file from its working directory and every directory above it.
            cwd=private,
            pass_fds=(report_writer,),
        )
        os.close(report_writer)
        stderr: list[bytes] = []
        drain = threading.Thread(target=_drain, args=(worker.stderr, stderr), daemon=True)
        drain.start()
        assert worker.stdin is not None
        try:
            worker.stdin.write(request.model_dump_json().encode())
            worker.stdin.close()
            failure = None
            with os.fdopen(reports, "rb") as lines:
                for line in lines:
                    message = json.loads(line)
                    if "sample" in message:
                        on_sample(SampleOutcome.model_validate(message["sample"]))
                    elif "error" in message:
                        failure = str(message["error"])
        except BaseException:
            worker.kill()
            raise
        finally:
            code = worker.wait()
            drain.join(timeout=5)
        if failure is not None:
            raise RunnerError(failure, "Fix what it names and run the same command again: finished samples are kept.")
        if code != 0:
            tail = b"".join(stderr).decode("utf-8", "replace").strip().splitlines()
            last = tail[-1] if tail else f"exit status {code}"
            raise RunnerError(
                f"The evaluation worker stopped unexpectedly ({last}).",
                "Run the same command again: finished samples are kept and only the rest is run.",
            )


def _drain(stream: Any, into: list[bytes]) -> None:
    total = 0
    for chunk in iter(lambda: stream.read(4096), b""):
        into.append(chunk)
        total += len(chunk)
        while total > STDERR_TAIL and len(into) > 1:
            total -= len(into.pop(0))


def _logs_in(directory: Path) -> list[LogFile]:
    if not directory.is_dir():
        return []
    return [
        LogFile(str(path.relative_to(directory)), path.read_bytes())
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.suffix in (".eval", ".json")
    ]


def private_base() -> Path:
    """Where private directories go: tmpfs if the machine has one we may write, else the temporary directory."""
    shm = Path("/dev/shm")  # noqa: S108 (a tmpfs, used through mkdtemp: private, unpredictable names)
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm
    return Path(tempfile.gettempdir())


def private_directory() -> Path:
    return Path(tempfile.mkdtemp(prefix=f"{PRIVATE_PREFIX}{os.getpid()}-", dir=private_base()))


def sweep_private_directories() -> list[Path]:
    """Remove private directories that runs killed before they could clean up left behind."""
    removed = []
    for path in private_base().glob(f"{PRIVATE_PREFIX}*"):
        pid = path.name.removeprefix(PRIVATE_PREFIX).split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
