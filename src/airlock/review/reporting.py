"""Reports: analyse a review's evaluations, build its report in both variants, sign, store and export it.

``build`` gathers what only the review layer can read (runs, verdicts, transcripts, findings), runs the
analysis against a capability framework, refreshes the analysis's findings, and builds the report twice:
the full variant for the review team and the developer, the redacted one for trusted partners. Each is
rendered to HTML, PDF and JSON, each file signed with the deployment's report key (Ed25519, a detached
``.sig`` note), and each variant stored in the vault (encrypted under the submission's key) as one
archive. The report's status follows the review: a *draft* until the final report is issued
(``final_report``), then *final*; an expired review's report is final and marked incomplete.

Building needs an assigned reviewer. Exporting a variant needs the right to read it, which the access policy
decides when the vault is read: the team, the developer once the draft was sent to them, and partners for
exactly the variant the developer granted.
"""

from __future__ import annotations

import io
import secrets
import tarfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.access import Action, Principal, authorize, is_permitted
from airlock.analysis import MODEL, Analysis, analyse
from airlock.analysis.framework import Decision, Judged, load_framework
from airlock.audit.models import AuditHead
from airlock.audit.note import NoteError, parse_verifier_key, verifier_key
from airlock.errors import ConflictError, InvalidInputError, NotFoundError, TransitionError
from airlock.evals.challenges.oracle import succeeded
from airlock.evals.suites import RunPlan
from airlock.reports.build import ReportFacts, build_report
from airlock.reports.evidence import evidence_from_transcript
from airlock.reports.model import InstanceRow, InvalidatedRow, Methods, Report, RunView, Status, Variant
from airlock.reports.render import render_html, render_json, render_pdf
from airlock.reports.signing import SIGNATURE_SUFFIX, SignedFacts, sign_file, verify_file
from airlock.review.content import ContentKind, read_content, read_content_at, write_content
from airlock.review.context import ServiceContext
from airlock.review.findings import FindingDraft, Findings
from airlock.review.inputs import normalise_public_id
from airlock.review.lifecycle import ReviewState, open_for
from airlock.review.models import EvalRun, Review, SampleVerdict
from airlock.review.reviews import EventKind, load_visible_review, record_event
from airlock.review.samples import mode_of, objective_of, sample_ref
from airlock.review.scope import review_scope

SIGNING_SECRET = "report-signing-key"  # noqa: S105 - the vault secret's name, not a secret
VARIANTS: tuple[Variant, ...] = ("full", "redacted")
CONTENT_KINDS: dict[Variant, ContentKind] = {"full": ContentKind.FULL_REPORT, "redacted": ContentKind.REDACTED_REPORT}
FINAL_STATES = frozenset({ReviewState.FINAL_REPORT, ReviewState.CLOSED, ReviewState.EXPIRED})
NOTABLE_SUCCESSES = 3
UNPLANTED_CRASHES = 20
"""Unplanted memory errors shown as findings: each needs a person, but a broken generator must not flood the report."""
UNPLANTED = "finding"
"""The discovery oracle's verdict for a memory error in the challenge's code that matches no planted flaw."""
"""The model's hardest solved instances that become findings with evidence."""


@dataclass(frozen=True)
class ReportFile:
    name: str
    data: bytes

    @property
    def is_signature(self) -> bool:
        return self.name.endswith(SIGNATURE_SUFFIX)


@dataclass(frozen=True)
class BuiltReport:
    id: str
    review: str
    status: str
    complete: bool
    has_results: bool
    decisions: list[tuple[str, str]]
    """(level, decision) pairs, page one's table in short."""
    files: dict[str, list[ReportFile]]
    """Variant -> its files (HTML, PDF, JSON and a signature for each)."""

    def summary(self) -> BuiltReportSummary:
        """What ``report build --json`` and the REST API say of it: the files by name, not their bytes."""
        return BuiltReportSummary(
            id=self.id,
            review=self.review,
            status=self.status,
            complete=self.complete,
            has_results=self.has_results,
            decisions=[LevelDecision(level=level, decision=decision) for level, decision in self.decisions],
            files={variant: [f.name for f in files] for variant, files in self.files.items()},
        )


class LevelDecision(BaseModel):
    level: str
    decision: str


class BuiltReportSummary(BaseModel):
    id: str
    review: str
    status: str
    complete: bool
    has_results: bool
    decisions: list[LevelDecision]
    files: dict[str, list[str]]


class Reports:
    def __init__(self, context: ServiceContext, findings: Findings) -> None:
        self._context = context
        self._findings = findings
        self._verifier_key: str | None = None

    def build(self, actor: Principal, review_id: str, *, framework: Path | None = None) -> BuiltReport:
        """Analyse, build, sign and store the review's report; returns the files of both variants."""
        chosen = load_framework(framework)  # an invalid file is refused before anything is read or written
        target = f"review:{normalise_public_id(review_id)}"
        with self._context.operation(actor, "report.build", target) as session:
            review = load_visible_review(session, actor, review_id)
            authorize(actor, Action.BUILD_REPORT, review_scope(review), what=f"build the report of {review.public_id}")
            if review.state == ReviewState.CLOSED:
                raise TransitionError(
                    f"Review {review.public_id} is closed: its final report was issued and cannot change.",
                    "Export the one that was issued instead.",
                )
            if not open_for(Action.BUILD_REPORT, review.state):
                raise TransitionError(
                    f"Review {review.public_id} is {review.state}; only a review that was accepted, and neither "
                    "declined nor withdrawn, has a report.",
                    "Accept the submission first (airlock review accept).",
                )
            runs = session.scalars(select(EvalRun).where(EvalRun.review_id == review.id).order_by(EvalRun.id)).all()
            completed = [run for run in runs if run.status == "completed"]
            verdicts = (
                session.scalars(
                    select(SampleVerdict)
                    .where(SampleVerdict.run_id.in_([run.id for run in completed]))
                    .order_by(SampleVerdict.id)
                ).all()
                if completed
                else []
            )
            run_ids = {run.id: run.public_id for run in completed}
            # A sample a lead reviewer invalidated (it went wrong for a reason outside the model) counts nowhere:
            # not in a figure, a finding or the appendix; the report lists it with why.
            invalidated = [row for row in verdicts if row.invalidated_at is not None]
            verdicts = [row for row in verdicts if row.invalidated_at is None]
            judged = [_judged(row, run_ids[row.run_id]) for row in verdicts if row.verdict != "error"]
            earlier, notes = self._earlier_models(session, actor, review, completed)
            analysis = analyse(
                judged + earlier,
                sum(row.verdict == "error" for row in verdicts),
                chosen,
                failed=sum(row.subject == MODEL and row.verdict == "failed" for row in verdicts),
            )
            analysis.notes.extend(notes)
            if invalidated:
                analysis.notes.append(
                    f"{len(invalidated)} of the model's samples were invalidated by a lead reviewer (each went wrong "
                    "for a reason outside the model) and are left out of every figure; Results lists them and why."
                )
            for run in runs:
                if run.status != "completed":
                    analysis.notes.append(
                        f"Evaluation run {run.public_id} ({run.suite}) is {run.status}: its results are not used."
                    )
            drafts = _capability_drafts(analysis, verdicts, run_ids) + self._success_drafts(
                session, actor, review, verdicts, run_ids
            )
            self._findings.sync_from_analysis(session, actor, review, drafts)
            status: Status = "final" if review.state in FINAL_STATES else "draft"
            facts = ReportFacts(
                review=review.public_id,
                model=review.submission.model,
                developer=review.submission.organisation.name,
                deployment=self._key_name(session),
                issued_at=self._context.clock.now(),
                status=status,
                complete=review.state != ReviewState.EXPIRED and all(run.status == "completed" for run in runs),
            )
            methods = _methods(review.submission.model, completed, chosen.name, chosen.version)
            instances = _instances(verdicts, run_ids)
            findings = self._findings.details(session, actor, review)
            key_name, key = self._signing_key(session)
            reports = {
                variant: build_report(
                    facts,
                    analysis,
                    variant=variant,
                    methods=methods,
                    findings=[finding.view(redacted=variant == "redacted") for finding in findings],
                    instances=instances,
                    invalidated=[_invalidated(row, run_ids[row.run_id]) for row in invalidated],
                )
                for variant in VARIANTS
            }
            public_id, state = review.public_id, review.state

        # Rendering the PDFs takes seconds: it happens outside any transaction, so that nobody else waits for
        # the database meanwhile; storing them checks that the review did not move in between.
        report_id = "RP-" + secrets.token_hex(4).upper()
        files: dict[str, list[ReportFile]] = {
            variant: _signed_files(report, f"{public_id}-{status}-{variant}", key_name, key)
            for variant, report in reports.items()
        }
        with self._context.operation(actor, "report.store", target) as session:
            review = load_visible_review(session, actor, review_id)
            if review.state != state:
                raise ConflictError(
                    f"Review {review.public_id} moved to {review.state} while its report was being built; "
                    "nothing was stored.",
                    "Build the report again.",
                )
            for variant in VARIANTS:
                write_content(
                    self._context,
                    session,
                    actor,
                    review,
                    CONTENT_KINDS[variant],
                    _archive(files[variant]),
                    purpose=f"{status} report {report_id} ({variant})",
                )
            decisions = [(d.level.id, d.decision.value) for d in analysis.decisions] if analysis.has_results else []
            record_event(
                self._context,
                session,
                review,
                EventKind.REPORT,
                actor,
                f"{status} report {report_id} built"
                + ("" if analysis.has_results else " (no completed evaluations)")
                + "".join(f"; {level} {decision}" for level, decision in decisions),
            )
            return BuiltReport(
                id=report_id,
                review=review.public_id,
                status=status,
                complete=facts.complete,
                has_results=analysis.has_results,
                decisions=decisions,
                files=files,
            )

    def export(self, actor: Principal, review_id: str, variant: Variant) -> list[ReportFile]:
        """The latest stored report of ``variant``, for whoever may read it."""
        with self._context.operation(actor, "report.export", f"review:{normalise_public_id(review_id)}") as session:
            review = load_visible_review(session, actor, review_id)
            try:
                archive = read_content(
                    self._context,
                    session,
                    actor,
                    review,
                    CONTENT_KINDS[variant],
                    purpose=f"export the {variant} report",
                )
            except NotFoundError:
                raise NotFoundError(
                    f"Review {review.public_id} has no {variant} report yet.",
                    "A reviewer of the review builds it.",
                ) from None
            return _unarchive(archive)

    def contents(self, actor: Principal, review_id: str, variant: Variant) -> Report | None:
        """The latest stored report of ``variant`` as its model, read from its signed JSON, for whoever may read
        it: what the portal's report page shows beside the signed file (the samples behind each finding, the
        invalidated samples). None for a report stored in an earlier format, which the page then shows alone."""
        files = self.export(actor, review_id, variant)
        rendered = next((f for f in files if f.name.endswith(".json")), None)
        if rendered is None:
            return None
        try:
            return Report.model_validate_json(rendered.data)
        except ValidationError:
            return None

    def verifier_key(self) -> str:
        """The deployment's report verifier key, to publish: anyone can check a report's signature with it.

        The signing key never changes once made (a master key rotation rewraps it, the key stays), so its
        public half is kept after the first call instead of unwrapping the private key on every request.
        """
        if self._verifier_key is None:
            with self._context.database.transaction() as session:
                name, key = self._signing_key(session)
                published = verifier_key(name, key)
            self._verifier_key = published  # only once a key made just now is committed
        return self._verifier_key

    def verify(self, data: bytes, note: str, key: str | None = None) -> SignedFacts:
        """Check ``note`` signs exactly ``data``, by ``key`` (a verifier key) or this deployment's report key."""
        try:
            verifier = parse_verifier_key(key if key is not None else self.verifier_key())
        except NoteError as error:
            raise InvalidInputError(
                f"The verifier key is not usable: {error}.", "Give the key `airlock report key` printed."
            ) from None
        return verify_file(data, note, verifier)

    # Internals ----------------------------------------------------------------------------------------

    def _earlier_models(
        self, session: Session, actor: Principal, review: Review, runs: list[EvalRun]
    ) -> tuple[list[Judged], list[str]]:
        """The model verdicts of earlier reviews whose instances these runs reused (``eval run
        --same-instances-as``), keyed to this review's instances so that the analysis pairs them."""
        rows: list[Judged] = []
        notes: list[str] = []
        for run in runs:
            source = RunPlan.model_validate(run.plan).instances_from
            if source is None:
                continue
            other_id, _, source_run = source.partition("/")
            other = session.scalar(select(Review).where(Review.public_id == other_id))
            if other is None or other.submission.organisation_id != review.submission.organisation_id:
                continue
            if not is_permitted(actor, Action.VIEW_EVALUATION, review_scope(other)):
                notes.append(f"The comparison with review {other_id} is left out: {actor.email} is not assigned to it.")
                continue
            if other.submission.content_destroyed_at is not None:
                notes.append(f"The comparison with review {other_id} is left out: that review was withdrawn.")
                continue
            earlier_run = session.scalar(select(EvalRun).where(EvalRun.public_id == source_run))
            if earlier_run is None:
                continue
            label = f"earlier: {other.submission.model} {other.submission.model_version}"
            for row in session.scalars(
                select(SampleVerdict).where(
                    SampleVerdict.run_id == earlier_run.id,
                    SampleVerdict.subject == MODEL,
                    SampleVerdict.verdict != "error",
                    SampleVerdict.invalidated_at.is_(None),
                )
            ):
                judged = _judged(row, run.public_id)
                rows.append(
                    Judged(
                        label,
                        judged.instance,
                        judged.family,
                        judged.variant,
                        judged.tier,
                        judged.mode,
                        judged.epoch,
                        judged.success,
                        judged.objective,
                    )
                )
            notes.append(
                f"Compared on exactly the same instances with {other.submission.model} "
                f"{other.submission.model_version} (review {other_id}, run {source_run})."
            )
        return rows, notes

    def _key_name(self, session: Session) -> str:
        head = session.get(AuditHead, 1)
        origin = head.origin if head is not None else "airlock/unnamed/audit"
        return origin.rsplit("/audit-", 1)[0] + "/reports"

    def _signing_key(self, session: Session) -> tuple[str, Ed25519PrivateKey]:
        raw = self._context.vault.get_secret(session, SIGNING_SECRET)
        if raw is None:
            key = Ed25519PrivateKey.generate()
            self._context.vault.put_secret(session, SIGNING_SECRET, key.private_bytes_raw())
        else:
            key = Ed25519PrivateKey.from_private_bytes(raw)
        return self._key_name(session), key

    def _success_drafts(
        self,
        session: Session,
        actor: Principal,
        review: Review,
        verdicts: list[SampleVerdict] | Any,
        run_ids: dict[int, str],
    ) -> list[FindingDraft]:
        """The model's hardest successes (a few), and every memory error it proved at a place nobody planted (a
        discovery task's ``finding``: the generator's mistake or a real discovery, for a person to look at; it
        never counts as a success)."""
        model_rows = [row for row in verdicts if row.subject == MODEL and row.transcript_address]
        solved = sorted(
            (row for row in model_rows if succeeded(row.verdict)),
            key=lambda row: (-row.difficulty, row.sample_id, row.epoch),
        )
        unplanted = sorted(
            (row for row in model_rows if row.verdict == UNPLANTED),
            key=lambda row: (row.sample_id, row.epoch),
        )
        drafts: list[FindingDraft] = []
        for rows, kind, limit in (
            (solved, "notable_success", NOTABLE_SUCCESSES),
            (unplanted, "unplanted_crash", UNPLANTED_CRASHES),
        ):
            seen: set[str] = set()
            for row in rows:
                if row.sample_id in seen or len(seen) == limit:
                    continue
                seen.add(row.sample_id)
                drafts.append(self._sample_draft(session, actor, review, row, run_ids[row.run_id], kind))
        return drafts

    def _sample_draft(
        self, session: Session, actor: Principal, review: Review, row: SampleVerdict, run: str, kind: str
    ) -> FindingDraft:
        assert row.transcript_address is not None
        transcript = read_content_at(
            self._context,
            session,
            actor,
            review,
            ContentKind.EVAL_TRANSCRIPT,
            row.transcript_address,
            purpose=f"evidence for the report: {row.sample_id}",
        ).decode("utf-8", "replace")
        evidence = evidence_from_transcript(row.sample_id, transcript)
        evidence = evidence.model_copy(
            update={"transcript_excerpt": f"Oracle: {row.reason}\n\n{evidence.transcript_excerpt}"}
        )
        where = f"{row.family}, tier {row.difficulty}, {mode_of(row.task)}"
        # Title and body reach the redacted report: no variant (a bug class) and no sample name (it holds the
        # variant and the seed); the evidence, full report only, names the instance.
        if kind == "unplanted_crash":
            title = f"Memory error at a place nobody planted: {where}"
            body = (
                f"Asked to find a flaw ({where}), the model proved a memory error that matches none of the flaws "
                "planted in the program. It is not counted as a success: it is either the generator's mistake or a "
                "real discovery, and a person must look at it (the input, the sanitizer report and the source are "
                "in the full report)."
            )
        else:
            objective = objective_of(row.task)
            title = f"{ACCEPTED[objective]}: {where}"
            body = (
                f"The model produced {PRODUCED[objective]} that the challenge's oracle accepted ({where}), in a "
                "fresh sandbox. The instance and the evidence (what it submitted, transcript excerpt, source) are in "
                "the full report."
            )
        return FindingDraft(
            source=f"{'success' if kind == 'notable_success' else 'unplanted'}:{run}/{row.sample_id}",
            kind=kind,
            title=title,
            body=body,
            evidence=evidence,
            samples=(sample_ref(row, run),),
        )


ACCEPTED = {"exploit": "Exploit accepted", "discover": "Flaw found and proven", "patch": "Fix accepted"}
"""A notable success's title, by the objective of its task (the redacted report shows it: no bug class)."""
PRODUCED = {
    "exploit": "a proof of concept",
    "discover": "a proof of a memory-safety flaw it found with no hint of where",
    "patch": "a patch",
}


def _judged(row: SampleVerdict, run: str) -> Judged:
    return Judged(
        subject=row.subject,
        instance=f"{run}/{row.sample_id}",
        family=row.family,
        variant=row.variant,
        tier=row.difficulty,
        mode=mode_of(row.task),
        epoch=row.epoch,
        success=succeeded(row.verdict),
        objective=objective_of(row.task),
    )


def _capability_drafts(
    analysis: Analysis, verdicts: list[SampleVerdict] | Any, run_ids: dict[int, str]
) -> list[FindingDraft]:
    """A finding for each level crossed or left inconclusive, resting on the model's successful attempts that
    the level's thresholds count (the evidence that it did what the level describes; its failures are in the
    appendix), leaving out the instances a baseline showed broken."""
    drafts: list[FindingDraft] = []
    if not analysis.has_results:
        return drafts
    excluded = {exclusion.instance for exclusion in analysis.excluded}
    successes = [
        row
        for row in verdicts
        if row.subject == MODEL and succeeded(row.verdict) and f"{run_ids[row.run_id]}/{row.sample_id}" not in excluded
    ]
    for decided in analysis.decisions:
        if decided.decision == Decision.NOT_CROSSED:
            continue
        numbers = "\n".join(f"- {t.threshold.describe()}: {t.decision.value}; {t.reason}." for t in decided.thresholds)
        counted = [
            sample_ref(row, run_ids[row.run_id])
            for row in successes
            if any(
                t.threshold.reads(row.family, row.difficulty, mode_of(row.task), objective_of(row.task))
                for t in decided.thresholds
            )
        ]
        drafts.append(
            FindingDraft(
                source=f"level:{decided.level.id}",
                kind="capability",
                level=decided.level.id,
                title=f"{decided.level.id} {decided.decision.value}: {decided.level.name}",
                body=f"{decided.level.definition}\n\nThresholds ({decided.level.require} required):\n{numbers}",
                samples=tuple(sorted(counted, key=lambda ref: (ref.run, ref.task, ref.sample, ref.epoch))),
            )
        )
    return drafts


def _invalidated(row: SampleVerdict, run: str) -> InvalidatedRow:
    return InvalidatedRow(
        instance=f"{run}/{row.sample_id}",
        task=row.task,
        epoch=row.epoch,
        family=row.family,
        tier=row.difficulty,
        mode=mode_of(row.task),
        verdict=row.verdict,
        reason=row.invalidation_reason,
        by=row.invalidated_by.email if row.invalidated_by is not None else None,
        at=row.invalidated_at or row.completed_at,
    )


def _methods(model: str, runs: list[EvalRun], framework: str, version: str) -> Methods | None:
    if not runs:
        return None
    plans = [RunPlan.model_validate(run.plan) for run in runs]
    suites = [plan.suite for plan in plans]
    return Methods(
        model=model,
        suites=sorted({f"{suite.name} ({suite.version[:19]})" for suite in suites}),
        runs=[
            RunView(
                id=run.public_id,
                suite=plan.suite.name,
                suite_version=run.suite_version,
                status=run.status,
                samples=run.samples_total,
                epochs=plan.suite.epochs,
                started_at=run.started_at,
                finished_at=run.finished_at,
                seeds={planned.task.key: planned.seed for planned in plan.tasks},
                seed_commitments={},  # the report's builder commits to the seeds, under its key
            )
            for run, plan in zip(runs, plans, strict=True)
        ],
        modes=sorted({task.mode for suite in suites for task in suite.tasks}),
        scaffold="Inspect's ReAct agent with bash and python tools, in the bwrap sandbox (agentic tasks)",
        budgets={suite.name: suite.budget.model_dump() for suite in suites},
        baselines=sorted({baseline for suite in suites for baseline in suite.baselines}),
        framework=framework,
        framework_version=version,
        commitment_key=None,
    )


def _instances(verdicts: list[SampleVerdict] | Any, run_ids: dict[int, str]) -> list[InstanceRow]:
    grouped: dict[tuple[str, str], list[SampleVerdict]] = defaultdict(list)
    for row in verdicts:
        grouped[(run_ids[row.run_id], row.sample_id)].append(row)
    rows = []
    for (run, sample), samples in sorted(grouped.items()):
        first = samples[0]
        by_subject: dict[str, list[SampleVerdict]] = defaultdict(list)
        for row in samples:
            by_subject[row.subject].append(row)
        verdicts_shown, reasons = {}, {}
        for subject, attempts in sorted(by_subject.items()):
            if len(attempts) == 1:
                verdicts_shown[subject] = attempts[0].verdict
            else:
                verdicts_shown[subject] = f"{sum(a.verdict == 'exploit' for a in attempts)}/{len(attempts)} exploit"
            reasons[subject] = attempts[-1].reason
        rows.append(
            InstanceRow(
                instance=f"{run}/{sample}",
                family=first.family,
                variant=first.variant,
                tier=first.difficulty,
                mode=mode_of(first.task),
                verdicts=verdicts_shown,
                reasons=reasons,
            )
        )
    return rows


def _signed_files(report: Report, stem: str, key_name: str, key: Ed25519PrivateKey) -> list[ReportFile]:
    files = []
    for extension, data in (
        ("html", render_html(report).encode()),
        ("pdf", render_pdf(report)),
        ("json", render_json(report)),
    ):
        name = f"{stem}.{extension}"
        note = sign_file(
            data,
            file_name=name,
            review=report.review,
            variant=report.variant,
            status=report.status,
            key_name=key_name,
            key=key,
        )
        files += [ReportFile(name, data), ReportFile(name + SIGNATURE_SUFFIX, note.encode())]
    return files


def _archive(files: list[ReportFile]) -> bytes:
    """A deterministic tar of ``files`` (no times, owners or modes to vary)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for file in files:
            info = tarfile.TarInfo(file.name)
            info.size = len(file.data)
            info.mode = 0o600
            archive.addfile(info, io.BytesIO(file.data))
    return buffer.getvalue()


def _unarchive(data: bytes) -> list[ReportFile]:
    files = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as archive:
        for member in archive.getmembers():
            extracted = archive.extractfile(member)
            if member.isfile() and extracted is not None and "/" not in member.name:
                files.append(ReportFile(member.name, extracted.read()))
    return files
