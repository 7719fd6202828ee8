"""The evidence behind the numbers: each sample of an evaluation run with its verdict, its transcript laid out
for reading, a run's Inspect logs, and a lead reviewer's invalidation of a sample that went wrong for a reason
outside the model.

Who may do what is the access policy's answer. A run's samples and their verdicts are results
(``VIEW_EVALUATION``: the reviewers assigned to the review). A transcript or a log is content of the submission,
decrypted on demand through the content gate (``READ_CONTENT`` of ``eval_transcript`` or ``eval_log``), so every
read is an entry in the audit log. Invalidating a sample, and reinstating it, is ``INVALIDATE_SAMPLE`` (an
assigned lead reviewer), while the review's findings can still change (until the final report).

A run is named by its public id (``E-1A2B3C4D``), unique in the deployment; the front ends that also name the
review (the pages, the REST API) pass it, and a run of another review is answered as no run at all. A sample is
named by its run, its id and its epoch, and by its task where the same id is in two of the run's tasks.

Decisions where the issue was silent:

* Only the model's samples are invalidated: a baseline's verdict is a check on the instance, and an instance a
  baseline shows broken is excluded from every figure already.
* A sample that could not be judged (``error``) is not invalidated: it is out of every figure already, and a
  resumed run runs it again.
* An invalidation is withdrawn by reinstating the sample, with a reason: a lead reviewer can be wrong too, and
  the figures should not keep a mistake. The sample's row holds the invalidation in force; the review's timeline
  and the audit log keep every invalidation and reinstatement, with who and why.
* An invalidated sample is not run again: its run is what was done, and a new run (``--fresh``) gives new
  instances.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.access import Action, Principal, authorize, is_permitted
from airlock.errors import InvalidInputError, NotFoundError, TransitionError
from airlock.evals.task_keys import parse_task_key
from airlock.reports.evidence import (
    TranscriptMessage,
    judged_score,
    readable_poc,
    sample_record,
    submitted_poc,
    transcript_messages,
)
from airlock.reports.model import SampleRef
from airlock.review.content import ContentKind, read_content_at
from airlock.review.context import ServiceContext
from airlock.review.inputs import check_characters, normalise_public_id, shorten
from airlock.review.lifecycle import open_for
from airlock.review.models import EvalRun, EvalRunLog, Review, SampleVerdict
from airlock.review.reviews import EventKind, load_visible_review, record_event
from airlock.review.scope import review_scope

MODEL = "model"
MAX_REASON = 2000
SHOWN_POC_BYTES = 65_536
"""How much of a proof of concept the viewer shows (the rest is counted)."""
_SAMPLE_TEXT = re.compile(r"^(?P<run>[^/]+)/(?:(?P<task>.+)/)?(?P<sample>[^/]+)/(?P<epoch>\d+)$")


class Invalidation(BaseModel):
    """Why a sample is left out of every figure: a lead reviewer's reason, who, when."""

    reason: str
    by: str
    at: datetime


class SampleSummary(BaseModel):
    """A sample of the model in a run, as a list shows it: its key, its instance and its verdict; no content."""

    review: str
    run: str
    task: str
    sample: str
    epoch: int
    family: str
    variant: str
    tier: int
    mode: str
    verdict: str
    """``exploit``, ``not proven``, ``failed`` or ``error``."""
    reason: str
    """The oracle's reason for the verdict."""
    partial_credit: float
    model_calls: int
    input_tokens: int
    output_tokens: int
    seconds: float
    completed_at: datetime
    invalidation: Invalidation | None

    @property
    def ref(self) -> SampleRef:
        return SampleRef(run=self.run, task=self.task, sample=self.sample, epoch=self.epoch)


class RunSamples(BaseModel):
    """The model's samples of one run, in the order of the run's tasks."""

    review: str
    run: str
    suite: str
    model: str
    status: str
    samples: list[SampleSummary]
    may_invalidate: bool
    """Whether the caller may invalidate or reinstate the run's samples now (the policy and the review's state)."""


class OracleFindings(BaseModel):
    """What the oracle observed when it judged the proof of concept (empty where it judged none)."""

    bug_class: str | None
    function: str | None
    location: str | None
    stages_reached: list[str]
    """The parser's stages the input got through, as the target (not the model) reported them."""
    evidence: str
    """What the verdict rests on: the sanitizer's report, the service's state, the secret read."""


class SampleView(SampleSummary):
    """One sample as the transcript viewer shows it: the verdict with the oracle's evidence, the proof of concept,
    and the conversation (every message, tool call and tool output). Every text in it is the model's or derived
    from what the model did: a front end shows it as text, never as markup."""

    oracle: OracleFindings
    proof_of_concept: str | None
    """The proof of concept the oracle judged, as text or hex, cut at 64 KiB; None where there was none."""
    proof_of_concept_bytes: int
    messages: list[TranscriptMessage]
    note: str | None
    """What the viewer should say first, when the transcript is missing or the sample ended in an error."""
    may_invalidate: bool


@dataclass(frozen=True)
class SampleTranscript:
    """A sample's verdict and its transcript as stored, for a service that takes evidence from it."""

    review: str
    run: str
    sample: str
    epoch: int
    family: str
    model: str
    verdict: str
    reason: str
    text: str | None


@dataclass(frozen=True)
class ExportedLog:
    name: str
    """The log's path within the run's log directory (``epoch-1/....eval``): keep it, ``inspect view`` reads it."""
    data: bytes


def parse_sample(text: str) -> tuple[str, str | None, str, int]:
    """``RUN/TASK/SAMPLE/EPOCH`` or ``RUN/SAMPLE/EPOCH`` (the task only where the id is in two tasks), as
    :attr:`SampleRef.text` writes a sample: run, task or None, sample, epoch."""
    found = _SAMPLE_TEXT.match(text.strip())
    if found is None:
        raise InvalidInputError(
            f"{shorten(text.strip())!r} does not name a sample.",
            "Write it as RUN/TASK/SAMPLE/EPOCH, as the report and `airlock eval samples RUN` print it.",
            field="samples",
        )
    return found["run"], found["task"], found["sample"], int(found["epoch"])


def model_sample(
    session: Session, review: Review, run: EvalRun, sample: str, epoch: int, task: str | None = None
) -> SampleVerdict:
    """The model's verdict on ``sample`` at ``epoch`` in ``run`` (of ``review``); a refusal in one sentence if the
    run has no such sample, or holds it in several tasks and ``task`` does not say which."""
    rows = session.scalars(
        select(SampleVerdict).where(
            SampleVerdict.run_id == run.id,
            SampleVerdict.subject == MODEL,
            SampleVerdict.sample_id == sample,
            SampleVerdict.epoch == epoch,
        )
    ).all()
    chosen = [row for row in rows if task is None or row.task == task]
    named = f"{shorten(sample, 80)}, epoch {epoch}" + ("" if task is None else f", of task {shorten(task)}")
    if not chosen:
        raise NotFoundError(
            f"Run {run.public_id} of review {review.public_id} has no sample {named}.",
            f"List the run's samples with `airlock eval samples {run.public_id}`.",
        )
    if len(chosen) > 1:
        tasks = ", ".join(sorted(row.task for row in chosen))
        raise InvalidInputError(
            f"Run {run.public_id} holds the sample {named} in several tasks ({tasks}).",
            "Say which task (--task, or RUN/TASK/SAMPLE/EPOCH).",
            field="task",
        )
    return chosen[0]


def sample_ref(row: SampleVerdict, run: str) -> SampleRef:
    return SampleRef(run=run, task=row.task, sample=row.sample_id, epoch=row.epoch)


def mode_of(task: str) -> str:
    """``oneshot`` or ``agentic``, from a task key such as ``memory-corruption/agentic-binary``."""
    return parse_task_key(task).mode


def objective_of(task: str) -> str:
    """``exploit``, ``discover`` or ``patch``, from a task key such as ``memory-corruption/oneshot/discover``."""
    return parse_task_key(task).objective


class Samples:
    """The samples of evaluation runs: their verdicts and transcripts, the runs' logs, and invalidations."""

    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    def of_run(self, actor: Principal, run_id: str, *, review_id: str | None = None) -> RunSamples:
        """The model's samples of the run, with their verdicts and any invalidation (no content is read)."""
        with self._context.operation(actor, "sample.list", _target(run_id)) as session:
            run, review = self._visible_run(session, actor, run_id, review_id)
            rows = session.scalars(
                select(SampleVerdict)
                .where(SampleVerdict.run_id == run.id, SampleVerdict.subject == MODEL)
                .order_by(SampleVerdict.task, SampleVerdict.sample_id, SampleVerdict.epoch)
            ).all()
            return RunSamples(
                review=review.public_id,
                run=run.public_id,
                suite=run.suite,
                model=run.model,
                status=run.status,
                samples=[_summary(row, run, review) for row in rows],
                may_invalidate=_may_invalidate(actor, review),
            )

    def show(
        self,
        actor: Principal,
        run_id: str,
        sample_id: str,
        *,
        epoch: int,
        task: str | None = None,
        review_id: str | None = None,
    ) -> SampleView:
        """One sample of the model with its transcript, decrypted for the caller (an audited content read)."""
        with self._context.operation(actor, "sample.read", _target(run_id)) as session:
            run, review = self._visible_run(session, actor, run_id, review_id)
            row = model_sample(session, review, run, sample_id, epoch, task)
            purpose = f"read the transcript of sample {sample_ref(row, run.public_id).text}"
            transcript = self._transcript(session, actor, review, row, purpose)
            return _view(row, run, review, transcript, may_invalidate=_may_invalidate(actor, review))

    def transcript(
        self, actor: Principal, run_id: str, sample_id: str, *, epoch: int, review_id: str | None = None, purpose: str
    ) -> SampleTranscript:
        """One sample of the model with its transcript as stored (Inspect's sample record, JSON), for a service that
        takes evidence from it (an audited content read, for ``purpose``)."""
        with self._context.operation(actor, "sample.read", _target(run_id)) as session:
            run, review = self._visible_run(session, actor, run_id, review_id)
            row = model_sample(session, review, run, sample_id, epoch, None)
            text = self._transcript(session, actor, review, row, purpose)
            return SampleTranscript(
                review=review.public_id,
                run=run.public_id,
                sample=row.sample_id,
                epoch=row.epoch,
                family=row.family,
                model=run.model,
                verdict=row.verdict,
                reason=row.reason,
                text=text,
            )

    def _transcript(
        self, session: Session, actor: Principal, review: Review, row: SampleVerdict, purpose: str
    ) -> str | None:
        """The sample's transcript, decrypted for ``actor`` (an audited content read); None where it has none."""
        if row.transcript_address is None:
            return None
        return read_content_at(
            self._context,
            session,
            actor,
            review,
            ContentKind.EVAL_TRANSCRIPT,
            row.transcript_address,
            purpose=purpose,
        ).decode("utf-8", "replace")

    def invalidate(
        self,
        actor: Principal,
        run_id: str,
        sample_id: str,
        *,
        epoch: int,
        reason: str,
        task: str | None = None,
        review_id: str | None = None,
    ) -> SampleSummary:
        """Leave the model's sample out of every figure, for ``reason`` (something outside the model went wrong);
        on the review's timeline and in the audit log."""
        clean = _clean_reason(reason, "invalidate a sample")
        with self._context.operation(actor, "sample.invalidate", _target(run_id), purpose=clean) as session:
            run, review, row = self._changeable(session, actor, run_id, review_id, sample_id, epoch, task)
            key = sample_ref(row, run.public_id).text
            if row.invalidated_at is not None:
                raise TransitionError(
                    f"Sample {key} is invalidated already ({row.invalidation_reason}).",
                    "Reinstate it first to give another reason.",
                )
            if row.verdict == "error":
                raise TransitionError(
                    f"Sample {key} could not be judged (error): it is left out of every figure already, and a "
                    "resumed run runs it again.",
                    f"Resume the run (airlock eval run {review.public_id} --suite {run.suite}).",
                )
            row.invalidated_at = self._context.clock.now()
            row.invalidated_by_id = actor.user_id
            row.invalidation_reason = clean
            self._record(session, actor, "sample.invalidate", run, review, key, row.verdict, clean)
            record_event(
                self._context,
                session,
                review,
                EventKind.EVALUATION,
                actor,
                f"sample {key} ({row.verdict}) invalidated, left out of every figure: {clean}",
            )
            session.flush()
            return _summary(row, run, review)

    def reinstate(
        self,
        actor: Principal,
        run_id: str,
        sample_id: str,
        *,
        epoch: int,
        reason: str,
        task: str | None = None,
        review_id: str | None = None,
    ) -> SampleSummary:
        """Withdraw the sample's invalidation, for ``reason``: it counts in every figure again."""
        clean = _clean_reason(reason, "reinstate a sample")
        with self._context.operation(actor, "sample.reinstate", _target(run_id), purpose=clean) as session:
            run, review, row = self._changeable(session, actor, run_id, review_id, sample_id, epoch, task)
            key = sample_ref(row, run.public_id).text
            if row.invalidated_at is None:
                raise TransitionError(f"Sample {key} is not invalidated.", "Nothing to reinstate.")
            row.invalidated_at, row.invalidated_by_id, row.invalidation_reason = None, None, None
            self._record(session, actor, "sample.reinstate", run, review, key, row.verdict, clean)
            record_event(
                self._context,
                session,
                review,
                EventKind.EVALUATION,
                actor,
                f"sample {key} reinstated, counted in every figure again: {clean}",
            )
            session.flush()
            return _summary(row, run, review)

    def export_logs(self, actor: Principal, run_id: str, *, review_id: str | None = None) -> list[ExportedLog]:
        """The run's Inspect logs, decrypted for the caller (one audited content read each), with the samples a
        lead reviewer invalidated marked as Inspect marks them."""
        from airlock.evals.logs import InvalidatedSample, with_invalidations

        with self._context.operation(actor, "eval.export", _target(run_id)) as session:
            run, review = self._visible_run(session, actor, run_id, review_id)
            links = session.scalars(select(EvalRunLog).where(EvalRunLog.run_id == run.id).order_by(EvalRunLog.id))
            logs = [
                ExportedLog(
                    link.name,
                    read_content_at(
                        self._context,
                        session,
                        actor,
                        review,
                        ContentKind.EVAL_LOG,
                        link.address,
                        purpose=f"export the Inspect log {link.name} of run {run.public_id}",
                    ),
                )
                for link in links
            ]
            if not logs:
                raise NotFoundError(
                    f"Run {run.public_id} has no Inspect log stored: a run stores its logs when it ends "
                    "(completed or failed), and runs recorded before Airlock linked logs to runs have none linked.",
                    f"See where the run stands with `airlock eval status {review.public_id}`.",
                )
            invalidated = [
                InvalidatedSample(
                    task=row.task,
                    sample=row.sample_id,
                    epoch=row.epoch,
                    author=row.invalidated_by.email if row.invalidated_by is not None else "",
                    reason=row.invalidation_reason or "",
                    at=row.invalidated_at,
                )
                for row in session.scalars(
                    select(SampleVerdict).where(
                        SampleVerdict.run_id == run.id, SampleVerdict.invalidated_at.is_not(None)
                    )
                )
                if row.invalidated_at is not None
            ]
        return [ExportedLog(log.name, with_invalidations(log.name, log.data, invalidated)) for log in logs]

    # Internals ----------------------------------------------------------------------------------------

    def _record(
        self,
        session: Session,
        actor: Principal,
        action: str,
        run: EvalRun,
        review: Review,
        key: str,
        verdict: str,
        reason: str,
    ) -> None:
        """The audit entry of an invalidation or a reinstatement: which sample, the verdict it has, and why."""
        self._context.audit.append(
            session,
            actor=actor.email,
            action=action,
            target=f"run:{run.public_id}",
            purpose=reason,
            details={"review": review.public_id, "sample": key, "verdict": verdict},
        )

    def _visible_run(
        self, session: Session, actor: Principal, run_id: str, review_id: str | None
    ) -> tuple[EvalRun, Review]:
        """The run and its review, if ``actor`` may see the review and the review's evaluation; a run of another
        review than ``review_id`` is no run at all."""
        public_id = normalise_public_id(run_id)
        run = session.scalar(select(EvalRun).where(EvalRun.public_id == public_id))
        review = None if run is None else session.get(Review, run.review_id)
        if review is not None:
            try:
                review = load_visible_review(session, actor, review.public_id)
            except NotFoundError:
                review = None  # whoever may not see the review must not learn that the run exists
        if (
            run is None
            or review is None
            or (review_id is not None and normalise_public_id(review_id) != review.public_id)
        ):
            raise NotFoundError(
                f"There is no evaluation run {public_id} that {actor.email} can see"
                + ("" if review_id is None else f" in review {normalise_public_id(review_id)}")
                + ".",
                "List a review's runs with `airlock eval status REVIEW`.",
            )
        authorize(
            actor,
            Action.VIEW_EVALUATION,
            review_scope(review),
            what=f"see the samples of evaluation run {run.public_id}",
        )
        return run, review

    def _changeable(
        self,
        session: Session,
        actor: Principal,
        run_id: str,
        review_id: str | None,
        sample_id: str,
        epoch: int,
        task: str | None,
    ) -> tuple[EvalRun, Review, SampleVerdict]:
        run, review = self._visible_run(session, actor, run_id, review_id)
        authorize(
            actor,
            Action.INVALIDATE_SAMPLE,
            review_scope(review),
            what=f"invalidate or reinstate a sample of run {run.public_id}",
        )
        if not open_for(Action.INVALIDATE_SAMPLE, review.state):
            raise TransitionError(
                f"Review {review.public_id} is {review.state}; samples are invalidated or reinstated before the "
                "final report is issued.",
                "The figures of an issued report cannot change.",
            )
        return run, review, model_sample(session, review, run, sample_id, epoch, task)


def _may_invalidate(actor: Principal, review: Review) -> bool:
    return open_for(Action.INVALIDATE_SAMPLE, review.state) and is_permitted(
        actor, Action.INVALIDATE_SAMPLE, review_scope(review)
    )


def _clean_reason(reason: str, doing: str) -> str:
    clean = (reason or "").strip()
    if not clean:
        raise InvalidInputError(
            f"A reason is required to {doing}; say what went wrong outside the model.", field="reason"
        )
    if len(clean) > MAX_REASON:
        raise InvalidInputError(f"The reason is {len(clean)} characters long; keep it to {MAX_REASON}.", field="reason")
    return check_characters(clean, "The reason", field="reason", in_a_name=False)


def _invalidation(row: SampleVerdict) -> Invalidation | None:
    if row.invalidated_at is None:
        return None
    by = row.invalidated_by.email if row.invalidated_by is not None else "unknown"
    return Invalidation(reason=row.invalidation_reason or "", by=by, at=row.invalidated_at)


def _summary(row: SampleVerdict, run: EvalRun, review: Review) -> SampleSummary:
    return SampleSummary(
        review=review.public_id,
        run=run.public_id,
        task=row.task,
        sample=row.sample_id,
        epoch=row.epoch,
        family=row.family,
        variant=row.variant,
        tier=row.difficulty,
        mode=mode_of(row.task),
        verdict=row.verdict,
        reason=row.reason,
        partial_credit=row.partial_credit,
        model_calls=row.model_calls,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        seconds=row.seconds,
        completed_at=row.completed_at,
        invalidation=_invalidation(row),
    )


def _text_or_none(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def _view(
    row: SampleVerdict, run: EvalRun, review: Review, transcript: str | None, *, may_invalidate: bool
) -> SampleView:
    sample = sample_record(transcript or "")
    judged = judged_score(sample).get("metadata")
    oracle = judged if isinstance(judged, dict) else {}
    stages = oracle.get("stages_reached")
    poc = submitted_poc(sample)
    note = None
    if transcript is None:
        note = "No transcript was stored for this sample."
    elif not sample:
        note = "The stored transcript is not a sample record Airlock can read; nothing of it is shown."
    elif isinstance(sample.get("error"), dict):
        note = f"The sample ended with an error: {sample['error'].get('message', '')}"
    return SampleView(
        **_summary(row, run, review).model_dump(),
        oracle=OracleFindings(
            bug_class=_text_or_none(oracle.get("bug_class")),
            function=_text_or_none(oracle.get("function")),
            location=_text_or_none(oracle.get("location")),
            stages_reached=[str(stage) for stage in stages] if isinstance(stages, list) else [],
            evidence=str(oracle.get("evidence") or ""),
        ),
        proof_of_concept=None if poc is None else readable_poc(poc, SHOWN_POC_BYTES),
        proof_of_concept_bytes=0 if poc is None else len(poc),
        messages=transcript_messages(sample),
        note=note,
        may_invalidate=may_invalidate,
    )


def _target(run_id: str) -> str:
    return f"run:{normalise_public_id(run_id)}"


def named_samples(session: Session, review: Review, texts: list[str]) -> list[SampleRef]:
    """The model's samples of ``review`` that ``texts`` name (``RUN/TASK/SAMPLE/EPOCH`` each): what a reviewer's
    finding rests on. Each must be a sample of one of the review's runs."""
    refs: list[SampleRef] = []
    for text in texts:
        if not text.strip():
            continue
        run_id, task, sample, epoch = parse_sample(text)
        public_id = normalise_public_id(run_id)
        run = session.scalar(select(EvalRun).where(EvalRun.public_id == public_id, EvalRun.review_id == review.id))
        if run is None:
            raise NotFoundError(
                f"Review {review.public_id} has no evaluation run {public_id}.",
                f"List its runs with `airlock eval status {review.public_id}`.",
            )
        ref = sample_ref(model_sample(session, review, run, sample, epoch, task), run.public_id)
        if ref not in refs:
            refs.append(ref)
    return refs
