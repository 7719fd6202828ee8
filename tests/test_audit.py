"""The audit log: an untouched log verifies; any change, deletion, reordering or insertion of an entry,
and any forged checkpoint, is detected and the first bad entry named."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from airlock.app import Airlock
from airlock.audit.log import AuditIntegrityError, chain_hash, entry_record
from airlock.audit.models import AuditCheckpoint, AuditEntry, AuditHead
from airlock.audit.note import Checkpoint, sign_note
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.errors import AirlockError, PermissionDeniedError
from airlock.review import ReviewState
from airlock.review.oversight import UnusualAccessThresholds
from tests.support.cli import Cli
from tests.support.world import World, review_in_state, submit


@pytest.fixture
def busy(airlock: Airlock, world: World) -> Airlock:
    """A deployment whose log holds a few dozen entries: submissions, transitions, reads, refusals."""
    review = review_in_state(airlock, world, ReviewState.EVALUATING)
    airlock.reviews.read_content(world.reviewer, review.id, "model_card", purpose="analysis")
    with pytest.raises(AirlockError):
        airlock.reviews.read_content(world.auditor, review.id, "model_card", purpose="curiosity")
    airlock.reviews.withdraw(world.acme_admin, submit(airlock, world).id)
    return airlock


def verify(airlock: Airlock) -> tuple[bool, int | None, list[str]]:
    operator = airlock.directory.principal()
    with airlock.database.transaction() as session:
        result = airlock.audit.verify(session, airlock.audit_verifier_key())
    _ = operator
    return result.ok, result.first_bad_entry, result.problems


def log_size(airlock: Airlock) -> int:
    with airlock.database.transaction(read_only=True) as session:
        return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def tamper(airlock: Airlock, change: Callable[[Session], object]) -> None:
    with airlock.database.transaction() as session:
        change(session)


def test_an_untouched_log_verifies(busy: Airlock, world: World) -> None:
    result = busy.oversight.verify_audit(world.auditor, busy.audit_verifier_key())
    assert result.ok, result.problems
    assert result.entries > 20
    assert result.checkpoints > 5


def test_every_transition_content_access_key_operation_and_refusal_is_an_entry(busy: Airlock) -> None:
    with busy.database.transaction(read_only=True) as session:
        entries = busy.audit.entries(session)
    actions = {(entry.action, entry.outcome) for entry in entries}
    assert {
        ("review.transition", "done"),
        ("content.write", "allowed"),
        ("content.read", "allowed"),
        ("content.read", "refused"),
        ("key.organisation.create", "done"),
        ("key.data.create", "done"),
        ("key.data.destroy", "done"),
        ("review.assign", "done"),
    } <= actions
    read = next(e for e in entries if e.action == "content.read" and e.outcome == "allowed")
    assert (read.actor, read.purpose, read.details["kind"]) == ("reviewer@lab.test", "analysis", "model_card")


def test_a_modified_entry_is_named(busy: Airlock) -> None:
    tamper(busy, lambda s: s.execute(update(AuditEntry).where(AuditEntry.seq == 5).values(actor="someone@else")))
    ok, first_bad, problems = verify(busy)
    assert not ok
    assert first_bad == 5
    assert problems[0].startswith("Entry 5 ")


def test_a_deleted_entry_is_named(busy: Airlock) -> None:
    tamper(busy, lambda s: s.execute(delete(AuditEntry).where(AuditEntry.seq == 7)))
    ok, first_bad, problems = verify(busy)
    assert (ok, first_bad) == (False, 7)
    assert "Entry 7 is missing" in problems[0]


def test_deleting_the_last_entries_is_detected(busy: Airlock) -> None:
    size = log_size(busy)
    tamper(busy, lambda s: s.execute(delete(AuditEntry).where(AuditEntry.seq > size - 2)))
    ok, first_bad, problems = verify(busy)
    assert not ok
    assert first_bad == size - 1
    assert "deleted from the end" in " ".join(problems)


def test_reordered_entries_are_detected_at_the_first_of_them(busy: Airlock) -> None:
    def swap(session: Session) -> None:
        first, second = (session.get_one(AuditEntry, seq) for seq in (4, 9))
        for column in ("at", "actor", "action", "target", "outcome", "purpose", "details", "entry_hash"):
            a, b = getattr(first, column), getattr(second, column)
            setattr(first, column, b)
            setattr(second, column, a)

    tamper(busy, swap)
    ok, first_bad, _ = verify(busy)
    assert (ok, first_bad) == (False, 4)


def test_an_entry_inserted_with_a_recomputed_chain_is_detected_by_the_checkpoints(busy: Airlock) -> None:
    """An insider who knows the hash function rewrites the chain after the insertion; signatures catch it."""

    def insert_at(session: Session, position: int) -> None:
        entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())))
        for entry in entries:
            if entry.seq >= position:
                entry.seq += 1
                session.flush()
        forged = AuditEntry(
            seq=position,
            at=entries[-1].at,
            actor="insider@lab.test",
            action="content.read",
            target="x",
            outcome="allowed",
            purpose="cover story",
            details={},
            entry_hash="",
        )
        session.add(forged)
        session.flush()
        previous = bytes(32)
        for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.seq)):
            previous = chain_hash(previous, entry_record(entry))
            entry.entry_hash = previous.hex()
        session.execute(update(AuditHead).values(size=len(entries) + 1, head_hash=previous.hex()))

    tamper(busy, lambda s: insert_at(s, 10))
    ok, first_bad, problems = verify(busy)
    assert not ok
    assert first_bad is not None
    assert first_bad <= 10
    assert "rewritten" in problems[0]


def test_entries_appended_outside_airlock_are_detected(busy: Airlock) -> None:
    def append(session: Session) -> None:
        head = session.get_one(AuditHead, 1)
        last = session.get_one(AuditEntry, head.size)
        forged = AuditEntry(
            seq=head.size + 1,
            at=last.at,
            actor="insider@lab.test",
            action="review.transition",
            target="x",
            outcome="done",
            purpose="",
            details={},
            entry_hash="",
        )
        forged.entry_hash = chain_hash(bytes.fromhex(head.head_hash), entry_record(forged)).hex()
        session.add(forged)
        head.size += 1
        head.head_hash = forged.entry_hash

    tamper(busy, append)
    size = log_size(busy)
    ok, first_bad, problems = verify(busy)
    assert (ok, first_bad) == (False, size)
    assert "covered by no signed checkpoint" in problems[0]


def test_a_forged_checkpoint_is_detected(busy: Airlock) -> None:
    def forge(session: Session) -> None:
        row = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc())).first()
        assert row is not None
        row.note = row.note.replace(f"\n{row.size}\n", f"\n{row.size + 5}\n", 1)

    tamper(busy, forge)
    ok, _, problems = verify(busy)
    assert not ok
    assert "forged or altered" in problems[0]


def test_a_checkpoint_signed_by_another_key_is_detected(busy: Airlock) -> None:
    def resign(session: Session) -> None:
        head = session.get_one(AuditHead, 1)
        checkpoint = Checkpoint(origin=head.origin, size=head.size, head=bytes.fromhex(head.head_hash), time="now")
        note = sign_note(checkpoint.text(), head.origin, Ed25519PrivateKey.generate())
        session.add(AuditCheckpoint(size=head.size + 0, at=busy.clock.now(), note=note))

    tamper(busy, resign)
    ok, _, problems = verify(busy)
    assert not ok
    assert "forged or altered" in problems[0]


def cut_back_to_an_earlier_checkpoint(session: Session) -> None:
    """What an insider with database access does to erase recent history: go back to an earlier
    checkpoint, deleting every entry and checkpoint after it."""
    sizes = sorted(session.scalars(select(AuditCheckpoint.size)))
    earlier = sizes[-3]
    session.execute(delete(AuditEntry).where(AuditEntry.seq > earlier))
    session.execute(delete(AuditCheckpoint).where(AuditCheckpoint.size > earlier))
    last = session.get_one(AuditEntry, earlier)
    session.execute(update(AuditHead).values(size=earlier, head_hash=last.entry_hash))


def test_a_log_cut_back_with_its_checkpoints_is_caught_by_the_checkpoint_kept_outside_the_database(
    busy: Airlock, world: World
) -> None:
    tamper(busy, cut_back_to_an_earlier_checkpoint)
    ok, _, problems = verify(busy)
    assert not ok
    assert "deleted from the end" in problems[0]
    with pytest.raises(AuditIntegrityError, match="kept outside the database"):
        busy.directory.add_organisation(world.operator, name="X", kind="partner")


def test_without_that_file_only_a_checkpoint_kept_by_the_auditor_catches_the_cut(busy: Airlock, world: World) -> None:
    kept = busy.oversight.latest_checkpoint(world.auditor)
    tamper(busy, cut_back_to_an_earlier_checkpoint)
    busy.settings.audit_witness_file.unlink()
    assert busy.oversight.verify_audit(world.auditor, busy.audit_verifier_key()).ok, "undetectable without a witness"
    result = busy.oversight.verify_audit(world.auditor, busy.audit_verifier_key(), [kept])
    assert not result.ok
    assert "deleted from the end" in result.problems[0]


def test_airlock_refuses_to_sign_over_a_log_changed_behind_its_back(busy: Airlock, world: World) -> None:
    """The laundering attack: rewrite history, delete the checkpoints, let the next operation re-sign it."""

    def rewrite(session: Session) -> None:
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 12))
        for entry in session.scalars(select(AuditEntry).where(AuditEntry.seq > 12).order_by(AuditEntry.seq)):
            entry.seq -= 1
            session.flush()
        previous = bytes(32)
        for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.seq)):
            previous = chain_hash(previous, entry_record(entry))
            entry.entry_hash = previous.hex()
        session.execute(delete(AuditCheckpoint))
        size = session.scalar(select(func.count()).select_from(AuditEntry))
        session.execute(update(AuditHead).values(size=size, head_hash=previous.hex()))

    tamper(busy, rewrite)
    busy.settings.audit_witness_file.unlink()
    before = log_size(busy)
    with pytest.raises(AuditIntegrityError, match="will not sign over it"):
        busy.directory.add_organisation(world.operator, name="Launder", kind="partner")
    assert log_size(busy) == before
    result = busy.oversight.verify_audit(world.auditor, busy.audit_verifier_key())
    assert not result.ok
    assert log_size(busy) == before, "a broken log is reported, not extended"


def test_an_emptied_log_does_not_verify(busy: Airlock, world: World) -> None:
    def empty(session: Session) -> None:
        session.execute(delete(AuditEntry))
        session.execute(delete(AuditCheckpoint))
        session.execute(update(AuditHead).values(size=0, head_hash=bytes(32).hex()))

    tamper(busy, empty)
    busy.settings.audit_witness_file.unlink()
    ok, first_bad, problems = verify(busy)
    assert (ok, first_bad) == (False, 1)
    assert "emptied" in problems[0]


def test_only_auditors_and_operators_read_the_audit_trail(busy: Airlock, world: World) -> None:
    for who in (world.lead, world.reviewer, world.acme_admin, world.partner):
        with pytest.raises(PermissionDeniedError):
            busy.oversight.verify_audit(who, busy.audit_verifier_key())


def test_the_audit_log_holds_no_content(busy: Airlock) -> None:
    with busy.database.transaction(read_only=True) as session:
        text = " ".join(str(entry_record(entry)) for entry in busy.audit.entries(session))
    assert "card" not in text.replace("model_card", "")


def _append_from_another_process(settings: Settings, name: str) -> None:
    airlock = Airlock.open(settings)
    try:
        operator = airlock.directory.principal()
        for number in range(5):
            airlock.directory.add_organisation(operator, name=f"{name} {number}", kind="partner")
    finally:
        airlock.close()


def test_concurrent_writers_keep_one_unbroken_chain(airlock: Airlock) -> None:
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_append_from_another_process, args=(airlock.settings, f"org{index}"))
        for index in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    assert verify(airlock)[0]
    assert log_size(airlock) >= 1 + 15


# Insider-risk signals ------------------------------------------------------------------------------------


def test_reading_many_submissions_in_a_short_time_is_flagged(
    airlock: Airlock, world: World, clock: ManualClock
) -> None:
    for _ in range(5):
        review = review_in_state(airlock, world, ReviewState.ACCEPTED)
        airlock.reviews.read_content(world.reviewer, review.id, "model_card", purpose="bulk")
        clock.advance(timedelta(minutes=10))
    findings = airlock.oversight.unusual_access(world.auditor, UnusualAccessThresholds(distinct_submissions=5))
    assert [(f.actor, f.signal) for f in findings] == [("reviewer@lab.test", "many submissions")]
    spread = airlock.oversight.unusual_access(
        world.auditor, UnusualAccessThresholds(window=timedelta(minutes=30), distinct_submissions=5)
    )
    assert spread == []


def test_break_glass_reads_and_bursts_of_refusals_are_flagged(airlock: Airlock, world: World) -> None:
    review = review_in_state(airlock, world, ReviewState.SUBMITTED)
    airlock.reviews.read_content(
        world.operator, review.id, "model_card", purpose="", break_glass="incident 7: legal hold"
    )
    for _ in range(3):
        with pytest.raises(AirlockError):
            airlock.reviews.read_content(world.globex_admin, review.id, "model_card", purpose="snooping")
    findings = airlock.oversight.unusual_access(world.auditor, UnusualAccessThresholds(refusals=3))
    signals = {(f.actor, f.signal) for f in findings}
    assert signals == {("operator@localhost", "break-glass"), ("admin@globex.test", "many refusals")}
    break_glass = next(f for f in findings if f.signal == "break-glass")
    assert "incident 7: legal hold" in break_glass.detail


# The command line ------------------------------------------------------------------------------------------


def test_audit_verify_exits_0_on_an_intact_log_and_1_naming_the_entry_on_a_tampered_one(
    tmp_path: Path, clock: ManualClock
) -> None:
    cli = Cli(Settings(home=tmp_path / "home"), clock)
    assert cli("init").exit_code == 0
    assert cli("org", "add", "Acme AI", "--kind", "developer").exit_code == 0
    assert (
        cli("user", "add", "aud@lab.test", "--name", "A", "--role", "auditor", "--org", "evaluation-lab").exit_code == 0
    )
    intact = cli("audit", "verify", "--as", "aud@lab.test")
    assert intact.exit_code == 0
    assert "intact" in intact.stdout
    assert cli.settings is not None
    deployment = Airlock.open(cli.settings, clock)
    try:
        tamper(deployment, lambda s: s.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(target="x")))
    finally:
        deployment.close()
    broken = cli("audit", "verify", "--as", "aud@lab.test")
    assert broken.exit_code == 1
    assert broken.error_lines[0].startswith("Error: The audit log failed verification at entry 2: Entry 2 ")


def test_audit_verify_with_an_unreadable_key_file_is_a_clear_error(tmp_path: Path, clock: ManualClock) -> None:
    cli = Cli(Settings(home=tmp_path / "home"), clock)
    cli("init")
    outcome = cli("audit", "verify", "--key", str(tmp_path / "nope.pub"))
    assert outcome.exit_code == 1
    assert len(outcome.error_lines) == 1
    assert "Cannot read the trusted audit key" in outcome.error_lines[0]


def test_a_refusal_on_a_rolled_back_log_reports_the_log_not_a_recording_failure(busy: Airlock, world: World) -> None:
    """Restoring an older database behind Airlock's back leaves the kept checkpoint ahead of it."""
    review = review_in_state(busy, world, ReviewState.SUBMITTED)
    tamper(busy, cut_back_to_an_earlier_checkpoint)
    with pytest.raises(AuditIntegrityError, match="kept outside the database"):
        busy.reviews.read_content(world.globex_admin, review.id, "model_card", purpose="peek")
