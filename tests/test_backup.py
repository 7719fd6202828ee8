"""Backup and restore: lose nothing, resurrect nothing.

A restore brings back every acknowledged write up to the backup, verifies the audit log and carries it on, and
destroys again every data key shredded since, before the deployment serves. A stolen archive holds no key and no
content in the clear; and every bad input (a damaged, truncated or altered archive, a wrong key, a home that is
not empty, a forged ledger) is one line, exit status 1, and nothing changed.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, select
from sqlalchemy.orm import Session

from airlock.api.app import create_app
from airlock.app import Airlock
from airlock.audit.ledger import parse_ledger
from airlock.audit.note import parse_verifier_key
from airlock.backup import create as backup_create
from airlock.backup.manifest import BLOBS_PREFIX, MANIFEST_MEMBER
from airlock.backup.snapshot import Snapshot, take_snapshot
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.errors import ConfigurationError
from airlock.review import ReviewDetail, ReviewState, SubmissionRequest
from airlock.review.models import Review
from airlock.store import Database
from airlock.vault import ContentDestroyedError, FileKeyProvider
from airlock.vault.keys import open_sealed, write_key_file
from airlock.vault.models import Blob, DataKey, OrganisationKey, ReportKey, VaultSecret
from airlock.vault.vault import CLEARINGHOUSE_KEY
from airlock.vulns.intake import ReportDraft
from tests.support.cli import Cli, Outcome
from tests.support.files import encodings_of
from tests.support.postgres import PostgresServer
from tests.support.world import World, database_snapshot, review_in_state

MODEL = "openai-api/acme/unreleased-frontier-7"


def submit_marked(airlock: Airlock, world: World, marker: str) -> str:
    """An accepted review whose model card and endpoint key carry ``marker``."""
    review = airlock.submissions.submit(
        world.acme_admin,
        SubmissionRequest(
            model=MODEL,
            model_version="7.0",
            planned_release_date=airlock.clock.now().date() + timedelta(days=60),
            model_card=f"# Frontier-7\n{marker}-card\n",
            endpoint_credentials=f"sk-{marker}-key",
        ),
    )
    airlock.reviews.accept(world.lead, review.id)
    return review.id


def card_of(airlock: Airlock, world: World, review_id: str) -> bytes:
    return airlock.reviews.read_content(world.acme_admin, review_id, "model_card", purpose="restore drill")


def backup(settings: Settings, clock: ManualClock, destination: Path) -> Path:
    outcome = Cli(settings, clock)("backup", "create", str(destination), "--json")
    assert outcome.exit_code == 0, outcome.stderr
    return Path(outcome.json()["archive"])


@dataclass(frozen=True)
class Target:
    settings: Settings
    cli: Cli


@pytest.fixture
def empty_target(settings: Settings, clock: ManualClock, tmp_path: Path, request: pytest.FixtureRequest) -> Target:
    """An empty home (and, on PostgreSQL, an empty database) on a new host, sharing the off-host shred ledger."""
    home = tmp_path / "new-host" / "home"
    if settings.uses_sqlite:
        url = f"sqlite:///{home / 'airlock.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.create_database(f"restored_{uuid.uuid4().hex[:12]}")
    restored = Settings(home=home, database_url=url, shred_ledger=settings.shred_ledger)
    return Target(restored, Cli(restored, clock))


@pytest.fixture
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    """The deployment's settings, its shred ledger on storage of its own (off the host)."""
    off_host = tmp_path_factory.mktemp("off-host")
    return Settings(
        home=tmp_path_factory.mktemp("home"), database_url=database_url, shred_ledger=off_host / "shred-ledger"
    )


def give_master_key(target: Target, source: Settings) -> None:
    """Put the deployment's master key where the new host reads it (as `airlock keys recover` would)."""
    key = FileKeyProvider(source.resolved_master_key_file).secret_for_custody()
    write_key_file(target.settings.resolved_master_key_file, key)


def one_line_error(outcome: Outcome, *fragments: str) -> None:
    assert outcome.exit_code == 1, outcome.stdout + outcome.stderr
    assert len(outcome.error_lines) == 1, outcome.stderr
    for fragment in fragments:
        assert fragment in outcome.stderr, outcome.stderr


def home_listing(home: Path) -> list[tuple[str, int]]:
    if not home.exists():
        return []
    return sorted((str(path.relative_to(home)), path.stat().st_size) for path in home.rglob("*") if path.is_file())


# The drill ---------------------------------------------------------------------------------------------------------


def test_restore_drill_loses_no_acknowledged_write_and_resurrects_no_shredded_content(
    airlock: Airlock, world: World, settings: Settings, clock: ManualClock, empty_target: Target, tmp_path: Path
) -> None:
    # A deployment with reviews in every state, content in the vault, an API token.
    # Expiring a review moves the clock past every running deadline: that one first.
    states = [ReviewState.EXPIRED, *(state for state in ReviewState if state is not ReviewState.EXPIRED)]
    in_state = {state: review_in_state(airlock, world, state).id for state in states}
    kept = submit_marked(airlock, world, "KEPT")
    to_withdraw = submit_marked(airlock, world, "WITHDRAWN-LATER")
    report = _clearinghouse_report(airlock, world, b"KEPT-POC")
    token = airlock.tokens.issue(world.lead, name="dashboard").token
    shown_before = {review: airlock.reviews.show(world.acme_admin, review) for review in [*in_state.values(), kept]}
    cli = Cli(settings, clock)
    split = cli("keys", "split", "--shares", "5", "--threshold", "3", "--out-dir", str(tmp_path / "shares"))
    assert split.exit_code == 0, split.stderr
    archive = backup(settings, clock, tmp_path)

    # After the backup: a withdrawal (its key destroyed) and more work.
    clock.advance(timedelta(hours=2))
    with airlock.database.transaction(read_only=True) as session:
        withdrawn_submission = _submission_of(session, to_withdraw)
    airlock.reviews.withdraw(world.acme_admin, to_withdraw)
    made_after = submit_marked(airlock, world, "MADE-AFTER")

    # The host is lost: its home (database, blobs, key file) and, on PostgreSQL, its database server.
    airlock.close()
    shutil.rmtree(settings.home)
    shares = sorted((tmp_path / "shares").iterdir())
    recovered = empty_target.cli(
        "keys",
        "recover",
        *(arg for share in shares[1:4] for arg in ("--share-file", str(share))),
        "--out",
        str(empty_target.settings.resolved_master_key_file),
    )
    assert recovered.exit_code == 0, recovered.stderr

    restored = empty_target.cli("backup", "restore", str(archive), "--json")
    assert restored.exit_code == 0, restored.stderr
    assert [item["review"] for item in restored.json()["replayed"]] == [to_withdraw]

    again = Airlock.open(empty_target.settings, clock)
    try:
        acme = again.directory.principal(world.acme_admin.email)
        for review, before in shown_before.items():
            after = again.reviews.show(acme, review)
            assert facts_of(after) == facts_of(before)
        assert again.reviews.read_content(acme, kept, "model_card", purpose="drill") == b"# Frontier-7\nKEPT-card\n"
        reviewer = again.directory.principal(world.reviewer.email)
        assert again.clearinghouse.read(reviewer, report) == b"KEPT-POC", "a vulnerability report's content too"
        with pytest.raises(ContentDestroyedError):
            again.reviews.read_content(acme, to_withdraw, "model_card", purpose="drill")
        with again.database.transaction(read_only=True) as session:
            assert session.get(DataKey, withdrawn_submission) is None
            assert list(session.scalars(select(Blob).where(Blob.submission_id == withdrawn_submission))) == []
            assert session.scalar(select(Review).where(Review.public_id == made_after)) is None
        verified = empty_target.cli("audit", "verify")
        assert verified.exit_code == 0, verified.stderr
        with TestClient(create_app(again)) as client:
            assert client.get("/sign-in").status_code == 200
            listed = client.get("/api/v1/reviews", headers={"Authorization": f"Bearer {token}"})
            assert listed.status_code == 200
            assert kept in listed.text
    finally:
        again.close()


def _clearinghouse_report(airlock: Airlock, world: World, poc: bytes) -> str:
    """A vulnerability report held by the clearinghouse (no build registered: it waits, unreproduced)."""
    draft = ReportDraft(
        title="Overflow",
        program="notes",
        affected_versions=["1.0"],
        reporter=world.partner.email,
        poc=base64.b64encode(poc).decode(),
        details=f"{poc.decode()}-details",
    )
    return airlock.clearinghouse.submit(world.partner, draft).report


def facts_of(review: ReviewDetail) -> tuple[object, ...]:
    """What a restore must bring back of a review (its clock's countdown moves on, its deadline does not)."""
    clock = review.clock
    return (review.state, clock.started_at, clock.deadline, clock.paused_seconds, review.events, review.content)


def _submission_of(session: Session, review_id: str) -> int:
    return session.scalars(select(Review).where(Review.public_id == review_id)).one().submission_id


def test_a_blob_shredded_while_the_backup_runs_is_destroyed_again_at_restore(
    airlock: Airlock,
    world: World,
    settings: Settings,
    clock: ManualClock,
    empty_target: Target,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    victim = submit_marked(airlock, world, "VICTIM")

    def snapshot_and_a_withdrawal_meanwhile(database: Database, settings: Settings, staging: Path) -> Snapshot:
        taken = take_snapshot(database, settings, staging)
        airlock.reviews.withdraw(world.acme_admin, victim)  # after the snapshot, before its blobs are copied
        return taken

    monkeypatch.setattr(backup_create, "take_snapshot", snapshot_and_a_withdrawal_meanwhile)
    created = backup_create.create_backup(airlock, world.operator, tmp_path)
    assert created.blobs_shredded_during_backup == 2
    give_master_key(empty_target, settings)
    settings.resolved_shred_ledger.unlink()  # only the archive's own copy of the ledger is left
    restored = empty_target.cli("backup", "restore", created.archive, "--json")
    assert restored.exit_code == 0, restored.stderr
    assert [item["review"] for item in restored.json()["replayed"]] == [victim]


def test_a_backup_taken_while_the_portal_writes_restores_a_consistent_deployment(
    airlock: Airlock, world: World, settings: Settings, clock: ManualClock, empty_target: Target, tmp_path: Path
) -> None:
    writer = Airlock.open(settings, clock)  # another connection, as the serving portal has
    acme = writer.directory.principal(world.acme_admin.email)
    stop = threading.Event()
    written: list[str] = []

    def keep_submitting() -> None:
        while not stop.is_set():
            written.append(
                writer.submissions.submit(
                    acme,
                    SubmissionRequest(
                        model=MODEL,
                        model_version=str(len(written)),
                        planned_release_date=clock.now().date() + timedelta(days=60),
                        model_card=f"card {len(written)}",
                    ),
                ).id
            )

    thread = threading.Thread(target=keep_submitting)
    thread.start()
    try:
        while len(written) < 3:
            stop.wait(0.01)
        archive = backup(settings, clock, tmp_path)
    finally:
        stop.set()
        thread.join()
        writer.close()
    give_master_key(empty_target, settings)
    restored = empty_target.cli("backup", "restore", str(archive))
    assert restored.exit_code == 0, restored.stderr
    assert empty_target.cli("audit", "verify").exit_code == 0
    again = Airlock.open(empty_target.settings, clock)
    try:
        admin = again.directory.principal(world.acme_admin.email)
        present = [review.id for review in again.reviews.list_visible(admin)]
        assert len(present) >= 3
        for review in present:  # every review the snapshot holds has all of its content
            assert again.reviews.read_content(admin, review, "model_card", purpose="check").startswith(b"card ")
    finally:
        again.close()


# What an archive holds -------------------------------------------------------------------------------------------


def test_a_stolen_archive_holds_no_key_no_content_and_no_metadata_in_the_clear(
    airlock: Airlock, world: World, settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    marker = f"MARK{uuid.uuid4().hex}"
    submit_marked(airlock, world, marker)
    _clearinghouse_report(airlock, world, f"POC{marker}".encode())
    archive = backup(settings, clock, tmp_path).read_bytes()
    secrets = [
        *(
            form
            for text in (
                f"{marker}-card",
                f"sk-{marker}-key",
                MODEL,
                world.acme_admin.email,
                f"POC{marker}",
                f"POC{marker}-details",
            )
            for form in encodings_of(text)
        ),
        *(form for key in every_key_the_system_holds(airlock) for form in (key, base64.b64encode(key))),
    ]
    assert [secret for secret in secrets if secret in archive] == []


def every_key_the_system_holds(airlock: Airlock) -> list[bytes]:
    provider = airlock.vault.provider
    assert isinstance(provider, FileKeyProvider)
    keys = [provider.secret_for_custody()]
    with airlock.database.transaction(read_only=True) as session:
        organisation_keys = {}
        for row in session.scalars(select(OrganisationKey)):
            context = f"airlock:organisation-key:{row.organisation_id}:{row.version}".encode()
            organisation_keys[(row.organisation_id, row.version)] = provider.unwrap(row.wrapped_key, context)
        keys += organisation_keys.values()
        for data_key in session.scalars(select(DataKey)):
            context = f"airlock:data-key:{data_key.submission_id}:{data_key.organisation_key_version}".encode()
            organisation_key = organisation_keys[(data_key.organisation_id, data_key.organisation_key_version)]
            keys.append(open_sealed(organisation_key, data_key.wrapped_key, context))
        secrets = {
            secret.name: provider.unwrap(secret.wrapped_secret, f"airlock:secret:{secret.name}".encode())
            for secret in session.scalars(select(VaultSecret))
        }
        keys += [secret[:32] for secret in secrets.values()]
        for report_key in session.scalars(select(ReportKey)):
            context = f"airlock:report-key:{report_key.report_id}".encode()
            keys.append(open_sealed(secrets[CLEARINGHOUSE_KEY], report_key.wrapped_key, context))
    assert len(keys) >= 4
    return keys


def test_backup_verify_checks_every_digest_and_names_the_master_key_a_restore_needs(
    airlock: Airlock, world: World, settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    submit_marked(airlock, world, "V")
    archive = backup(settings, clock, tmp_path)
    outcome = Cli(settings, clock)("backup", "verify", str(archive), "--key", str(settings.audit_key_file), "--json")
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.json()["blobs"] == 2
    assert outcome.json()["master_key_id"] == airlock.vault.provider.key_id


def test_one_blob_can_be_taken_out_of_an_archive_with_tar(
    airlock: Airlock, world: World, settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    submit_marked(airlock, world, "T")
    archive = backup(settings, clock, tmp_path / "")
    with airlock.database.transaction(read_only=True) as session:
        address = session.scalars(select(Blob.address)).first()
    assert address is not None
    member = f"{BLOBS_PREFIX}{address[:2]}/{address[2:]}"
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["/usr/bin/env", "tar", "-xf", str(archive), "-C", str(out), member], check=True)
    assert (out / member).read_bytes() == airlock.vault.blobs.path(address).read_bytes()


# The shred ledger --------------------------------------------------------------------------------------------------


def test_every_shredding_is_in_the_ledger_signed_by_the_audit_key(
    airlock: Airlock, world: World, settings: Settings, clock: ManualClock
) -> None:
    withdrawn = submit_marked(airlock, world, "W")
    airlock.reviews.withdraw(world.acme_admin, withdrawn)
    closed = review_in_state(airlock, world, ReviewState.CLOSED)
    clock.advance(timedelta(days=settings.retention_days))
    airlock.reviews.apply_clock()
    with airlock.database.transaction(read_only=True) as session:
        origin = airlock.audit.origin(session)
        public_ids = [
            session.scalars(select(Review).where(Review.public_id == review)).one().submission.public_id
            for review in (withdrawn, closed.id)
        ]
    verifier = parse_verifier_key(airlock.audit_verifier_key())
    records = parse_ledger(settings.resolved_shred_ledger.read_text(), verifier, origin, "test")
    assert [record.submission for record in records] == public_ids
    assert [record.entry["action"] for record in records] == ["key.data.destroy"] * 2


def test_a_withdrawal_whose_ledger_cannot_be_written_destroys_nothing(
    airlock: Airlock, world: World, settings: Settings
) -> None:
    review = submit_marked(airlock, world, "L")
    settings.resolved_shred_ledger.mkdir(parents=True)  # a directory where the file should be: unwritable
    before = database_snapshot(airlock.database)
    with pytest.raises(Exception, match=r"shred ledger .* cannot be written"):
        airlock.reviews.withdraw(world.acme_admin, review)
    assert database_snapshot(airlock.database) == before
    assert card_of(airlock, world, review) == b"# Frontier-7\nL-card\n"


def test_a_line_cut_short_by_a_crash_is_dropped_before_the_next_one(
    airlock: Airlock, world: World, settings: Settings
) -> None:
    first, second = submit_marked(airlock, world, "A"), submit_marked(airlock, world, "B")
    airlock.reviews.withdraw(world.acme_admin, first)
    ledger = settings.resolved_shred_ledger
    complete = ledger.read_bytes()
    ledger.write_bytes(complete + complete[: len(complete) // 2])  # a writer died half-way through a line
    airlock.reviews.withdraw(world.acme_admin, second)
    with airlock.database.transaction(read_only=True) as session:
        origin = airlock.audit.origin(session)
    verifier = parse_verifier_key(airlock.audit_verifier_key())
    assert len(parse_ledger(ledger.read_text(), verifier, origin, "test")) == 2


def test_an_unfinished_restore_keeps_the_deployment_from_opening(settings: Settings, clock: ManualClock) -> None:
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.restore_marker_file.write_text("restoring")
    with pytest.raises(ConfigurationError, match=r"restore .* did not finish"):
        Airlock.open(settings, clock)


# Bad input: one line, exit 1, nothing changed -------------------------------------------------------------------------


@pytest.fixture
def archive(airlock: Airlock, world: World, settings: Settings, clock: ManualClock, tmp_path: Path) -> Path:
    submit_marked(airlock, world, "BAD")
    return backup(settings, clock, tmp_path)


def restore_refused(target: Target, archive: Path, *fragments: str, extra: tuple[str, ...] = ()) -> None:
    before = home_listing(target.settings.home)
    outcome = target.cli("backup", "restore", str(archive), *extra)
    one_line_error(outcome, *fragments)
    assert home_listing(target.settings.home) == before
    assert not target.settings.restore_marker_file.exists()
    if not target.settings.uses_sqlite:
        engine = create_engine(target.settings.resolved_database_url)
        try:
            with engine.connect() as connection:
                assert inspect(connection).get_table_names() == []
        finally:
            engine.dispose()


def rewritten(archive: Path, change: dict[str, bytes], tmp_path: Path) -> Path:
    """A copy of ``archive`` with the members named in ``change`` replaced."""
    copy = tmp_path / f"altered-{uuid.uuid4().hex[:6]}.tar"
    with tarfile.open(archive) as source, tarfile.open(copy, "w", format=tarfile.PAX_FORMAT) as target:
        for member in source.getmembers():
            data = change.get(member.name)
            if data is None:
                extracted = source.extractfile(member)
                assert extracted is not None
                data = extracted.read()
            member.size = len(data)
            target.addfile(member, io.BytesIO(data))
    return copy


def test_a_corrupted_archive_is_refused_and_restores_nothing(
    archive: Path, settings: Settings, empty_target: Target, clock: ManualClock, tmp_path: Path
) -> None:
    give_master_key(empty_target, settings)
    with tarfile.open(archive) as tar:
        blob = next(member for member in tar.getmembers() if member.name.startswith(BLOBS_PREFIX))
        extracted = tar.extractfile(blob)
        assert extracted is not None
        data = bytearray(extracted.read())
    data[len(data) // 2] ^= 1
    corrupted = rewritten(archive, {blob.name: bytes(data)}, tmp_path)
    one_line_error(Cli(settings, clock)("backup", "verify", str(corrupted)), "damaged or was altered", blob.name)
    restore_refused(empty_target, corrupted, "damaged or was altered")


def test_a_truncated_archive_is_refused_and_restores_nothing(
    archive: Path, settings: Settings, empty_target: Target, clock: ManualClock, tmp_path: Path
) -> None:
    give_master_key(empty_target, settings)
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size * 2 // 3])
    one_line_error(Cli(settings, clock)("backup", "verify", str(truncated)), "truncated")
    restore_refused(empty_target, truncated, "truncated")


def test_an_altered_manifest_fails_its_signature(
    archive: Path, settings: Settings, empty_target: Target, clock: ManualClock, tmp_path: Path
) -> None:
    give_master_key(empty_target, settings)
    with tarfile.open(archive) as tar:
        extracted = tar.extractfile(MANIFEST_MEMBER)
        assert extracted is not None
        manifest = extracted.read()
    altered = rewritten(archive, {MANIFEST_MEMBER: manifest.replace(b'"audit_size": ', b'"audit_size": 1')}, tmp_path)
    one_line_error(Cli(settings, clock)("backup", "verify", str(altered)), "does not match its signature")
    restore_refused(empty_target, altered, "does not match its signature")


def test_an_archive_is_refused_under_another_deployments_audit_key(
    archive: Path, settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    other = Settings(home=tmp_path / "other", database_url=f"sqlite:///{tmp_path}/other.db")
    Airlock.open(other, clock, must_be_initialised=False).initialise()
    outcome = Cli(settings, clock)("backup", "verify", str(archive), "--key", str(other.audit_key_file))
    one_line_error(outcome, "not signed by the key in")


def test_a_wrong_master_key_restores_nothing(archive: Path, empty_target: Target) -> None:
    write_key_file(empty_target.settings.resolved_master_key_file, b"\x07" * 32)
    restore_refused(empty_target, archive, "is not the one this archive's keys are wrapped under")


def test_a_restore_into_a_home_that_is_not_empty_changes_nothing(
    archive: Path, airlock: Airlock, settings: Settings, clock: ManualClock
) -> None:
    before = database_snapshot(airlock.database, with_audit=True)
    files = home_listing(settings.home)
    one_line_error(Cli(settings, clock)("backup", "restore", str(archive)), "not empty", "never overwrites")
    assert database_snapshot(airlock.database, with_audit=True) == before
    assert home_listing(settings.home) == files


# On SQLite the database is in the home: the test above covers it.
@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_restore_into_a_database_that_holds_tables_changes_nothing(
    archive: Path, settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    target = Settings(home=tmp_path / "empty-home", database_url=settings.database_url)
    write_key_file(
        target.resolved_master_key_file, FileKeyProvider(settings.resolved_master_key_file).secret_for_custody()
    )
    before = home_listing(target.home)
    one_line_error(Cli(target, clock)("backup", "restore", str(archive)), "holds tables")
    assert home_listing(target.home) == before


def test_a_forged_ledger_line_is_refused_and_restores_nothing(
    airlock: Airlock, world: World, settings: Settings, clock: ManualClock, empty_target: Target, tmp_path: Path
) -> None:
    review = submit_marked(airlock, world, "F")
    archive = backup(settings, clock, tmp_path)
    airlock.reviews.withdraw(world.acme_admin, review)
    ledger = settings.resolved_shred_ledger
    forged = tmp_path / "forged-ledger"
    forged.write_text(ledger.read_text().replace("The developer withdrew", "Someone withdrew"))
    ledger.unlink()
    give_master_key(empty_target, settings)
    restore_refused(empty_target, archive, "not signed by this deployment's audit key", extra=("--ledger", str(forged)))


def test_an_archive_is_not_a_file_that_exists_already(archive: Path, settings: Settings, clock: ManualClock) -> None:
    one_line_error(Cli(settings, clock)("backup", "create", str(archive)), "already exists")


def test_only_operators_back_up_the_deployment(
    airlock: Airlock, world: World, settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    outcome = Cli(settings, clock)("backup", "create", str(tmp_path), "--as", world.lead.email)
    one_line_error(outcome, "may not back up the deployment")
    assert list(tmp_path.glob("*.tar")) == []


def test_the_backup_commands_help_loads_nothing_heavy() -> None:
    from tests.test_cli_imports import loaded_after, run_command

    for command in (["backup"], ["backup", "restore", "--help"], ["keys", "split", "--help"]):
        assert loaded_after(run_command(*command, "--help")) == []


def test_a_deployment_built_from_an_archive_carries_the_ledger_forward(
    airlock: Airlock, world: World, settings: Settings, clock: ManualClock, empty_target: Target, tmp_path: Path
) -> None:
    """The restored deployment's ledger holds the old records too: a later restore of an older archive needs them."""
    first = submit_marked(airlock, world, "OLD")
    old_archive = backup(settings, clock, tmp_path)
    airlock.reviews.withdraw(world.acme_admin, first)
    lines = settings.resolved_shred_ledger.read_text().splitlines()
    moved = empty_target.settings.model_copy(update={"shred_ledger": tmp_path / "new-ledger"})
    give_master_key(Target(moved, empty_target.cli), settings)
    restored = Cli(moved, clock)("backup", "restore", str(old_archive), "--ledger", str(settings.resolved_shred_ledger))
    assert restored.exit_code == 0, restored.stderr
    carried = (tmp_path / "new-ledger").read_text().splitlines()
    assert lines[0] in carried
    assert len(carried) == 2  # the old record, and the restore's own shredding of it


def test_a_restore_that_fails_after_installing_the_database_removes_it_again(
    airlock: Airlock, world: World, settings: Settings, clock: ManualClock, empty_target: Target, tmp_path: Path
) -> None:
    airlock.reviews.withdraw(world.acme_admin, submit_marked(airlock, world, "GONE"))  # a record to carry forward
    archive = backup(settings, clock, tmp_path)
    give_master_key(empty_target, settings)
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the ledger's directory should be")
    unwritable = empty_target.settings.model_copy(update={"shred_ledger": blocked / "shred-ledger"})
    restore_refused(Target(unwritable, Cli(unwritable, clock)), archive, "shred ledger", "cannot be written")


def test_writing_an_archive_starts_the_disk_early_and_the_bytes_written_are_the_bytes_read_back(
    tmp_path: Path,
) -> None:
    """The archive's writer asks the kernel to start writeback every few MiB (Linux's sync_file_range, found through
    the C library: a lookup that fails would silently bring back the slower backups bench/backup.py measured); a
    hint only, it changes no byte, and a descriptor it cannot apply to (a pipe) is no error."""
    from airlock.backup import archive

    assert sys.platform != "linux" or archive._SYNC_FILE_RANGE is not None
    payload = [bytes([index]) * archive.CHUNK for index in range(40)]  # 40 MiB: past two writeback points
    path = tmp_path / "written"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        writer = archive.BackgroundWriter(descriptor, flush_every=archive.FLUSH_EVERY)
        for chunk in payload:
            writer.write(chunk)
        writer.close()
    finally:
        os.close(descriptor)
    assert path.read_bytes() == b"".join(payload)
    reading, writing = os.pipe()
    try:
        archive.start_writeback(writing)
    finally:
        os.close(reading)
        os.close(writing)
