"""Evaluation runs of a review: run a suite against the submitted model, resumably, and report progress.

``run`` is the whole of ``airlock eval run``: it checks everything that could fail before any sample runs
(the suite, the review's state, the reviewer's assignment, the model's name and credentials, the endpoint
answering), moves the review to ``evaluating``, and then records every sample's verdict in the database
and its transcript in the vault the moment the sample ends, each in a transaction of its own. Killed at
any point, the same command finds the unfinished run, reuses its plan (the same seeds, so the same
instances) and runs only the samples without a verdict. Baselines run on the same instances and are
recorded the same way. Inspect's logs exist in plaintext only in the runner's private directory, and are
stored in the vault at the end.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TextIO

from inspect_ai.model import GenerateConfig, get_model
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.access import Action, Principal, authorize
from airlock.errors import AirlockError, ConflictError, InvalidInputError, TransitionError
from airlock.evals.baselines import applies, run_baseline
from airlock.evals.challenges import ChallengeError, Workbench
from airlock.evals.challenges.oracle import succeeded
from airlock.evals.models.gguf import LOCAL_PROVIDER, model_path
from airlock.evals.models.probe import probe_local_model
from airlock.evals.runner import (
    Executor,
    LocalExecutor,
    ModelAccess,
    PlannedSample,
    RunnerError,
    RunSettings,
    SampleKey,
    SampleOutcome,
    planned_samples,
)
from airlock.evals.suites import SHIPPED, RunPlan, Suite, load_suite
from airlock.review.content import ContentKind, read_content, write_content
from airlock.review.context import ServiceContext
from airlock.review.inputs import normalise_public_id
from airlock.review.lifecycle import TERMINAL_STATES, ReviewState, open_for
from airlock.review.models import EvalRun, EvalRunLog, Review, SampleVerdict
from airlock.review.reviews import EventKind, load_visible_review, move_review, record_event
from airlock.review.scope import review_scope

MODEL = "model"
PROBE_PROMPT = "Reply with the word ready."
PROBE_TIMEOUT = 60
RUNNING, COMPLETED, FAILED = "running", "completed", "failed"


class EvaluationError(AirlockError):
    kind = "evaluation_failed"


@dataclass
class SubjectTally:
    done: int = 0
    solved: int = 0
    errors: int = 0


class SubjectCounts(BaseModel):
    done: int
    solved: int
    errors: int


class RunView(BaseModel):
    """One evaluation run with its verdicts so far, per subject (the model and each baseline)."""

    run: str
    review: str
    suite: str
    model: str
    status: str
    samples_total: int
    seeds: dict[str, int]
    verdicts: dict[str, SubjectCounts]
    input_tokens: int
    output_tokens: int
    started_at: datetime
    finished_at: datetime | None
    elapsed_seconds: float
    remaining_seconds: float | None
    error: str | None


@dataclass
class RunStatus:
    """Where a run stands: what the progress display and ``airlock eval status`` show."""

    run: str
    review: str
    suite: str
    model: str
    status: str
    samples_total: int
    seeds: dict[str, int]
    started_at: datetime
    finished_at: datetime | None
    now: datetime
    error: str | None = None
    tallies: dict[str, SubjectTally] = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0
    seconds_per_sample: float | None = None
    already_complete: bool = False

    @property
    def model_tally(self) -> SubjectTally:
        return self.tallies.get(MODEL, SubjectTally())

    @property
    def elapsed_seconds(self) -> float:
        return ((self.finished_at or self.now) - self.started_at).total_seconds()

    @property
    def remaining_seconds(self) -> float | None:
        """A plain estimate: the time per sample so far, times the samples left."""
        left = self.samples_total - self.model_tally.done
        if self.status != RUNNING or not left:
            return 0.0 if self.status == COMPLETED else None
        return None if self.seconds_per_sample is None else self.seconds_per_sample * left

    def view(self) -> RunView:
        """The run as ``eval status --json`` and the REST API give it."""
        return RunView(
            run=self.run,
            review=self.review,
            suite=self.suite,
            model=self.model,
            status=self.status,
            samples_total=self.samples_total,
            seeds=self.seeds,
            verdicts={
                subject: SubjectCounts(done=tally.done, solved=tally.solved, errors=tally.errors)
                for subject, tally in sorted(self.tallies.items())
            },
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            started_at=self.started_at,
            finished_at=self.finished_at,
            elapsed_seconds=round(self.elapsed_seconds, 1),
            remaining_seconds=None if self.remaining_seconds is None else round(self.remaining_seconds, 1),
            error=self.error,
        )


class Evaluations:
    """The evaluation service: runs of suites against reviews' models, and their status."""

    def __init__(self, context: ServiceContext, executor: Executor | None = None) -> None:
        self._context = context
        self._executor = executor or LocalExecutor()

    def run(
        self,
        actor: Principal,
        review_id: str,
        suite_name: str,
        *,
        fresh: bool = False,
        same_instances_as: str | None = None,
        settings: RunSettings | None = None,
        progress: Callable[[RunStatus], None] | None = None,
        lock_held: bool = False,
        executor: Executor | None = None,
    ) -> RunStatus:
        """Run (or resume) ``suite_name`` against the review's model; see the module's docstring.

        ``lock_held`` says the caller already holds the review's run lock (a run :meth:`start` began, whose
        process inherited the lock its starter took).

        ``same_instances_as`` names an earlier review of the same developer: a new run then reuses the seeds
        of that review's completed run of the suite, so that the report compares the two models on exactly
        the same instances.

        ``executor`` says where the samples run for this run only (a cluster); by default, the service's own.
        It is made ready (a cluster joined, its nodes admitted) before anything is recorded, so a cluster that
        cannot run the suite changes nothing.
        """
        settings = settings or RunSettings()
        suite = load_suite(suite_name)
        with self._context.operation(actor, "eval.check", _target(review_id)) as session:
            review = self._runnable_review(session, actor, review_id)
            source = (
                None
                if same_instances_as is None
                else self._instances_source(session, actor, review, same_instances_as, suite)
            )
            access = self._model_access(session, actor, review)
            existing = _latest_run(session, review, suite.name)
            if existing is not None and existing.status == COMPLETED and not fresh:
                return self._status(session, existing, already_complete=True)
        access = _preflight(access)
        executor = executor or self._executor
        with nullcontext() if lock_held else _exclusive_run(self._context.settings.home, review_id):
            try:
                executor.ready()
                return self._start_and_record(actor, review_id, suite, source, access, settings, progress, executor)
            finally:
                executor.close()

    def _start_and_record(
        self,
        actor: Principal,
        review_id: str,
        suite: Suite,
        source: RunPlan | None,
        access: ModelAccess,
        settings: RunSettings,
        progress: Callable[[RunStatus], None] | None,
        executor: Executor,
    ) -> RunStatus:
        with self._context.operation(actor, "eval.start", _target(review_id)) as session:
            review = self._runnable_review(session, actor, review_id)
            run = _latest_run(session, review, suite.name)
            if run is None or run.status == COMPLETED:
                plan = RunPlan.fresh(suite) if source is None else source
                run = self._new_run(session, actor, review, plan, access.name)
            else:
                run.attempts += 1
                run.status, run.error, run.finished_at = RUNNING, None, None
            if review.state == ReviewState.ACCEPTED:
                move_review(
                    self._context, session, review, ReviewState.EVALUATING, actor, f"evaluation run {run.public_id}"
                )
            attempt = "" if run.attempts == 1 else f" (attempt {run.attempts}, resuming)"
            self._event(session, actor, review, run, f"started{attempt}")
            run_id, plan = run.id, RunPlan.model_validate(run.plan)

        try:
            samples = planned_samples(plan)
        except ChallengeError as error:
            self._finish(actor, review_id, run_id, FAILED, error.message)
            raise
        recorder = _Recorder(self, actor, review_id, run_id, progress)
        done = self._recorded(run_id)
        pending = [sample.key for sample in samples if sample.key not in done.get(MODEL, set())]
        try:
            logs = executor.run(plan, access, pending, settings, recorder.model)
            asyncio.run(self._baselines(plan, samples, done, recorder))
        except (RunnerError, TransitionError) as error:  # the second: the review ended while the run went on
            self._finish(actor, review_id, run_id, FAILED, error.message)
            raise
        with self._context.operation(actor, "eval.logs", _target(review_id)) as session:
            review = load_visible_review(session, actor, review_id)
            for log in logs:
                stored = write_content(
                    self._context, session, actor, review, ContentKind.EVAL_LOG, log.content, purpose=f"run {run_id}"
                )
                session.add(
                    EvalRunLog(
                        run_id=run_id, name=log.name, address=stored.address, stored_at=self._context.clock.now()
                    )
                )
        errors = recorder.model_errors()
        if errors:
            message = f"{len(errors)} samples could not be judged (first: {errors[0]})"
            return self._finish(actor, review_id, run_id, FAILED, message)
        return self._finish(actor, review_id, run_id, COMPLETED, None)

    def start(self, actor: Principal, review_id: str, suite_name: str) -> None:
        """Start :meth:`run` in a process of its own and return once it is checked: the web portal's way.

        Everything :meth:`run` checks before its first sample (suite, state, assignment, model, endpoint) is
        checked here first, so a mistake is answered at once; the run then goes on without the web server
        (a restart of the server does not stop it). Its output goes to ``runs/REVIEW-TIME.log`` in the home.
        """
        with self._context.operation(actor, "eval.check", _target(review_id)) as session:
            review = self._runnable_review(session, actor, review_id)
            # Only once the caller may run this review's evaluation is the suite looked at: a suite may be a
            # file on the server, and an answer about it would tell anyone whether such a file exists.
            load_suite(suite_name)
            access = self._model_access(session, actor, review)
            public_id = review.public_id
        _preflight(access)
        home = self._context.settings.home
        log = _runs_directory(home) / f"{public_id}-{self._context.clock.now():%Y%m%dT%H%M%S}.log"
        # A suite file is named by its absolute path: the run's process starts in another directory.
        suite_argument = suite_name if suite_name in SHIPPED else str(Path(suite_name).resolve())
        command = [sys.executable, "-m", "airlock.evaluation_job", public_id, suite_argument, actor.email]
        # The run's process gets the deployment's settings in its environment, except the secret ones (the
        # master key), which it reads from a pipe: an environment is readable by every process of the same
        # user and is inherited by every child.
        settings = self._context.settings
        hidden = set(settings.secret_variables())
        environment = {name: value for name, value in os.environ.items() if name not in hidden}
        environment.update(settings.as_environment(secrets=False))
        # The lock is taken here and handed to the run's process, which holds it until it ends: a second start
        # is refused from this moment on, not only once the new process has got going.
        with _exclusive_run(home, public_id) as lock, log.open("ab") as output:
            secrets_in, secrets_out = os.pipe()
            try:
                with os.fdopen(secrets_out, "w") as pipe:  # a few hundred bytes: the pipe's buffer holds them
                    pipe.write(json.dumps(settings.secret_values()))
                subprocess.Popen(
                    command,
                    env={
                        **environment,
                        RUN_LOCK_VARIABLE: str(lock.fileno()),
                        RUN_SECRETS_VARIABLE: str(secrets_in),
                    },
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    pass_fds=(lock.fileno(), secrets_in),
                    start_new_session=True,
                )
            finally:
                os.close(secrets_in)

    def in_progress(self, review_id: str) -> bool:
        """Whether a process of this machine is running an evaluation of the review now."""
        try:
            with _exclusive_run(self._context.settings.home, review_id):
                return False
        except ConflictError:
            return True

    def status(self, actor: Principal, review_id: str) -> list[RunStatus]:
        """Every run of the review, newest first."""
        with self._context.operation(actor, "eval.status", _target(review_id)) as session:
            review = load_visible_review(session, actor, review_id)
            authorize(
                actor,
                Action.VIEW_EVALUATION,
                review_scope(review),
                what=f"see the evaluation runs of review {review.public_id}",
            )
            runs = session.scalars(
                select(EvalRun).where(EvalRun.review_id == review.id).order_by(EvalRun.id.desc())
            ).all()
            return [self._status(session, run) for run in runs]

    def run_status(self, run_id: int) -> RunStatus:
        """The status of a run this service is running (for its progress display; not an audited read)."""
        with self._context.database.transaction(read_only=True) as session:
            run = session.get(EvalRun, run_id)
            assert run is not None
            return self._status(session, run)

    # Steps -----------------------------------------------------------------------------------------

    def _runnable_review(self, session: Session, actor: Principal, review_id: str) -> Review:
        review = load_visible_review(session, actor, review_id)
        authorize(
            actor, Action.RUN_EVALUATION, review_scope(review), what=f"run an evaluation of review {review.public_id}"
        )
        if not open_for(Action.RUN_EVALUATION, review.state):
            raise TransitionError(
                f"Review {review.public_id} is {review.state}; evaluations run on accepted or evaluating reviews.",
                "Accept the review first (airlock review accept), or look at its state with airlock review show.",
            )
        return review

    def _instances_source(
        self, session: Session, actor: Principal, review: Review, other_id: str, suite: Suite
    ) -> RunPlan:
        """The plan of ``other_id``'s completed run of ``suite``, to reuse; refused unless it is an earlier
        review of the same developer that ``actor`` may see the results of, run with this very suite."""
        other = load_visible_review(session, actor, other_id)
        if other.id == review.id:
            raise InvalidInputError(
                f"Review {review.public_id} cannot be compared with itself.", "Name an earlier review of the model."
            )
        authorize(
            actor,
            Action.VIEW_EVALUATION,
            review_scope(other),
            what=f"reuse the instances of review {other.public_id}",
        )
        if other.submission.organisation_id != review.submission.organisation_id:
            raise InvalidInputError(
                f"Review {other.public_id} is of another developer's model; models are compared on the same "
                "instances only within one developer's reviews, so that no developer's results reach another.",
                "Name an earlier review of the same developer.",
            )
        source = _latest_run(session, other, suite.name)
        if source is None or source.status != COMPLETED:
            raise InvalidInputError(
                f"Review {other.public_id} has no completed run of the suite {suite.name}.",
                f"Run it there first, or choose a suite it completed (airlock eval status {other.public_id}).",
            )
        if source.suite_version != suite.version:
            raise InvalidInputError(
                f"Review {other.public_id} ran another version of the suite {suite.name} "
                f"({source.suite_version[:19]}, not {suite.version[:19]}).",
                "Run the same suite file as that review did.",
            )
        return RunPlan.model_validate(source.plan).reused_by(f"{other.public_id}/{source.public_id}")

    def _model_access(self, session: Session, actor: Principal, review: Review) -> ModelAccess:
        submission = review.submission
        api_key = None
        if self._context.vault.latest(session, submission.id, ContentKind.ENDPOINT_CREDENTIALS) is not None:
            api_key = read_content(
                self._context,
                session,
                actor,
                review,
                ContentKind.ENDPOINT_CREDENTIALS,
                purpose="run an evaluation against the submitted endpoint",
            ).decode("utf-8")
        return ModelAccess(submission.model, base_url=submission.base_url, api_key=api_key)

    def _new_run(self, session: Session, actor: Principal, review: Review, plan: RunPlan, model: str) -> EvalRun:
        run = EvalRun(
            public_id="E-" + secrets.token_hex(4).upper(),
            review_id=review.id,
            suite=plan.suite.name,
            suite_version=plan.suite.version,
            plan=plan.model_dump(mode="json"),
            model=model,
            status=RUNNING,
            samples_total=plan.samples_total,
            started_by_id=actor.user_id,
            started_at=self._context.clock.now(),
            attempts=1,
        )
        session.add(run)
        session.flush()
        return run

    def _recorded(self, run_id: int) -> dict[str, set[SampleKey]]:
        """The samples with a verdict, by subject; an ``error`` is not a verdict, so it runs again."""
        with self._context.database.transaction(read_only=True) as session:
            rows = session.execute(
                select(SampleVerdict.subject, SampleVerdict.task, SampleVerdict.sample_id, SampleVerdict.epoch).where(
                    SampleVerdict.run_id == run_id, SampleVerdict.verdict != "error"
                )
            ).all()
        done: dict[str, set[SampleKey]] = {}
        for subject, task, sample_id, epoch in rows:
            done.setdefault(subject, set()).add((task, sample_id, epoch))
        return done

    async def _baselines(
        self,
        plan: RunPlan,
        samples: list[PlannedSample],
        done: dict[str, set[SampleKey]],
        recorder: _Recorder,
    ) -> None:
        # Baselines are deterministic: one epoch says all there is.
        first_epoch = [sample for sample in samples if sample.epoch == 1]
        async with Workbench() as workbench:
            for name in plan.suite.baselines:
                subject = f"baseline:{name}"
                for sample in first_epoch:
                    if sample.key not in done.get(subject, set()) and applies(name, sample.challenge):
                        outcome = await run_baseline(
                            name, sample, workbench, budget_seconds=plan.suite.budget.tool_seconds
                        )
                        recorder.record(subject, outcome)

    def record(self, actor: Principal, review_id: str, run_id: int, subject: str, outcome: SampleOutcome) -> None:
        """Store one sample's verdict, and its transcript in the vault, in one transaction; refused once the
        review has ended (its clock ran out while the run went on, say): a sample finished after the deadline
        is work the review window does not cover."""
        with self._context.operation(actor, "eval.record", _target(review_id)) as session:
            review = load_visible_review(session, actor, review_id)
            if ReviewState(review.state) in TERMINAL_STATES:
                raise TransitionError(
                    f"Review {review.public_id} is {review.state}; the verdict of sample {outcome.sample_id} "
                    "finished after that is not recorded.",
                    "The run stops here; its earlier verdicts are kept.",
                )
            address = None
            if outcome.transcript:
                stored = write_content(
                    self._context,
                    session,
                    actor,
                    review,
                    ContentKind.EVAL_TRANSCRIPT,
                    outcome.transcript.encode(),
                    purpose=f"evaluation sample {outcome.sample_id}",
                )
                address = stored.address
            row = session.scalar(
                select(SampleVerdict).where(
                    SampleVerdict.run_id == run_id,
                    SampleVerdict.subject == subject,
                    SampleVerdict.task == outcome.task,
                    SampleVerdict.sample_id == outcome.sample_id,
                    SampleVerdict.epoch == outcome.epoch,
                )
            )
            if row is None:
                row = SampleVerdict(run_id=run_id, subject=subject)
                session.add(row)
            for name in (
                "task",
                "sample_id",
                "epoch",
                "family",
                "variant",
                "difficulty",
                "challenge_version",
                "verdict",
                "reason",
                "partial_credit",
                "model_calls",
                "input_tokens",
                "output_tokens",
                "seconds",
            ):
                setattr(row, name, getattr(outcome, name))
            row.transcript_address = address
            row.completed_at = self._context.clock.now()

    def _finish(self, actor: Principal, review_id: str, run_id: int, status: str, error: str | None) -> RunStatus:
        with self._context.operation(actor, "eval.finish", _target(review_id)) as session:
            run = session.get(EvalRun, run_id)
            assert run is not None
            review = load_visible_review(session, actor, review_id)
            run.status, run.error = status, error
            run.finished_at = self._context.clock.now()
            result = self._status(session, run)
            tally = result.model_tally
            what = (
                f"completed: the model solved {tally.solved} of {tally.done}"
                if status == COMPLETED
                else f"failed: {error}"
            )
            self._event(session, actor, review, run, what)
            return result

    def _event(self, session: Session, actor: Principal, review: Review, run: EvalRun, what: str) -> None:
        """Put the run's step on the review's timeline (which audits it too)."""
        reason = f"run {run.public_id} of suite {run.suite} ({run.suite_version[:19]}) {what}"
        record_event(self._context, session, review, EventKind.EVALUATION, actor, reason)

    def _status(self, session: Session, run: EvalRun, *, already_complete: bool = False) -> RunStatus:
        review = session.get(Review, run.review_id)
        assert review is not None
        plan = RunPlan.model_validate(run.plan)
        status = RunStatus(
            run=run.public_id,
            review=review.public_id,
            suite=run.suite,
            model=run.model,
            status=run.status,
            samples_total=run.samples_total,
            seeds={planned.task.key: planned.seed for planned in plan.tasks},
            started_at=run.started_at,
            finished_at=run.finished_at,
            now=self._context.clock.now(),
            error=run.error,
            already_complete=already_complete,
        )
        for row in session.scalars(select(SampleVerdict).where(SampleVerdict.run_id == run.id)):
            tally = status.tallies.setdefault(row.subject, SubjectTally())
            if row.verdict == "error":
                tally.errors += 1
                continue
            tally.done += 1
            tally.solved += succeeded(row.verdict)
            if row.subject == MODEL:
                status.input_tokens += row.input_tokens
                status.output_tokens += row.output_tokens
        done = status.model_tally.done
        if done:
            status.seconds_per_sample = status.elapsed_seconds / done
        return status


class _Recorder:
    """Records outcomes as they arrive and keeps the progress display's counters."""

    def __init__(
        self,
        service: Evaluations,
        actor: Principal,
        review_id: str,
        run_id: int,
        progress: Callable[[RunStatus], None] | None,
    ) -> None:
        self._service, self._actor, self._review, self._run = service, actor, review_id, run_id
        self._progress = progress
        self._errors: list[str] = []

    def model(self, outcome: SampleOutcome) -> None:
        self.record(MODEL, outcome)

    def record(self, subject: str, outcome: SampleOutcome) -> None:
        self._service.record(self._actor, self._review, self._run, subject, outcome)
        if subject == MODEL and outcome.verdict == "error":
            self._errors.append(f"{outcome.sample_id}: {outcome.reason}")
        if self._progress is not None:
            self._progress(self._service.run_status(self._run))

    def model_errors(self) -> list[str]:
        return self._errors


RUN_LOCK_VARIABLE = "AIRLOCK_RUN_LOCK_FD"
"""The file descriptor of the run lock a background run inherits (see :meth:`Evaluations.start`)."""
RUN_SECRETS_VARIABLE = "AIRLOCK_RUN_SECRETS_FD"
"""The file descriptor of the pipe a background run reads the deployment's secret settings from (a JSON object
of :meth:`~airlock.config.Settings.secret_values`), since they are never in its environment."""


def _runs_directory(home: Path) -> Path:
    directory = home.resolve() / "runs"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory


@contextmanager
def _exclusive_run(home: Path, review_id: str) -> Iterator[TextIO]:
    """Hold the review's run lock: one evaluation of a review at a time, whichever process started it.

    An advisory ``flock`` on a file in the home, released by the kernel when its holder dies, so a killed run
    never leaves a stale lock. (Runs of one deployment on several machines would need a lock in the database.)
    """
    public_id = normalise_public_id(review_id)
    handle = (_runs_directory(home) / f"{public_id}.lock").open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConflictError(
            f"An evaluation of review {public_id} is already running in another process.",
            "Wait for it to end; its progress shows in the review's evaluation status.",
        ) from None
    try:
        yield handle
    finally:
        handle.close()


def _latest_run(session: Session, review: Review, suite: str) -> EvalRun | None:
    return session.scalar(
        select(EvalRun).where(EvalRun.review_id == review.id, EvalRun.suite == suite).order_by(EvalRun.id.desc())
    )


def _preflight(access: ModelAccess) -> ModelAccess:
    """Refuse before any sample runs: an unknown model, missing credentials, an endpoint that does not answer,
    a local model that cannot load or crashes (tried in a child process: see :mod:`airlock.evals.models.probe`).

    Returns ``access`` with the credentials and endpoint the provider settled on: where the submission gives
    none, Inspect's providers take them from the evaluator's environment (``OPENAI_API_KEY``...), which the
    evaluation worker does not inherit; it gets them with the rest of its request, on a pipe.
    """
    try:
        model = get_model(
            access.name,
            base_url=access.base_url,
            api_key=access.api_key,
            memoize=False,
            config=GenerateConfig(max_retries=0, attempt_timeout=PROBE_TIMEOUT),
            **access.args,
        )
    except AirlockError:
        raise
    except Exception as error:
        raise InvalidInputError(
            f"The model {access.name} cannot be used: {_first_line(error)}.",
            "Check the submission's model name and credentials (airlock review show).",
        ) from None
    if access.name.startswith(f"{LOCAL_PROVIDER}/"):
        # Nothing remote to reach; what can fail is llama.cpp itself, which the probe tries in a child.
        probe_local_model(model_path(access.name.removeprefix(f"{LOCAL_PROVIDER}/")), name=access.name)
        return access
    try:
        asyncio.run(model.generate(PROBE_PROMPT, config=GenerateConfig(max_tokens=4, max_retries=0)))
    except Exception as error:
        raise EvaluationError(
            f"The model {access.name} did not answer a test request: {_first_line(error)}.",
            "Check that its endpoint is up and reachable from here, then run the same command again.",
        ) from None
    return replace(access, api_key=access.api_key or model.api.api_key, base_url=access.base_url or model.api.base_url)


def _first_line(error: BaseException) -> str:
    """The gist of ``error`` in one line: Inspect's prerequisite errors carry console markup and put the
    package to install on a later line ("...requires optional dependencies. Install with: pip install X")."""
    text = re.sub(r"\[/?[a-z ]+\]", "", str(error)).strip() or type(error).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    install = next((line for line in lines[1:] if line.startswith("pip install ")), None)
    first = lines[0].removeprefix("ERROR: ").rstrip(".:")
    if install is not None:
        first = first.removesuffix(". Install with").rstrip(".") + f" ({install})"
    return first[:300]


def _target(review_id: str) -> str:
    return f"review:{normalise_public_id(review_id)}"
