"""The clearinghouse's services: reports in, cases out, coordinated with vendors and disclosed.

Every call is one audited operation (:meth:`ServiceContext.operation`) that asks the access policy first. The pure
parts it stands on are the modules beside it: intake checks, signatures, scoring, the disclosure clock, vendor
statuses, reproduction, advisories and commitments. What this module adds is the record: reports and cases in the
database, their confidential content in the vault under each report's own key, and the timeline.

How a report finds its case: a report joins the live case of an earlier report with the same crash signature or
the same fixing commit; one that matches two cases merges the younger into the older (its reports move, and the
younger case points to the older for anyone holding its id). A report's signature is the reproduction's once it
reproduced, before that the one its own crash report gave; reproduction can therefore move a report to another
case, and says so in both timelines.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from airlock.access import Action, OrganisationKind, Principal, Role, Scope, authorize
from airlock.access.policy import case_visibility
from airlock.errors import ConflictError, InvalidInputError, NotFoundError, TransitionError
from airlock.review.context import ServiceContext
from airlock.review.directory import find_organisation
from airlock.review.inputs import clean_reason, new_public_id, normalise_public_id, shorten
from airlock.review.models import Organisation, User
from airlock.vault import ReportRef
from airlock.vulns import coordination
from airlock.vulns.advisories import (
    TLP_LABELS,
    Advisory,
    Revision,
    canonical_json,
    check_osv,
    csaf_document,
    osv_record,
    validate_csaf,
)
from airlock.vulns.commitment import commit
from airlock.vulns.coordination import (
    Notice,
    VendorStatus,
    inert,
    is_one_mailbox,
    notification,
    ready_to_disclose,
)
from airlock.vulns.disclosure import (
    DEFAULT_EMBARGO_DAYS,
    DisclosureReading,
    DisclosureStatus,
    checked_embargo,
    read_disclosure_clock,
    reminders_due,
)
from airlock.vulns.intake import CheckedReport, ReportDraft, check_report, parse_bulk
from airlock.vulns.models import (
    AdvisoryRecord,
    Case,
    CaseEvent,
    CaseShare,
    CaseVendor,
    OutboxMessage,
    Program,
    Report,
)
from airlock.vulns.outbox import FileOutbox, Outbox
from airlock.vulns.reproduction import Reproduction, Target, reproduce
from airlock.vulns.scoring import ACTIONS, CvssScore, SsvcDecision, cvss4, ssvc_decision, weakness

POC = "poc"
DETAILS = "details"
CRASH_REPORT = "crash_report"
REPRODUCTION = "reproduction"
ADVISORY = "advisory"
CONTENT_KINDS = (POC, DETAILS, CRASH_REPORT, REPRODUCTION)
NO_BUILD = "no build"
"""A reproduction's outcome when no build of the report's program and versions is registered."""
"""What of a report is kept in the vault, and what a reader may ask for."""

DEFAULT_TLP = "AMBER"
"""A new case's marking: the vendors' organisations may share it inside, on a need-to-know basis."""
MAX_SOURCE_BYTES = 4 << 20


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class ReportView(_View):
    public_id: str
    case: str
    source: str
    title: str
    program: str
    affected_versions: list[str]
    reporter: str
    model: str | None
    fixed_commit: str | None
    signature: str | None
    reproduction: str
    reproduction_outcome: str | None
    created_at: datetime


class VendorView(_View):
    organisation: str
    name: str
    status: str


class EventView(_View):
    at: datetime
    actor: str
    event: str
    text: str


class CaseView(_View):
    public_id: str
    title: str
    program: str
    tlp: str
    cvss_vector: str | None
    cvss_score: float | None
    cvss_severity: str | None
    cwe: str | None
    ssvc: dict[str, Any] | None
    clock: DisclosureReading
    vendors: list[VendorView]
    reports: list[ReportView]
    shared_with: list[str]
    timeline: list[EventView]
    advisory_commitment: str | None
    published_at: datetime | None
    created_at: datetime
    may_read_content: bool
    """Whether the viewer may read the case's proofs of concept and details (the policy, on this case)."""
    may_answer: bool
    """Whether the viewer may record a vendor's answer (its contact; an analyst naming the vendor)."""
    may_manage: bool
    """Whether the viewer may score, coordinate and share the case (analysts; not once published)."""

    @property
    def ssvc_action(self) -> str | None:
        return None if self.ssvc is None else str(self.ssvc["action"])


class CaseSummary(_View):
    public_id: str
    title: str
    program: str
    reports: int
    ssvc_action: str | None
    cvss_score: float | None
    clock: DisclosureStatus
    days_left: int | None


class Intake(_View):
    """Where one report went."""

    report: str
    case: str
    joined: bool
    """It joined an existing case (a duplicate), rather than opening one."""
    reproduction: str
    visible: bool = True
    """Whether the submitter may see the case (a partner's or developer's report: once it is shared with them)."""
    repeat: bool = False
    """The same PoC for the same program from the same organisation was reported before: ``report`` is that
    report, and nothing new was stored."""


class Publication(_View):
    csaf: Path
    osv: Path
    commitment: Path


@dataclass
class _Placed:
    case: Case
    joined: bool
    merged: list[Case] = field(default_factory=list)


class Clearinghouse:
    def __init__(self, context: ServiceContext, outbox: Outbox | None = None) -> None:
        self._context = context
        self._outbox = outbox or FileOutbox(context.settings.resolved_outbox)

    # Programs -----------------------------------------------------------------------------------------------

    def add_program(
        self,
        actor: Principal,
        name: str,
        version: str,
        sources: Mapping[str, bytes],
        *,
        poc_input: str = "stdin",
        vendor: str | None = None,
    ) -> str:
        """Register a build to reproduce reports against: C sources by path; returns ``name version``."""
        name, version = " ".join(name.split()), version.strip()
        if not name or not version:
            raise InvalidInputError("A program needs a name and a version.", field="name")
        if poc_input not in ("stdin", "file"):
            raise InvalidInputError(
                f"{poc_input!r} is not how a program takes a PoC.", "Say stdin or file.", field="poc_input"
            )
        if not any(path.endswith(".c") for path in sources):
            raise InvalidInputError(
                f"The sources of {name} {version} hold no C file (a name ending in .c).",
                "Give the directory of the program's sources.",
                field="sources",
            )
        if sum(len(data) for data in sources.values()) > MAX_SOURCE_BYTES:
            raise InvalidInputError(
                f"The sources of {name} {version} are over {MAX_SOURCE_BYTES >> 20} MiB.",
                "Give only what the build needs.",
                field="sources",
            )
        try:
            encoded = json.dumps({path: data.decode("utf-8") for path, data in sorted(sources.items())}).encode()
        except UnicodeDecodeError as error:
            raise InvalidInputError(
                f"A source file of {name} {version} is not UTF-8 text.", "Give text sources only.", field="sources"
            ) from error
        with self._context.operation(actor, "vulns.program.add", f"program:{name} {version}") as session:
            authorize(actor, Action.MANAGE_PROGRAMS, what=f"register {name} {version}")
            if session.scalar(select(Program.id).where(Program.name == name, Program.version == version)):
                raise ConflictError(
                    f"{name} {version} is registered already.", "Register the new build under a version of its own."
                )
            vendor_id = None if vendor is None else _vendor_organisation(session, vendor).id
            session.add(
                Program(
                    name=name,
                    version=version,
                    poc_input=poc_input,
                    sources=encoded,
                    vendor_id=vendor_id,
                    created_at=self._context.clock.now(),
                )
            )
            session.flush()
        return f"{name} {version}"

    # Intake -------------------------------------------------------------------------------------------------

    def submit(
        self,
        actor: Principal,
        draft: ReportDraft,
        *,
        source: str = "partner",
        review: str | None = None,
        finding: str | None = None,
        keep_unreproduced: bool = False,
    ) -> Intake:
        """Take one report: checked, reproduced at once where its build is registered, then placed in its case.

        A PoC that does not reproduce against a registered build is refused in one sentence and nothing is kept,
        unless ``keep_unreproduced``: then it is kept, marked not reproduced with what happened."""
        checked = check_report(draft)
        # Its own operation, so that a refusal is audited before any sandbox runs for someone who may not report.
        with self._context.operation(actor, "vulns.submit", f"program:{draft.program}") as session:
            authorize(actor, Action.SUBMIT_VULNERABILITY, what="report a vulnerability")
            target = _target(session, draft.program, draft.affected_versions)
        reproduction = None if target is None else _run(target, draft.poc_bytes)
        if reproduction is not None and not reproduction.reproduced and not keep_unreproduced:
            raise InvalidInputError(
                f"The proof of concept did not reproduce against {draft.program} {target_version(draft)}: "
                f"{reproduction.outcome}, {_first_line(reproduction.evidence)}.",
                "Check the PoC and the version it was found in (or keep it, marked not reproduced, with "
                "--keep-unreproduced); nothing was kept.",
                field="poc",
            )
        with self._context.operation(actor, "vulns.submit", f"program:{draft.program}") as session:
            authorize(actor, Action.SUBMIT_VULNERABILITY, what="report a vulnerability")
            reproduced = reproduction is not None and reproduction.reproduced and reproduction.signature is not None
            if reproduced:  # the signature that counts places it, so it never opens a case only to leave it
                checked = checked.model_copy(update={"signature": reproduction.signature})  # type: ignore[union-attr]
            intake = self._take(session, actor, checked, source, review=review, finding=finding)
            if reproduction is not None and not intake.repeat:
                report = _report(session, intake.report)
                self._record_reproduction(session, actor, report, reproduction)
                intake = Intake(
                    report=intake.report,
                    case=_case_of(session, report).public_id,
                    joined=intake.joined,
                    reproduction=report.reproduction,
                )
            case = session.scalars(select(Case).where(Case.public_id == intake.case)).one()
            return intake.model_copy(update={"visible": _may(actor, Action.VIEW_CASE, _case_scope(session, case))})

    def import_bulk(
        self,
        actor: Principal,
        lines: Iterable[bytes | str],
        *,
        source_name: str = "the file",
        progress: Callable[[int, int], None] | None = None,
    ) -> list[Intake]:
        """Take every report of a JSON Lines file, or none: the file is checked in full first, then taken in one
        transaction. Reproduction is apart (:meth:`reproduce_pending`)."""
        reports = parse_bulk(lines, source=source_name)
        with self._context.operation(actor, "vulns.import", f"file:{source_name}") as session:
            authorize(actor, Action.IMPORT_VULNERABILITIES, what=f"import {source_name}")
            taken = []
            for index, checked in enumerate(reports, 1):
                taken.append(self._take(session, actor, checked, "bulk", audit=False))
                if progress is not None:
                    progress(index, len(reports))
            self._context.audit.append(
                session,
                actor=actor.email,
                action="vulns.import",
                target=f"file:{source_name}",
                details={
                    "reports": sum(1 for intake in taken if not intake.repeat),
                    "repeats": sum(1 for intake in taken if intake.repeat),
                    "new_cases": sum(1 for intake in taken if not intake.joined),
                    "first": taken[0].report,
                    "last": taken[-1].report,
                },
            )
            return taken

    def _take(
        self,
        session: Session,
        actor: Principal,
        checked: CheckedReport,
        source: str,
        *,
        review: str | None = None,
        finding: str | None = None,
        audit: bool = True,
    ) -> Intake:
        draft = checked.draft
        now = self._context.clock.now()
        # The same PoC for the same program from the same organisation is a report already held (a file imported
        # twice, a submission sent again): it is answered with the report it repeats, and nothing is stored.
        given = f"{actor.organisation_id}\0{draft.program}\0".encode() + draft.poc_bytes
        fingerprint = self._context.vault.fingerprint(session, given)
        held = session.scalar(select(Report).where(Report.fingerprint == fingerprint).order_by(Report.id).limit(1))
        if held is not None:
            return Intake(
                report=held.public_id,
                case=_case_of(session, held).public_id,
                joined=True,
                reproduction=held.reproduction,
                repeat=True,
            )
        signature = None if checked.signature is None else str(checked.signature)
        placed = self._place(session, actor, draft.program, signature, draft.fixed_commit, now)
        case = placed.case
        if case.id is None:
            case.title, case.program = draft.title, draft.program
            if checked.cvss is not None:
                _set_cvss(case, checked.cvss)
            if checked.weakness is not None:
                case.cwe = checked.weakness.id
            session.add(case)
            session.flush()
            _event(session, case, now, actor.email, "opened", f"Opened by a {source} report.")
            self._add_default_vendor(session, case, draft.program, now)
        report = Report(
            public_id=_unused_id(session, "W", Report),
            case_id=case.id,
            fingerprint=fingerprint,
            source=source,
            title=draft.title,
            program=draft.program,
            affected_versions=list(draft.affected_versions),
            reporter=draft.reporter,
            submitted_by=actor.email,
            submitted_by_organisation_id=actor.organisation_id,
            model=draft.model,
            repository=draft.repository,
            fixed_commit=draft.fixed_commit,
            poc_input=draft.poc_input,
            cvss_vector=None if checked.cvss is None else checked.cvss.vector,
            cwe=None if checked.weakness is None else checked.weakness.id,
            signature=signature,
            review=review,
            finding=finding,
            reproduction="pending",
            created_at=now,
        )
        session.add(report)
        session.flush()
        reference = ReportRef(report.id, report.public_id)
        vault = self._context.vault
        vault.create_report_key(session, reference)
        vault.store(session, reference, POC, draft.poc_bytes)
        if draft.details:
            vault.store(session, reference, DETAILS, draft.details.encode())
        if draft.crash_report:
            vault.store(session, reference, CRASH_REPORT, draft.crash_report.encode())
        if placed.joined:
            _event(session, case, now, actor.email, "duplicate", f"Report {report.public_id} joined as a duplicate.")
        else:
            _event(session, case, now, actor.email, "report", f"Report {report.public_id} opened the case.")
        if audit:
            self._context.audit.append(
                session,
                actor=actor.email,
                action="vulns.report",
                target=f"report:{report.public_id}",
                details={"case": case.public_id, "joined": placed.joined, "source": source},
            )
        return Intake(
            report=report.public_id, case=case.public_id, joined=placed.joined, reproduction=report.reproduction
        )

    def _place(
        self,
        session: Session,
        actor: Principal,
        program: str,
        signature: str | None,
        fixed_commit: str | None,
        now: datetime,
    ) -> _Placed:
        """The live case a report of ``program`` with these keys belongs to (merging the cases it links), or a new
        one. *Our choice:* keys match within one program only: ``parse_header`` crashing in two programs is two
        bugs, and a fixing commit names a change of one repository."""
        conditions = []
        if signature is not None:
            conditions.append(Report.signature == signature)
        if fixed_commit:
            conditions.append(Report.fixed_commit == fixed_commit)
        matches: list[Case] = []
        if conditions:
            case_ids = set(
                session.scalars(select(Report.case_id).where(Report.program == program, or_(*conditions)).distinct())
            )
            matches = sorted(
                {_live(session, session.get_one(Case, case_id)) for case_id in case_ids}, key=lambda c: c.id
            )
        if not matches:
            case = Case(
                public_id=_unused_id(session, "V", Case),
                title="",
                program="",
                tlp=DEFAULT_TLP,
                embargo_days=DEFAULT_EMBARGO_DAYS,
                paused_seconds=0,
                extension_days=0,
                reminders_sent=[],
                priority_rank=-1,
                created_at=now,
            )
            return _Placed(case, joined=False)
        oldest, younger = matches[0], matches[1:]
        merged = []
        for case in younger:
            if _has_outsiders(session, oldest) or _has_outsiders(session, case):
                # A report's keys are its reporter's claim until checked: merging on them would let a forged report
                # give one case's vendors or partners the other case's proofs of concept. Once anyone outside the
                # agency holds either case, an analyst decides (`vulns merge`).
                said = (
                    "A report links this case with {other} (same crash signature or fixing commit); merge them "
                    "with `airlock vulns merge` if they are one vulnerability."
                )
                _event(session, oldest, now, actor.email, "linked", said.format(other=case.public_id))
                _event(session, case, now, actor.email, "linked", said.format(other=oldest.public_id))
                continue
            self._merge(session, actor, case, into=oldest, now=now)
            merged.append(case)
        return _Placed(oldest, joined=True, merged=merged)

    def merge(self, actor: Principal, case_id: str, into_id: str) -> CaseView:
        """Merge a case into another (analysts): one vulnerability, found twice. Its reports, vendors (the further
        status kept), partner shares and disclosure clock (the earlier start) join the other case, whose id its own
        now leads to."""
        with self._managed(actor, into_id, "vulns.merge") as (session, into):
            case = self._visible_case(session, actor, case_id)
            authorize(actor, Action.MANAGE_CASE, _case_scope(session, case), what=f"merge case {case.public_id}")
            if case.id == into.id:
                raise InvalidInputError(
                    f"Case {case.public_id} and the case to merge it into are one case.", "Name two different cases."
                )
            if case.program != into.program:
                raise InvalidInputError(
                    f"Case {case.public_id} is about {case.program} and {into.public_id} about {into.program}: "
                    "a merge joins two reports of one vulnerability in one program.",
                    "Link them in your notes instead; nothing was merged.",
                )
            if case.published_at is not None:
                raise TransitionError(f"Case {case.public_id} is published; it changes no more.")
            self._merge(session, actor, case, into=into, now=self._context.clock.now())
            return self._view(session, actor, into)

    def _merge(self, session: Session, actor: Principal, case: Case, *, into: Case, now: datetime) -> None:
        for report in session.scalars(select(Report).where(Report.case_id == case.id)):
            report.case_id = into.id
        for vendor in session.scalars(select(CaseVendor).where(CaseVendor.case_id == case.id)):
            kept = session.scalar(
                select(CaseVendor).where(
                    CaseVendor.case_id == into.id, CaseVendor.organisation_id == vendor.organisation_id
                )
            )
            if kept is None:
                vendor.case_id = into.id
                continue
            if VENDOR_PROGRESS.index(VendorStatus(vendor.status)) > VENDOR_PROGRESS.index(VendorStatus(kept.status)):
                kept.status, kept.updated_at = vendor.status, vendor.updated_at
            session.delete(vendor)
        for share in session.scalars(select(CaseShare).where(CaseShare.case_id == case.id)):
            kept_share = session.scalar(
                select(CaseShare).where(
                    CaseShare.case_id == into.id, CaseShare.organisation_id == share.organisation_id
                )
            )
            if kept_share is None:
                share.case_id = into.id
            else:
                kept_share.with_poc = kept_share.with_poc or share.with_poc
                session.delete(share)
        if case.first_notified_at is not None and (
            into.first_notified_at is None or case.first_notified_at < into.first_notified_at
        ):
            into.first_notified_at = case.first_notified_at  # the clock runs from the first vendor told of the bug
        case.merged_into_id = into.id
        _event(session, case, now, actor.email, "merged", f"Merged into case {into.public_id}: one root cause.")
        _event(session, into, now, actor.email, "merged", f"Case {case.public_id} merged into this one.")
        session.flush()

    def _add_default_vendor(self, session: Session, case: Case, program: str, now: datetime) -> None:
        vendor_id = session.scalar(
            select(Program.vendor_id).where(Program.name == program, Program.vendor_id.is_not(None)).limit(1)
        )
        if vendor_id is not None:
            session.add(
                CaseVendor(case_id=case.id, organisation_id=vendor_id, status=VendorStatus.UNAWARE, updated_at=now)
            )

    def from_sample(self, actor: Principal, review: str, run: str, sample: str, *, epoch: int = 1) -> Intake:
        """A memory error the model proved during a review (a discovery or exploit task's sample) as a report: its
        PoC, the oracle's sanitizer report, and the challenge's sources registered as the build it reproduces on.
        Reading the transcript is the review's content read (its assigned reviewers, audited)."""
        from airlock.reports.evidence import judged_score, sample_record, submitted_poc
        from airlock.review.samples import Samples

        found = Samples(self._context).transcript(
            actor, run, sample, epoch=epoch, review_id=review, purpose="report to the clearinghouse"
        )
        record = sample_record(found.text or "{}")
        metadata = judged_score(record).get("metadata") or {}
        evidence = str(metadata.get("evidence") or "")
        poc = submitted_poc(record)
        if poc is None or not metadata.get("bug_class") or "Sanitizer" not in evidence:
            raise InvalidInputError(
                f"Sample {found.sample} (epoch {found.epoch}) proved no memory error: "
                f"its oracle said {found.reason!r}.",
                "Report a sample whose PoC the oracle saw crash the program (a discovery or exploit task).",
            )
        sample_metadata = record.get("metadata") or {}
        program, version = f"{found.family}/{found.sample}", str(sample_metadata.get("version") or "1")
        self._register_challenge(actor, program, version, sample_metadata.get("challenge"))
        draft = ReportDraft(
            title=f"Memory error ({metadata.get('bug_class')}) in {metadata.get('function') or 'the program'}",
            program=program,
            affected_versions=[version],
            reporter=actor.email,
            poc=base64.b64encode(poc).decode(),
            crash_report=evidence,
            model=found.model,
            # Details reach the vendors: no review, run or model named (the report's row keeps the review for staff).
            details=f"Proven by a model under evaluation in a sandbox; the oracle's verdict: {found.reason}.",
        )
        return self.submit(actor, draft, source="review", review=found.review, keep_unreproduced=True)

    def _register_challenge(self, actor: Principal, program: str, version: str, directory: object) -> None:
        if not isinstance(directory, str) or not Path(directory).is_dir():
            return  # no build: the report waits for one (reproduction says so)
        from airlock.evals.challenges.manifest import load_challenge

        challenge = load_challenge(Path(directory))
        sources = {name: challenge.read(path) for name, path in challenge.files.items()}
        poc_input = "file" if challenge.run is not None and challenge.run.input == "file" else "stdin"
        with self._context.reading() as session:
            if session.scalar(select(Program.id).where(Program.name == program, Program.version == version)):
                return
        self.add_program(actor, program, version, sources, poc_input=poc_input)

    # Reproduction -------------------------------------------------------------------------------------------

    def reproduce(self, actor: Principal, report_id: str) -> ReportView:
        """Run the report's PoC against its build in a fresh sandbox and record what happened."""
        public_id = normalise_public_id(report_id)
        with self._context.operation(actor, "vulns.reproduce.read", f"report:{public_id}") as session:
            # Refused before the report is looked up: who may not reproduce learns not whether it exists.
            authorize(actor, Action.MANAGE_CASE, what=f"reproduce report {public_id}")
            report = _report(session, public_id)
            target = _target(session, report.program, report.affected_versions)
            poc = self._read(session, actor, report, POC, purpose="reproduction") if target else b""
        outcome = (
            _run(target, poc)
            if target is not None
            else Reproduction(
                False,
                NO_BUILD,
                None,
                f"No build of {report.program} {', '.join(report.affected_versions)} is registered "
                "(`airlock vulns program add`).",
            )
        )
        with self._context.operation(actor, "vulns.reproduce", f"report:{report.public_id}") as session:
            report = _report(session, report.public_id)
            self._record_reproduction(session, actor, report, outcome)
            return _report_view(session, report)

    def reproduce_pending(
        self, actor: Principal, *, progress: Callable[[int, int], None] | None = None
    ) -> list[ReportView]:
        with self._context.operation(actor, "vulns.reproduce.pending") as session:
            authorize(actor, Action.MANAGE_CASE, what="reproduce the pending reports")
            pending = list(session.scalars(select(Report.public_id).where(Report.reproduction == "pending")))
        views = []
        for index, public_id in enumerate(pending, 1):
            views.append(self.reproduce(actor, public_id))
            if progress is not None:
                progress(index, len(pending))
        return views

    def _record_reproduction(self, session: Session, actor: Principal, report: Report, outcome: Reproduction) -> None:
        now = self._context.clock.now()
        if outcome.outcome == NO_BUILD:
            report.reproduction = "pending"  # it waits for its build; `vulns reproduce --pending` tries again
        else:
            report.reproduction = "reproduced" if outcome.reproduced else "not reproduced"
        report.reproduction_outcome = outcome.outcome
        report.reproduced_at = now
        self._context.vault.store(
            session, ReportRef(report.id, report.public_id), REPRODUCTION, outcome.evidence.encode()
        )
        case = _case_of(session, report)
        _event(session, case, now, actor.email, "reproduction", f"Report {report.public_id}: {outcome.summary()}.")
        if outcome.reproduced and outcome.signature is not None and str(outcome.signature) != report.signature:
            report.signature = str(outcome.signature)
            session.flush()
            placed = self._place(session, actor, report.program, report.signature, report.fixed_commit, now)
            if placed.case.id is not None and placed.case.id != case.id:
                report.case_id = placed.case.id
                session.flush()
                moved = f"Report {report.public_id} moved to {placed.case.public_id}."
                _event(session, placed.case, now, actor.email, "duplicate", f"Report {report.public_id} joined.")
                _event(session, case, now, actor.email, "moved", moved)
                if not session.scalar(select(Report.id).where(Report.case_id == case.id).limit(1)):
                    case.merged_into_id = placed.case.id  # left empty: its id leads to where its report went
        session.flush()
        self._context.audit.append(
            session,
            actor=actor.email,
            action="vulns.reproduction",
            target=f"report:{report.public_id}",
            details={"reproduction": report.reproduction, "outcome": outcome.outcome},
        )

    # Reading ------------------------------------------------------------------------------------------------

    def read(self, actor: Principal, report_id: str, kind: str = POC, *, justification: str | None = None) -> bytes:
        """A report's PoC (or details, crash report, reproduction evidence), for whoever may read the case's
        content; every read is audited."""
        if kind not in CONTENT_KINDS:
            raise InvalidInputError(
                f"{kind!r} is not content of a report.", f"Ask for one of: {', '.join(CONTENT_KINDS)}.", field="kind"
            )
        # A break-glass reason that shows nothing (blank, invisible characters) is none, as for a review's content.
        reason = clean_reason(justification, "The break-glass reason", field="break_glass") or None
        public_id = normalise_public_id(report_id)
        with self._context.operation(actor, "vulns.read", f"report:{public_id}") as session:
            report = self._refuse_unseen(session, actor, public_id)
            scope = _case_scope(session, _case_of(session, report))
            return self._read(session, actor, report, kind, purpose="read", justification=reason, scope=scope)

    def _read(
        self,
        session: Session,
        actor: Principal,
        report: Report,
        kind: str,
        *,
        purpose: str,
        justification: str | None = None,
        scope: Scope | None = None,
    ) -> bytes:
        case = _case_of(session, report)
        scope = scope or _case_scope(session, case)
        self._context.gate.admit_case_content(
            session,
            actor,
            scope,
            report=report.public_id,
            case=case.public_id,
            kind=kind,
            purpose=purpose,
            justification=justification,
        )
        stored = self._context.vault.latest_of_report(session, report.id, kind)
        if stored is None:
            raise NotFoundError(f"Report {report.public_id} holds no {kind}.", "Nothing of that kind was given.")
        return self._context.vault.load(session, ReportRef(report.id, report.public_id), stored.address)

    def _refuse_unseen(self, session: Session, actor: Principal, report_id: str) -> Report:
        """The report, if ``actor`` may see its case. Whoever may not learns nothing of it, not even that it exists:
        they are refused in the words that refuse a report that does not exist."""
        public_id = normalise_public_id(report_id)
        report = session.scalar(select(Report).where(Report.public_id == public_id))
        if report is None or not _may(actor, Action.VIEW_CASE, _case_scope(session, _case_of(session, report))):
            raise NotFoundError(
                f"There is no report {public_id} that {actor.email} can see.",
                "List a case's reports with `airlock vulns show CASE`.",
            )
        return report

    def cases(self, actor: Principal) -> list[CaseSummary]:
        """The cases ``actor`` may see, the most urgent first (SSVC action, then CVSS score, then age)."""
        with self._context.reading() as session:
            visibility = case_visibility(actor)
            if visibility.none:
                return []
            query = select(Case).where(Case.merged_into_id.is_(None))
            if visibility.vendor_organisation_id is not None:
                query = query.where(
                    Case.id.in_(
                        select(CaseVendor.case_id).where(
                            CaseVendor.organisation_id == visibility.vendor_organisation_id,
                            CaseVendor.status != VendorStatus.UNAWARE,
                        )
                    )
                )
            if visibility.shared_with_organisation_id is not None:
                query = query.where(
                    Case.id.in_(
                        select(CaseShare.case_id).where(
                            CaseShare.organisation_id == visibility.shared_with_organisation_id
                        )
                    )
                )
            query = query.order_by(Case.priority_rank.desc(), func.coalesce(Case.cvss_score, -1.0).desc(), Case.id)
            counts = dict(session.execute(select(Report.case_id, func.count()).group_by(Report.case_id)).all())
            now = self._context.clock.now()
            summaries = []
            for case in session.scalars(query):
                if not _may(actor, Action.VIEW_CASE, _case_scope(session, case)):
                    continue  # the policy has the last word on each case the query let through
                reading = read_disclosure_clock(case, now)
                summaries.append(
                    CaseSummary(
                        public_id=case.public_id,
                        title=inert(case.title),
                        program=inert(case.program),
                        reports=counts.get(case.id, 0),
                        ssvc_action=None if case.ssvc is None else str(case.ssvc["action"]),
                        cvss_score=case.cvss_score,
                        clock=reading.status,
                        days_left=None if reading.status is DisclosureStatus.PUBLISHED else reading.days_left,
                    )
                )
            return summaries

    def show(self, actor: Principal, case_id: str) -> CaseView:
        with self._context.reading() as session:
            case = self._visible_case(session, actor, case_id)
            return self._view(session, actor, case)

    def report(self, actor: Principal, report_id: str) -> ReportView:
        with self._context.reading() as session:
            report = self._refuse_unseen(session, actor, report_id)
            return _report_view(session, report, withhold_source=actor.role in (Role.VENDOR_CONTACT, Role.PARTNER))

    # Prioritisation -----------------------------------------------------------------------------------------

    def score(self, actor: Principal, case_id: str, *, cvss: str | None = None, cwe: str | None = None) -> CaseView:
        """Set the case's CVSS 4.0 vector and/or CWE, each checked by the field's library."""
        if cvss is None and cwe is None:
            raise InvalidInputError("Give a CVSS 4.0 vector, a CWE id, or both.", field="cvss")
        score = cvss4(cvss) if cvss is not None else None
        found = weakness(cwe) if cwe is not None else None
        with self._managed(actor, case_id, "vulns.score") as (session, case):
            now = self._context.clock.now()
            if score is not None:
                _set_cvss(case, score)
                _event(
                    session,
                    case,
                    now,
                    actor.email,
                    "cvss",
                    f"CVSS 4.0 {score.score} ({score.severity}): {score.vector}",
                )
            if found is not None:
                case.cwe = found.id
                _event(session, case, now, actor.email, "cwe", f"{found.id}: {found.name}")
            return self._view(session, actor, case)

    def decide(
        self,
        actor: Principal,
        case_id: str,
        *,
        exploitation: str,
        automatable: str,
        technical_impact: str,
        mission_wellbeing: str,
        rationale: str,
    ) -> CaseView:
        """Record an SSVC decision (CISA's coordinator tree) with who decided, when and why."""
        decision = ssvc_decision(
            exploitation=exploitation,
            automatable=automatable,
            technical_impact=technical_impact,
            mission_wellbeing=mission_wellbeing,
            decided_by=actor.email,
            decided_at=self._context.clock.now(),
            rationale=rationale,
        )
        with self._managed(actor, case_id, "vulns.ssvc") as (session, case):
            case.ssvc = _ssvc_record(decision)
            case.priority_rank = ACTIONS.index(decision.action)
            _event(session, case, decision.decided_at, actor.email, "ssvc", f"{decision.vector}: {decision.rationale}")
            return self._view(session, actor, case)

    # Coordination -------------------------------------------------------------------------------------------

    def add_vendor(self, actor: Principal, case_id: str, vendor: str) -> CaseView:
        with self._managed(actor, case_id, "vulns.vendor.add") as (session, case):
            organisation = _vendor_organisation(session, vendor)
            if session.scalar(
                select(CaseVendor).where(CaseVendor.case_id == case.id, CaseVendor.organisation_id == organisation.id)
            ):
                raise ConflictError(f"{organisation.slug} is a vendor of {case.public_id} already.")
            now = self._context.clock.now()
            session.add(
                CaseVendor(
                    case_id=case.id, organisation_id=organisation.id, status=VendorStatus.UNAWARE, updated_at=now
                )
            )
            _event(session, case, now, actor.email, "vendor", f"Vendor {organisation.slug} added.")
            session.flush()
            return self._view(session, actor, case)

    def notify(self, actor: Principal, case_id: str) -> list[str]:
        """Prepare a notification to every contact of every vendor still unaware; starts the disclosure clock."""
        with self._managed(actor, case_id, "vulns.notify") as (session, case):
            now = self._context.clock.now()
            vendors = list(
                session.scalars(
                    select(CaseVendor).where(CaseVendor.case_id == case.id, CaseVendor.status == VendorStatus.UNAWARE)
                )
            )
            if not vendors:
                raise TransitionError(
                    f"Case {case.public_id} has no vendor still unaware: every vendor it has was notified.",
                    "Add another vendor with `airlock vulns vendor` to notify it.",
                )
            recipients: list[tuple[Organisation, list[User]]] = []
            for vendor in vendors:
                organisation = session.get_one(Organisation, vendor.organisation_id)
                contacts = list(
                    session.scalars(select(User).where(User.organisation_id == organisation.id).order_by(User.email))
                )
                if not contacts:
                    raise InvalidInputError(
                        f"Vendor {organisation.slug} has no contact to notify.",
                        "Add one of its people as a vendor_contact user first; nothing was sent.",
                    )
                for contact in contacts:
                    _check_mailbox(contact.email)
                recipients.append((organisation, contacts))
            if case.first_notified_at is None:
                case.first_notified_at = now
            deadline = read_disclosure_clock(case, now).deadline
            files = []
            for (organisation, contacts), vendor in zip(recipients, vendors, strict=True):
                vendor.status = coordination.move(
                    VendorStatus(vendor.status), VendorStatus.NOTIFIED, vendor=organisation.slug
                )
                vendor.updated_at = now
                for contact in contacts:
                    files.append(self._send(session, case, contact.email, now, deadline))
                _event(
                    session,
                    case,
                    now,
                    actor.email,
                    "notified",
                    f"{organisation.slug} notified ({len(contacts)} contacts).",
                )
            return files

    def _send(self, session: Session, case: Case, recipient: str, now: datetime, deadline: datetime | None) -> str:
        settings = self._context.settings
        notice = Notice(
            case=case.public_id,
            tlp=case.tlp,
            title=case.title,
            product=case.program,
            severity=_severity(case),
            deadline=deadline,
            portal_url=f"{settings.portal_url.rstrip('/')}/vulns/{case.public_id}",
        )
        domain = settings.mail_from.rpartition("@")[2] or "airlock.invalid"
        _check_mailbox(recipient)
        message = notification(notice, sender=settings.mail_from, recipient=recipient, sent_at=now, domain=domain)
        where = self._outbox.put(message, now)
        if isinstance(self._outbox, FileOutbox):
            # A message prepared in a transaction that rolls back was never sent: the record would not show it.
            outbox = self._outbox
            session.info.setdefault("on_rollback", []).append(lambda: outbox.withdraw(where))
        session.add(
            OutboxMessage(
                case_id=case.id,
                recipient=recipient,
                subject=str(message["Subject"]),
                file=Path(where).name[:200],
                prepared_at=now,
            )
        )
        return where

    def answer(
        self, actor: Principal, case_id: str, status: str, *, vendor: str | None = None, note: str = ""
    ) -> CaseView:
        """A vendor's answer: acknowledged, fixed or not affected. A vendor's contact answers for their own
        organisation; an analyst records an answer given by other means, naming the vendor."""
        answers = (VendorStatus.ACKNOWLEDGED, VendorStatus.FIXED, VendorStatus.NOT_AFFECTED)
        try:
            wanted = VendorStatus(status.strip().lower().replace(" ", "_").replace("-", "_"))
        except ValueError:
            wanted = None
        if wanted not in answers:
            raise InvalidInputError(
                f"{shorten(status)!r} is not a vendor's answer.",
                f"Say one of: {', '.join(answer.value for answer in answers)}.",
                field="status",
            )
        with self._context.operation(actor, "vulns.answer", f"case:{normalise_public_id(case_id)}") as session:
            case = self._visible_case(session, actor, case_id)
            authorize(actor, Action.ANSWER_CASE, _case_scope(session, case), what=f"answer case {case.public_id}")
            if case.published_at is not None:
                raise TransitionError(f"Case {case.public_id} is published; it changes no more.")
            if actor.role is Role.VENDOR_CONTACT:
                organisation = session.get_one(Organisation, actor.organisation_id)
                if vendor is not None and find_organisation(session, vendor).id != organisation.id:
                    raise InvalidInputError(
                        f"A vendor's contact answers for their own organisation ({organisation.slug}) only.",
                        "Leave the vendor out; nothing was recorded.",
                        field="vendor",
                    )
            elif vendor is None:
                raise InvalidInputError("Name the vendor whose answer this is.", field="vendor")
            else:
                organisation = find_organisation(session, vendor)
            row = session.scalar(
                select(CaseVendor).where(CaseVendor.case_id == case.id, CaseVendor.organisation_id == organisation.id)
            )
            if row is None:
                raise NotFoundError(f"{organisation.slug} is not a vendor of case {case.public_id}.")
            now = self._context.clock.now()
            row.status = coordination.move(VendorStatus(row.status), wanted, vendor=organisation.slug)
            row.updated_at = now
            said = f" ({' '.join(note.split())[:500]})" if note.strip() else ""
            _event(session, case, now, actor.email, "vendor_status", f"{organisation.slug}: {wanted.value}{said}.")
            self._context.audit.append(
                session,
                actor=actor.email,
                action="vulns.answer",
                target=f"case:{case.public_id}",
                details={"vendor": organisation.slug, "status": wanted.value},
            )
            session.flush()
            return self._view(session, actor, case)

    def set_embargo(self, actor: Principal, case_id: str, days: int) -> CaseView:
        with self._managed(actor, case_id, "vulns.embargo") as (session, case):
            case.embargo_days = checked_embargo(days)
            _event(session, case, self._context.clock.now(), actor.email, "embargo", f"Embargo set to {days} days.")
            return self._view(session, actor, case)

    def pause(self, actor: Principal, case_id: str, reason: str) -> CaseView:
        with self._managed(actor, case_id, "vulns.pause") as (session, case):
            now = self._context.clock.now()
            if case.first_notified_at is None or case.published_at is not None:
                raise TransitionError(
                    f"The disclosure clock of {case.public_id} is not running.",
                    "It starts when a vendor is first notified (`airlock vulns notify`) and stops at publication.",
                )
            if case.paused_since is not None:
                raise TransitionError(f"The disclosure clock of {case.public_id} is paused already.")
            case.paused_since = now
            _event(session, case, now, actor.email, "paused", _reason(reason))
            return self._view(session, actor, case)

    def resume(self, actor: Principal, case_id: str) -> CaseView:
        with self._managed(actor, case_id, "vulns.resume") as (session, case):
            now = self._context.clock.now()
            if case.paused_since is None:
                raise TransitionError(f"The disclosure clock of {case.public_id} is not paused.")
            case.paused_seconds += int((now - case.paused_since).total_seconds())
            case.paused_since = None
            _event(session, case, now, actor.email, "resumed", "Disclosure clock resumed.")
            return self._view(session, actor, case)

    def extend(self, actor: Principal, case_id: str, days: int, reason: str) -> CaseView:
        with self._managed(actor, case_id, "vulns.extend") as (session, case):
            if not 1 <= days <= 365:
                raise InvalidInputError(
                    f"An extension of {days} days is out of bounds.", "Give 1 to 365 days.", field="days"
                )
            if case.first_notified_at is None or case.published_at is not None:
                raise TransitionError(
                    f"The disclosure clock of {case.public_id} is not running.",
                    "It starts when a vendor is first notified (`airlock vulns notify`) and stops at publication.",
                )
            case.extension_days += days
            _event(session, case, self._context.clock.now(), actor.email, "extended", f"{days} days: {_reason(reason)}")
            return self._view(session, actor, case)

    def remind(self, actor: Principal | str) -> list[str]:
        """Prepare the reminders now due (30, 14, 7 and 1 days before each deadline), each once."""
        label = actor if isinstance(actor, str) else actor.email
        with self._context.operation(actor, "vulns.remind") as session:
            if not isinstance(actor, str):
                authorize(actor, Action.SEND_REMINDERS, what="send the clearinghouse's reminders")
            now = self._context.clock.now()
            files = []
            cases = session.scalars(
                select(Case).where(
                    Case.first_notified_at.is_not(None), Case.published_at.is_(None), Case.merged_into_id.is_(None)
                )
            )
            for case in cases:
                due = reminders_due(case, now, case.reminders_sent)
                if not due:
                    continue
                case.reminders_sent = sorted({*case.reminders_sent, *due}, reverse=True)
                deadline = read_disclosure_clock(case, now).deadline
                for vendor in session.scalars(select(CaseVendor).where(CaseVendor.case_id == case.id)):
                    if vendor.status not in (VendorStatus.NOTIFIED, VendorStatus.ACKNOWLEDGED):
                        continue
                    for contact in session.scalars(select(User).where(User.organisation_id == vendor.organisation_id)):
                        files.append(self._send(session, case, contact.email, now, deadline))
                _event(session, case, now, label, "reminder", f"{min(due)} days before the deadline.")
            return files

    def share(self, actor: Principal, case_id: str, partner: str, *, with_poc: bool) -> CaseView:
        with self._managed(actor, case_id, "vulns.share") as (session, case):
            organisation = find_organisation(session, partner)
            if organisation.kind != OrganisationKind.PARTNER:
                raise InvalidInputError(
                    f"{organisation.slug} is a {organisation.kind} organisation; cases are shared with partners.",
                    field="partner",
                )
            if case.tlp in ("AMBER+STRICT", "RED"):
                raise TransitionError(
                    f"Case {case.public_id} is marked TLP:{case.tlp}, which keeps it within the vendors' own people.",
                    "Change its marking first (`airlock vulns tlp`) if the partner may have it.",
                )
            now = self._context.clock.now()
            row = session.scalar(
                select(CaseShare).where(CaseShare.case_id == case.id, CaseShare.organisation_id == organisation.id)
            )
            if row is None:
                row = CaseShare(
                    case_id=case.id,
                    organisation_id=organisation.id,
                    with_poc=with_poc,
                    shared_by=actor.email,
                    shared_at=now,
                )
                session.add(row)
            row.with_poc, row.shared_by, row.shared_at = with_poc, actor.email, now
            what = "with its proofs of concept" if with_poc else "without its proofs of concept"
            _event(session, case, now, actor.email, "shared", f"Shared with {organisation.slug}, {what}.")
            session.flush()
            return self._view(session, actor, case)

    def set_tlp(self, actor: Principal, case_id: str, tlp: str) -> CaseView:
        label = tlp.strip().upper().removeprefix("TLP:")
        if label not in TLP_LABELS:
            raise InvalidInputError(
                f"{tlp!r} is not a TLP 2.0 label.", f"Say one of: {', '.join(TLP_LABELS)}.", field="tlp"
            )
        with self._managed(actor, case_id, "vulns.tlp") as (session, case):
            case.tlp = label
            _event(session, case, self._context.clock.now(), actor.email, "tlp", f"Marked TLP:{label}.")
            return self._view(session, actor, case)

    # Disclosure ---------------------------------------------------------------------------------------------

    def prepare_advisory(
        self,
        actor: Principal,
        case_id: str,
        *,
        summary: str,
        fixed_versions: Sequence[str] = (),
        publisher: str = "Airlock clearinghouse",
        namespace: str = "https://airlock.invalid",
    ) -> str:
        """Export the case's advisory (CSAF 2.0, validated; OSV, checked) into the vault and return the commitment
        to it, to publish before the advisory itself."""
        if not summary.strip():
            raise InvalidInputError("An advisory needs a summary.", field="summary")
        with self._managed(actor, case_id, "vulns.advisory") as (session, case):
            now = self._context.clock.now()
            reports = list(session.scalars(select(Report).where(Report.case_id == case.id).order_by(Report.id)))
            vendors = [
                session.get_one(Organisation, v.organisation_id).name
                for v in session.scalars(
                    select(CaseVendor).where(CaseVendor.case_id == case.id).order_by(CaseVendor.id)
                )
            ]
            revision = 1 + (
                session.scalar(select(func.max(AdvisoryRecord.revision)).where(AdvisoryRecord.case_id == case.id)) or 0
            )
            advisory = Advisory(
                id=f"AIRLOCK-{case.created_at:%Y}-{case.public_id}",
                title=case.title,
                summary=" ".join(summary.split()),
                details=_advisory_details(case, reports, fixed_versions),
                # Written to be published: marked as what it will be then (the embargoed copy is in the vault).
                tlp="CLEAR",
                publisher_name=publisher,
                publisher_namespace=namespace,
                vendor=vendors[0] if vendors else "Unknown vendor",
                product=case.program,
                affected_versions=tuple(sorted({v for r in reports for v in r.affected_versions})),
                fixed_versions=tuple(fixed_versions),
                revisions=(Revision(now, str(revision), "Initial release" if revision == 1 else "Revised"),),
                repository=next((r.repository for r in reports if r.repository), None),
                fixed_commit=next((r.fixed_commit for r in reports if r.fixed_commit), None),
                weakness=None if case.cwe is None else weakness(case.cwe),
                cvss=None if case.cvss_vector is None else cvss4(case.cvss_vector),
                ssvc=_ssvc_decision_of(case.ssvc),
            )
            csaf = csaf_document(advisory)
            validate_csaf(csaf)
            osv = osv_record(advisory)
            check_osv(osv)
            document = canonical_json(csaf)
            commitment = commit(document)
            anchor = reports[0]
            stored = self._context.vault.store(
                session,
                ReportRef(anchor.id, anchor.public_id),
                ADVISORY,
                json.dumps(
                    {"csaf": document.decode(), "osv": canonical_json(osv).decode(), "nonce": commitment.nonce}
                ).encode(),
            )
            session.add(
                AdvisoryRecord(
                    case_id=case.id,
                    revision=revision,
                    report_id=anchor.id,
                    address=stored.address,
                    commitment=commitment.digest,
                    committed_at=now,
                )
            )
            _event(
                session,
                case,
                now,
                actor.email,
                "commitment",
                f"Advisory revision {revision} committed: {commitment.digest}",
            )
            return commitment.digest

    def publish(self, actor: Principal, case_id: str, directory: Path, *, anyway: str | None = None) -> Publication:
        """Reveal the latest advisory: its CSAF and OSV files and the commitment's nonce, written to ``directory``.

        Only once every vendor has answered fixed or not affected, or the disclosure deadline has passed; before
        that only with a recorded reason (``anyway``)."""
        with self._context.operation(actor, "vulns.publish", f"case:{normalise_public_id(case_id)}") as session:
            case = self._visible_case(session, actor, case_id)
            authorize(actor, Action.PUBLISH_ADVISORY, _case_scope(session, case), what=f"publish {case.public_id}")
            record = session.scalar(
                select(AdvisoryRecord)
                .where(AdvisoryRecord.case_id == case.id)
                .order_by(AdvisoryRecord.revision.desc())
                .limit(1)
            )
            if record is None:
                raise TransitionError(
                    f"Case {case.public_id} has no advisory yet.", "Prepare one with `vulns advisory`."
                )
            now = self._context.clock.now()
            statuses = {
                str(v.organisation_id): VendorStatus(v.status)
                for v in session.scalars(select(CaseVendor).where(CaseVendor.case_id == case.id))
            }
            overdue = read_disclosure_clock(case, now).status is DisclosureStatus.OVERDUE
            if anyway is not None and not anyway.strip():
                raise InvalidInputError("The reason to publish before the case is ready is empty.", field="anyway")
            if not ready_to_disclose(statuses) and not overdue and anyway is None:
                waiting = sorted(
                    session.get_one(Organisation, int(organisation)).slug
                    for organisation, status in statuses.items()
                    if status not in (VendorStatus.FIXED, VendorStatus.NOT_AFFECTED)
                )
                raise TransitionError(
                    f"Case {case.public_id} is not ready to disclose: "
                    + (
                        f"{', '.join(waiting)} has not yet answered fixed or not affected"
                        if waiting
                        else "it has no vendor"
                    )
                    + ", and its deadline has not passed.",
                    "Wait, or publish with a recorded reason (--anyway REASON).",
                )
            anchor = session.get_one(Report, record.report_id)
            stored = json.loads(
                self._context.vault.load(session, ReportRef(anchor.id, anchor.public_id), record.address)
            )
            directory.mkdir(parents=True, exist_ok=True)
            stem = directory / case.public_id
            paths = Publication(
                csaf=stem.with_suffix(".csaf.json"),
                osv=stem.with_suffix(".osv.json"),
                commitment=stem.with_suffix(".commitment"),
            )
            paths.csaf.write_bytes(stored["csaf"].encode())
            paths.osv.write_bytes(stored["osv"].encode())
            paths.commitment.write_text(f"{record.commitment}\nnonce {stored['nonce']}\n")
            record.revealed_at = now
            case.published_at = now
            case.tlp = "CLEAR"  # public from now on, as the published documents say
            why = f" before it was ready: {_reason(anyway or '')}" if (anyway or "").strip() else ""
            _event(session, case, now, actor.email, "published", f"Advisory revision {record.revision} published{why}.")
            return paths

    # Helpers ------------------------------------------------------------------------------------------------

    def _visible_case(self, session: Session, actor: Principal, case_id: str) -> Case:
        public_id = normalise_public_id(case_id)
        case = session.scalar(select(Case).where(Case.public_id == public_id))
        if case is not None:
            case = _live(session, case)
        if case is None or not _may(actor, Action.VIEW_CASE, _case_scope(session, case)):
            raise NotFoundError(
                f"There is no case {public_id} that {actor.email} can see.", "List yours with `airlock vulns list`."
            )
        return case

    @contextmanager
    def _managed(self, actor: Principal, case_id: str, action: str) -> Iterator[tuple[Session, Case]]:
        """The transaction of an analyst's change to a case that is not yet published."""
        with self._context.operation(actor, action, f"case:{normalise_public_id(case_id)}") as session:
            case = self._visible_case(session, actor, case_id)
            authorize(actor, Action.MANAGE_CASE, _case_scope(session, case), what=f"change case {case.public_id}")
            if case.published_at is not None:
                raise TransitionError(f"Case {case.public_id} is published; it changes no more.")
            yield session, case

    def _view(self, session: Session, actor: Principal, case: Case) -> CaseView:
        now = self._context.clock.now()
        scope = _case_scope(session, case)
        vendors = [
            VendorView(organisation=organisation.slug, name=organisation.name, status=vendor.status)
            for vendor, organisation in session.execute(
                select(CaseVendor, Organisation)
                .join(Organisation, Organisation.id == CaseVendor.organisation_id)
                .where(CaseVendor.case_id == case.id)
                .order_by(Organisation.slug)
            )
        ]
        staff = actor.role not in (Role.VENDOR_CONTACT, Role.PARTNER)
        reports = [
            _report_view(session, report, withhold_source=not staff)
            for report in session.scalars(select(Report).where(Report.case_id == case.id).order_by(Report.id))
        ]
        shared = (
            [
                session.get_one(Organisation, share.organisation_id).slug
                for share in session.scalars(select(CaseShare).where(CaseShare.case_id == case.id))
            ]
            if staff
            else []
        )
        events = list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)))
        shown_actors: set[str] | None = None
        if not staff:
            # Outsiders see what the case says, not the other vendors' and partners' part in it.
            events = [
                e for e in events if e.event not in ("vendor", "notified", "vendor_status", "shared", "merged", "moved")
            ]
            # Nor who reported it: a report's events are its submitter's. The agency's people act in their own name.
            shown_actors = {actor.email} | set(
                session.scalars(
                    select(User.email)
                    .join(Organisation, Organisation.id == User.organisation_id)
                    .where(Organisation.kind == OrganisationKind.AGENCY, User.email.in_({e.actor for e in events}))
                )
            )
        record = session.scalar(
            select(AdvisoryRecord)
            .where(AdvisoryRecord.case_id == case.id)
            .order_by(AdvisoryRecord.revision.desc())
            .limit(1)
        )
        if not staff:
            own = {actor.organisation_id}
            vendors = [
                v
                for v in vendors
                if session.scalar(select(Organisation.id).where(Organisation.slug == v.organisation)) in own
            ]
        return CaseView(
            public_id=case.public_id,
            title=inert(case.title),
            program=inert(case.program),
            tlp=case.tlp,
            cvss_vector=case.cvss_vector,
            cvss_score=case.cvss_score,
            cvss_severity=case.cvss_severity,
            cwe=case.cwe,
            ssvc=case.ssvc,
            clock=read_disclosure_clock(case, now),
            vendors=vendors,
            reports=reports,
            shared_with=shared,
            timeline=[
                EventView(
                    at=e.at,
                    actor=e.actor if shown_actors is None or e.actor in shown_actors else WITHHELD,
                    event=e.event,
                    text=inert(e.text),
                )
                for e in events
            ],
            advisory_commitment=None if record is None else record.commitment,
            published_at=case.published_at,
            created_at=case.created_at,
            may_read_content=_may(actor, Action.READ_CASE_CONTENT, scope),
            may_answer=case.published_at is None and _may(actor, Action.ANSWER_CASE, scope),
            may_manage=case.published_at is None and _may(actor, Action.MANAGE_CASE, scope),
        )


# Module helpers ------------------------------------------------------------------------------------------------


def _run(target: Target, poc: bytes) -> Reproduction:
    return asyncio.run(reproduce(target, poc))


def target_version(draft: ReportDraft) -> str:
    return ", ".join(draft.affected_versions)


def _first_line(text: str) -> str:
    return " ".join(text.split())[:300]


def _target(session: Session, program: str, versions: Sequence[str]) -> Target | None:
    """The registered build of ``program`` at the first of ``versions`` that has one."""
    for version in versions:
        row = session.scalar(select(Program).where(Program.name == program, Program.version == version))
        if row is not None:
            sources = {path: text.encode() for path, text in json.loads(row.sources).items()}
            return Target(sources=sources, input=row.poc_input)  # type: ignore[arg-type]
    return None


def _unused_id(session: Session, prefix: str, table: type[Case] | type[Report]) -> str:
    while True:
        candidate = new_public_id(prefix)
        if session.scalar(select(table.id).where(table.public_id == candidate)) is None:
            return candidate


def _live(session: Session, case: Case) -> Case:
    """The case a merged case now lives in."""
    while case.merged_into_id is not None:
        case = session.get_one(Case, case.merged_into_id)
    return case


def _report(session: Session, report_id: str) -> Report:
    public_id = normalise_public_id(report_id)
    report = session.scalar(select(Report).where(Report.public_id == public_id))
    if report is None:
        raise NotFoundError(f"There is no report {public_id}.", "List a case's reports with `airlock vulns show CASE`.")
    return report


def _case_of(session: Session, report: Report) -> Case:
    return _live(session, session.get_one(Case, report.case_id))


VENDOR_PROGRESS = (
    VendorStatus.UNAWARE,
    VendorStatus.NOTIFIED,
    VendorStatus.ACKNOWLEDGED,
    VendorStatus.NOT_AFFECTED,
    VendorStatus.FIXED,
)
"""How far a vendor has come, for a merge that finds it on both cases (the further status is kept)."""


def _has_outsiders(session: Session, case: Case) -> bool:
    """Whether anyone outside the agency holds the case: a vendor notified of it, or a partner it was shared with."""
    scope = _case_scope(session, case)
    return case.published_at is not None or bool(scope.case_vendor_organisation_ids or scope.case_shares)


def _case_scope(session: Session, case: Case) -> Scope:
    notified = frozenset(
        session.scalars(
            select(CaseVendor.organisation_id).where(
                CaseVendor.case_id == case.id, CaseVendor.status != VendorStatus.UNAWARE
            )
        )
    )
    shares = frozenset(
        (row.organisation_id, row.with_poc)
        for row in session.scalars(select(CaseShare).where(CaseShare.case_id == case.id))
    )
    return Scope(case_vendor_organisation_ids=notified, case_shares=shares)


def _may(actor: Principal, action: Action, scope: Scope) -> bool:
    from airlock.access import is_permitted

    return is_permitted(actor, action, scope)


def _vendor_organisation(session: Session, slug: str) -> Organisation:
    organisation = find_organisation(session, slug)
    if organisation.kind != OrganisationKind.VENDOR:
        raise InvalidInputError(
            f"{organisation.slug} is a {organisation.kind} organisation, not a vendor.",
            "Add the vendor with `airlock org add NAME --kind vendor`.",
            field="vendor",
        )
    return organisation


def _event(session: Session, case: Case, at: datetime, actor: str, event: str, text: str) -> None:
    session.add(CaseEvent(case_id=case.id, at=at, actor=actor, event=event, text=text[:2000]))


def _set_cvss(case: Case, score: CvssScore) -> None:
    case.cvss_vector, case.cvss_score, case.cvss_severity = score.vector, score.score, score.severity


def _severity(case: Case) -> str:
    if case.cvss_score is None:
        return "not yet scored"
    return f"CVSS 4.0 {case.cvss_score} ({case.cvss_severity})"


def _ssvc_record(decision: SsvcDecision) -> dict[str, Any]:
    return {
        "exploitation": decision.exploitation,
        "automatable": decision.automatable,
        "technical_impact": decision.technical_impact,
        "mission_wellbeing": decision.mission_wellbeing,
        "action": decision.action,
        "decided_by": decision.decided_by,
        "decided_at": decision.decided_at.isoformat(),
        "rationale": decision.rationale,
    }


def _ssvc_decision_of(record: dict[str, Any] | None) -> SsvcDecision | None:
    if record is None:
        return None
    return SsvcDecision(
        exploitation=record["exploitation"],
        automatable=record["automatable"],
        technical_impact=record["technical_impact"],
        mission_wellbeing=record["mission_wellbeing"],
        action=record["action"],
        decided_by=record["decided_by"],
        decided_at=datetime.fromisoformat(record["decided_at"]),
        rationale=record["rationale"],
    )


def _advisory_details(case: Case, reports: Sequence[Report], fixed_versions: Sequence[str]) -> str:
    """What an advisory says beyond its summary: the flaw, where, the versions, the fix (never a PoC)."""
    versions = sorted({version for report in reports for version in report.affected_versions})
    said = [f"{case.title}. Affected: {case.program} {', '.join(versions)}."]
    if case.cwe:
        said.append(f"Weakness: {case.cwe}.")
    if fixed_versions:
        said.append(f"Fixed in {', '.join(fixed_versions)}.")
    return " ".join(said)


def _reason(reason: str) -> str:
    cleaned = " ".join(reason.split())
    if not cleaned:
        raise InvalidInputError("Give the reason in a sentence; it is kept in the case's timeline.", field="reason")
    return cleaned[:1000]


WITHHELD = "withheld"


def _report_view(session: Session, report: Report, *, withhold_source: bool = False) -> ReportView:
    """A report as a list shows it. For a vendor or partner, who reported it and which model found it are withheld:
    a reporter's name is theirs to give, and a model under review is confidential to its review."""
    if withhold_source:
        return _report_view(session, report).model_copy(update={"reporter": WITHHELD, "model": None})
    return ReportView(
        public_id=report.public_id,
        case=_case_of(session, report).public_id,
        source=report.source,
        title=inert(report.title),
        program=inert(report.program),
        affected_versions=[inert(version) for version in report.affected_versions],
        reporter=inert(report.reporter),
        model=None if report.model is None else inert(report.model),
        fixed_commit=None if report.fixed_commit is None else inert(report.fixed_commit),
        signature=None if report.signature is None else inert(report.signature),
        reproduction=report.reproduction,
        reproduction_outcome=report.reproduction_outcome,
        created_at=report.created_at,
    )


def _check_mailbox(address: str) -> None:
    """Refuse an address a notification cannot go to alone: the directory takes ``ops,eve@evil.example`` as one
    address, but a mail header reads two mailboxes in it."""
    if not is_one_mailbox(address):
        raise InvalidInputError(
            f"The vendor contact {shorten(address, 254)} has an address that is not one mailbox, so a notification "
            "to it could reach someone else; nothing was sent.",
            "Add the contact under their plain address (name@example.org).",
        )
