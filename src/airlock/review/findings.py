"""Findings: what the review found, as structured records the report carries and the developer can answer.

Two sources. The analysis makes findings when a report is built (:meth:`Findings.sync_from_analysis`): one
per capability level crossed or left inconclusive, and one per notable success of the model (its hardest
solved challenges) with the evidence from the transcript. Reviewers add their own (``airlock finding
add``). Each carries the keys of the samples it rests on (:attr:`~airlock.reports.model.FindingView.samples`),
which the report's page links to the transcript viewer. Either kind can be answered by the developer while
the review is in ``developer_response`` (``airlock finding respond``); the final report prints each answer
under its finding.

A finding's words are content of the submission: title, body and evidence live in the vault, encrypted
under the submission's key, like the developer's response. The database keeps only who, when, which level.
Who sees them is the access policy's answer (``VIEW_FINDINGS``, and ``READ_CONTENT`` of each finding): the
assigned reviewers, and the developer once the draft report was sent to them; partners and auditors never
see them outside a report they were granted.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.access import Action, Principal, authorize
from airlock.errors import InvalidInputError, NotFoundError, TransitionError
from airlock.reports.model import ANALYSIS_KINDS, Evidence, FindingKind, FindingView, Response, SampleRef
from airlock.review.content import ContentKind, read_content_at, write_content
from airlock.review.context import ServiceContext
from airlock.review.inputs import normalise_public_id
from airlock.review.lifecycle import open_for
from airlock.review.models import Finding, Review, User
from airlock.review.reviews import load_visible_review
from airlock.review.samples import named_samples
from airlock.review.scope import review_scope

MAX_TITLE = 200
MAX_TEXT = 20_000


@dataclass(frozen=True)
class FindingDraft:
    """A finding the analysis proposes; ``source`` identifies it across rebuilds (``level:CY-2``)."""

    source: str
    kind: str
    title: str
    body: str
    level: str | None = None
    evidence: Evidence | None = None
    for_partners: bool = True
    """The analysis's findings are numbers and generic words: fit for the redacted report."""
    samples: tuple[SampleRef, ...] = ()
    """The samples it rests on (see :attr:`FindingView.samples`)."""


WITHHELD = "Withheld from the redacted report: the text of this finding is in the full report."


class FindingDetail(BaseModel):
    """A finding with its response, as ``finding list --json`` and the REST API give it."""

    model_config = ConfigDict(frozen=True)

    id: str
    review: str
    kind: str
    level: str | None
    title: str
    body: str
    evidence: Evidence | None
    response: str | None
    responded_by: str | None
    responded_at: datetime | None
    created_at: datetime
    for_partners: bool
    """Whether its text goes into the redacted report; a reviewer's finding does only when they say so."""
    samples: list[SampleRef] = []
    """The samples it rests on, which the transcript viewer opens."""

    def view(self, *, redacted: bool = False) -> FindingView:
        """The finding as a report shows it; in the redacted report, no evidence, and its text only if fit."""
        response = None
        if self.response is not None and self.responded_by is not None and self.responded_at is not None:
            response = Response(text=self.response, by=self.responded_by, at=self.responded_at)
        kind = cast(FindingKind, self.kind if self.kind in ANALYSIS_KINDS else "reviewer")
        return FindingView(
            id=self.id,
            kind=kind,
            title=self.title,
            body=self.body if self.for_partners or not redacted else WITHHELD,
            level=self.level,
            evidence=None if redacted else self.evidence,
            response=response,
            samples=self.samples,
        )


def _clean_title(title: str) -> str:
    cleaned = " ".join(title.split())
    if not cleaned or len(cleaned) > MAX_TITLE:
        raise InvalidInputError(
            f"A finding's title must be 1 to {MAX_TITLE} characters on one line.",
            "Shorten or fill it in.",
            field="title",
        )
    return cleaned


def _clean_text(text: str, what: str, field: str) -> str:
    cleaned = text.strip()
    if not cleaned or len(cleaned) > MAX_TEXT:
        raise InvalidInputError(f"{what} must be 1 to {MAX_TEXT} characters.", "Shorten or fill it in.", field=field)
    return cleaned


class Findings:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    def add(
        self,
        actor: Principal,
        review_id: str,
        *,
        title: str,
        body: str,
        level: str | None = None,
        for_partners: bool = False,
        samples: list[str] | None = None,
    ) -> FindingDetail:
        """Record a reviewer's finding on the review; its text reaches the redacted report only ``for_partners``.
        ``samples`` names the samples it rests on (``RUN/TASK/SAMPLE/EPOCH``), each one of the review's."""
        title, body = _clean_title(title), _clean_text(body, "A finding's body", "body")
        level = level.strip() if level else None
        with self._context.operation(actor, "finding.add", f"review:{normalise_public_id(review_id)}") as session:
            review = load_visible_review(session, actor, review_id)
            authorize(
                actor,
                Action.RECORD_FINDING,
                review_scope(review),
                what=f"record a finding on review {review.public_id}",
            )
            self._require_open(review)
            content = _content(title, body, None, for_partners, named_samples(session, review, samples or []))
            finding = self._create(session, actor, review, "reviewer", None, content, level)
            return self._detail(session, actor, review, finding)

    def for_review(self, actor: Principal, review_id: str) -> list[FindingDetail]:
        """The review's findings, for its assigned reviewers, or its developer once the draft was sent."""
        # Reading findings decrypts content, which the audit log records: an audited operation.
        with self._context.operation(actor, "finding.list", f"review:{normalise_public_id(review_id)}") as session:
            review = load_visible_review(session, actor, review_id)
            authorize(actor, Action.VIEW_FINDINGS, review_scope(review), what=f"see the findings of {review.public_id}")
            rows = session.scalars(select(Finding).where(Finding.review_id == review.id).order_by(Finding.id)).all()
            return [self._detail(session, actor, review, row) for row in rows]

    def respond(self, actor: Principal, finding_id: str, text: str) -> FindingDetail:
        """The developer's answer to a finding (a later answer replaces an earlier one)."""
        text = _clean_text(text, "A response", "text")
        public_id = normalise_public_id(finding_id)
        with self._context.operation(actor, "finding.respond", f"finding:{public_id}") as session:
            finding = session.scalar(select(Finding).where(Finding.public_id == public_id))
            try:
                review = None if finding is None else load_visible_review(session, actor, finding.review.public_id)
            except NotFoundError:
                review = None  # whoever may not see the finding's review must not learn which review it is
            if finding is None or review is None:
                raise NotFoundError(
                    f"There is no finding {public_id}.", "List them with `airlock finding list REVIEW`."
                )
            authorize(actor, Action.RESPOND_TO_FINDING, review_scope(review), what=f"answer finding {public_id}")
            if not open_for(Action.RESPOND_TO_FINDING, review.state):
                raise TransitionError(
                    f"Review {review.public_id} is {review.state}; findings are answered while it is in "
                    "developer_response.",
                    "Answer once the lead reviewer has sent the draft report.",
                )
            stored = write_content(
                self._context,
                session,
                actor,
                review,
                ContentKind.FINDING_RESPONSE,
                text.encode(),
                purpose=f"response to finding {public_id}",
            )
            finding.response_address = stored.address
            finding.responded_by_id = actor.user_id
            finding.responded_at = self._context.clock.now()
            return self._detail(session, actor, review, finding)

    # For the report builder ---------------------------------------------------------------------------

    def sync_from_analysis(
        self, session: Session, actor: Principal, review: Review, drafts: list[FindingDraft]
    ) -> None:
        """Make the analysis's findings match ``drafts``: new ones added, changed ones rewritten, and ones
        the analysis no longer supports removed unless the developer has answered them."""
        existing = {
            row.source: row
            for row in session.scalars(
                select(Finding).where(Finding.review_id == review.id, Finding.source.is_not(None))
            ).all()
        }
        wanted = {draft.source: draft for draft in drafts}
        for source, row in existing.items():
            if source not in wanted and row.response_address is None:
                session.delete(row)
        for source, draft in wanted.items():
            found = existing.get(source)
            content = _content(draft.title, draft.body, draft.evidence, draft.for_partners, list(draft.samples))
            if found is None:
                self._create(session, actor, review, draft.kind, source, content, draft.level)
            elif self._read(session, actor, review, found) != content:
                found.content_address = self._store(session, actor, review, content, f"finding {found.public_id}")
                found.level = draft.level
        session.flush()

    def details(self, session: Session, actor: Principal, review: Review) -> list[FindingDetail]:
        """Every finding of the review, decrypted (for the report builder, inside its operation)."""
        rows = session.scalars(select(Finding).where(Finding.review_id == review.id).order_by(Finding.id)).all()
        return [self._detail(session, actor, review, row) for row in rows]

    # Internals ----------------------------------------------------------------------------------------

    def _require_open(self, review: Review) -> None:
        if not open_for(Action.RECORD_FINDING, review.state):
            raise TransitionError(
                f"Review {review.public_id} is {review.state}; findings are recorded before the final report.",
                "Findings of an issued report cannot change.",
            )

    def _store(self, session: Session, actor: Principal, review: Review, content: bytes, what: str) -> str:
        stored = write_content(self._context, session, actor, review, ContentKind.FINDING, content, purpose=what)
        return stored.address

    def _create(
        self,
        session: Session,
        actor: Principal,
        review: Review,
        kind: str,
        source: str | None,
        content: bytes,
        level: str | None,
    ) -> Finding:
        public_id = "F-" + secrets.token_hex(4).upper()
        finding = Finding(
            public_id=public_id,
            review_id=review.id,
            kind=kind,
            level=level,
            source=source,
            content_address=self._store(session, actor, review, content, f"finding {public_id}"),
            created_by_id=actor.user_id,
            created_at=self._context.clock.now(),
        )
        session.add(finding)
        session.flush()
        return finding

    def _read(self, session: Session, actor: Principal, review: Review, finding: Finding) -> bytes:
        return read_content_at(
            self._context,
            session,
            actor,
            review,
            ContentKind.FINDING,
            finding.content_address,
            purpose=f"finding {finding.public_id}",
        )

    def _detail(self, session: Session, actor: Principal, review: Review, finding: Finding) -> FindingDetail:
        content = json.loads(self._read(session, actor, review, finding))
        response = None
        if finding.response_address is not None:
            response = read_content_at(
                self._context,
                session,
                actor,
                review,
                ContentKind.FINDING_RESPONSE,
                finding.response_address,
                purpose=f"response to finding {finding.public_id}",
            ).decode()
        responder = None if finding.responded_by_id is None else session.get(User, finding.responded_by_id)
        evidence = content.get("evidence")
        return FindingDetail(
            id=finding.public_id,
            review=review.public_id,
            kind=finding.kind,
            level=finding.level,
            title=content["title"],
            body=content["body"],
            evidence=None if evidence is None else Evidence.model_validate(evidence),
            response=response,
            responded_by=None if responder is None else responder.email,
            responded_at=finding.responded_at,
            created_at=finding.created_at,
            for_partners=bool(content.get("for_partners", False)),
            samples=[SampleRef.model_validate(sample) for sample in content.get("samples") or []],
        )


def _content(title: str, body: str, evidence: Evidence | None, for_partners: bool, samples: list[SampleRef]) -> bytes:
    document = {
        "title": title,
        "body": body,
        "evidence": None if evidence is None else evidence.model_dump(),
        "for_partners": for_partners,
        "samples": [sample.model_dump() for sample in samples],
    }
    return json.dumps(document, sort_keys=True).encode()
