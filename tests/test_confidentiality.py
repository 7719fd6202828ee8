"""Confidentiality by construction: what developers hand over never reaches the disk in plaintext,
withdrawal destroys it for good, and tampering or a wrong key is reported, never papered over."""

from __future__ import annotations

import shutil
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Delete, delete, select, text, update
from sqlalchemy.orm import Session

from airlock.app import Airlock
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.errors import AirlockError
from airlock.review import ReviewState, SubmissionRequest
from airlock.review.models import Review, Submission
from airlock.vault import ContentDestroyedError, CorruptBlobError, MasterKeyError
from airlock.vault.keys import FileKeyProvider, encode_key, new_key, open_sealed
from airlock.vault.models import Blob, DataKey, OrganisationKey, VaultSecret
from airlock.vault.stream import StreamAuthenticationError, decrypt_stream
from tests.support.files import encodings_of, files_containing
from tests.support.postgres import PostgresServer
from tests.support.world import World, database_snapshot, review_in_state


def submit_with(airlock: Airlock, world: World, card: str, key: str) -> str:
    release = airlock.clock.now().date() + timedelta(days=60)
    review = airlock.submissions.submit(
        world.acme_admin,
        SubmissionRequest(
            model="openai-api/acme/frontier-1",
            model_version="1",
            planned_release_date=release,
            model_card=card,
            endpoint_credentials=key,
        ),
    )
    return review.id


def blob_files(airlock: Airlock) -> list[Path]:
    return sorted(path for path in airlock.settings.blob_directory.rglob("*") if path.is_file())


def test_markers_in_the_model_card_and_api_key_never_reach_the_disk(
    airlock: Airlock, world: World, request: pytest.FixtureRequest
) -> None:
    card_marker = f"CARD-MARKER-{uuid.uuid4().hex}"
    key_marker = f"sk-KEY-MARKER-{uuid.uuid4().hex}"
    review_id = submit_with(airlock, world, f"# Frontier-1\n{card_marker}\n", key_marker)
    reviews = airlock.reviews
    reviews.accept(world.lead, review_id)
    reviews.assign(world.lead, review_id, world.reviewer.email)
    assert card_marker.encode() in reviews.read_content(world.reviewer, review_id, "model_card", purpose="triage")
    assert reviews.read_content(world.reviewer, review_id, "endpoint_credentials", purpose="run") == key_marker.encode()
    for state, actor in (
        (ReviewState.EVALUATING, world.reviewer),
        (ReviewState.DRAFT_REPORT, world.reviewer),
        (ReviewState.DEVELOPER_RESPONSE, world.lead),
        (ReviewState.FINAL_REPORT, world.lead),
        (ReviewState.CLOSED, world.lead),
    ):
        reviews.transition(actor, review_id, state)
    withdrawn = submit_with(airlock, world, f"second {card_marker}", key_marker)
    reviews.withdraw(world.acme_admin, withdrawn)

    places = [airlock.settings.home]
    if not airlock.database.is_sqlite:
        server: PostgresServer = request.getfixturevalue("postgres")
        with airlock.database.engine.connect() as connection:
            connection.execute(text("CHECKPOINT"))
        places.append(server.data)
    leaks = [
        (place, form)
        for place in places
        for marker in (card_marker, key_marker)
        for form in encodings_of(marker)
        if files_containing(place, form)
    ]
    assert leaks == []
    assert blob_files(airlock), "the content is stored, encrypted"


def test_after_withdrawal_no_key_the_system_holds_decrypts_the_submissions_blobs(
    airlock: Airlock, world: World, tmp_path: Path
) -> None:
    review_id = submit_with(airlock, world, "the card", "sk-secret")
    keep = submit_with(airlock, world, "another card", "sk-other")  # its keys stay: they must not help
    backup = tmp_path / "backup"
    shutil.copytree(airlock.settings.blob_directory, backup)
    with airlock.database.transaction() as session:
        submission = _submission_of(session, review_id)
        contexts = [
            (blob.address, f"airlock:blob:{submission.public_id}:{blob.kind}".encode())
            for blob in session.scalars(select(Blob).where(Blob.submission_id == submission.id))
        ]
        wrapped = session.get_one(DataKey, submission.id).wrapped_key
    assert len(contexts) == 2

    airlock.reviews.withdraw(world.acme_admin, review_id)

    assert not any(airlock.vault.blobs.exists(address) for address, _ in contexts)
    candidates = _every_key_the_system_holds(airlock)
    assert len(candidates) >= 4  # master, organisation key, the other submission's data key, signing key
    for address, context in contexts:
        for key in candidates:
            with (backup / address[:2] / address[2:]).open("rb") as source, pytest.raises(StreamAuthenticationError):
                b"".join(decrypt_stream(key, context, source))
    if airlock.database.is_sqlite:
        # secure_delete and a truncated write-ahead log: the wrapped key is gone from the files too.
        assert files_containing(airlock.settings.home, wrapped) == []
    assert airlock.reviews.read_content(world.acme_admin, keep, "model_card", purpose="check") == b"another card"


def _submission_of(session: Session, review_id: str) -> Submission:
    return session.scalars(select(Review).where(Review.public_id == review_id)).one().submission


def _every_key_the_system_holds(airlock: Airlock) -> list[bytes]:
    provider = airlock.vault.provider
    assert isinstance(provider, FileKeyProvider)
    keys = [provider._secret]
    with airlock.database.transaction() as session:
        organisation_keys = {}
        for org_key in session.scalars(select(OrganisationKey)):
            context = f"airlock:organisation-key:{org_key.organisation_id}:{org_key.version}".encode()
            organisation_keys[(org_key.organisation_id, org_key.version)] = provider.unwrap(
                org_key.wrapped_key, context
            )
        keys += organisation_keys.values()
        for row in session.scalars(select(DataKey)):
            context = f"airlock:data-key:{row.submission_id}:{row.organisation_key_version}".encode()
            keys.append(
                open_sealed(
                    organisation_keys[(row.organisation_id, row.organisation_key_version)], row.wrapped_key, context
                )
            )
        for secret in session.scalars(select(VaultSecret)):
            keys.append(provider.unwrap(secret.wrapped_secret, f"airlock:secret:{secret.name}".encode())[:32])
    return keys


def test_review_show_says_when_the_content_was_destroyed(airlock: Airlock, world: World) -> None:
    review_id = submit_with(airlock, world, "card", "key")
    airlock.reviews.withdraw(world.acme_admin, review_id)
    shown = airlock.reviews.show(world.acme_admin, review_id)
    assert shown.content_destroyed_at == airlock.clock.now()
    assert shown.content == []
    assert shown.events[-1].kind == "content_destroyed"
    with pytest.raises(ContentDestroyedError, match=r"destroyed on .* can never be read again"):
        airlock.reviews.read_content(world.acme_admin, review_id, "model_card", purpose="look")


def test_content_is_destroyed_when_retention_after_closure_ends(
    airlock: Airlock, world: World, clock: ManualClock
) -> None:
    review = review_in_state(airlock, world, ReviewState.CLOSED)
    clock.advance(timedelta(days=airlock.settings.retention_days) - timedelta(seconds=1))
    assert airlock.reviews.apply_clock().destroyed == []
    clock.advance(timedelta(seconds=1))
    assert [r.id for r in airlock.reviews.apply_clock().destroyed] == [review.id]
    shown = airlock.reviews.show(world.lead, review.id)
    assert shown.content_destroyed_at == clock.now()
    assert shown.events[-1].actor == "review clock"


def test_a_blob_moved_to_another_submission_fails_to_decrypt(airlock: Airlock, world: World) -> None:
    victim = submit_with(airlock, world, "victim card", "k1")
    thief = submit_with(airlock, world, "thief card", "k2")
    with airlock.database.transaction() as session:
        source, target = _submission_of(session, victim), _submission_of(session, thief)
        session.execute(delete_blobs_of(target.id, "model_card"))
        session.execute(
            update(Blob)
            .where(Blob.submission_id == source.id, Blob.kind == "model_card")
            .values(submission_id=target.id)
        )
    with pytest.raises(CorruptBlobError, match="corrupted"):
        airlock.reviews.read_content(world.acme_admin, thief, "model_card", purpose="x")


def delete_blobs_of(submission_id: int, kind: str) -> Delete:
    return delete(Blob).where(Blob.submission_id == submission_id, Blob.kind == kind)


def test_a_blob_relabelled_as_another_kind_fails_to_decrypt(airlock: Airlock, world: World) -> None:
    review_id = submit_with(airlock, world, "card", "key")
    with airlock.database.transaction() as session:
        submission = _submission_of(session, review_id)
        session.execute(delete_blobs_of(submission.id, "model_card"))
        session.execute(update(Blob).where(Blob.submission_id == submission.id).values(kind="model_card"))
    with pytest.raises(CorruptBlobError):
        airlock.reviews.read_content(world.acme_admin, review_id, "model_card", purpose="x")


def test_a_corrupted_blob_is_reported_as_corrupted_not_as_empty(airlock: Airlock, world: World) -> None:
    review_id = submit_with(airlock, world, "card " * 1000, "key")
    for path in blob_files(airlock):
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    with pytest.raises(CorruptBlobError, match="is corrupted") as corrupted:
        airlock.reviews.read_content(world.acme_admin, review_id, "model_card", purpose="x")
    assert "no content was returned" in corrupted.value.diagnostics()


def test_a_truncated_or_missing_blob_is_reported(airlock: Airlock, world: World) -> None:
    review_id = submit_with(airlock, world, "card", "key")
    files = blob_files(airlock)
    for path in files:
        path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(CorruptBlobError, match="corrupted"):
        airlock.reviews.read_content(world.acme_admin, review_id, "model_card", purpose="x")
    for path in files:
        path.unlink()
    with pytest.raises(CorruptBlobError, match="missing"):
        airlock.reviews.read_content(world.acme_admin, review_id, "model_card", purpose="x")


def test_a_wrong_master_key_is_refused_before_anything_is_read_or_changed(
    airlock: Airlock, world: World, settings: Settings, clock: ManualClock
) -> None:
    submit_with(airlock, world, "card", "key")
    before = database_snapshot(airlock.database, with_audit=True)
    wrong = settings.model_copy(update={"master_key": SecretStr(encode_key(new_key()))})
    with pytest.raises(MasterKeyError, match="is not this deployment's master key"):
        Airlock.open(wrong, clock)
    assert database_snapshot(airlock.database, with_audit=True) == before


def test_a_missing_master_key_file_is_refused_and_init_does_not_replace_it(
    airlock: Airlock, world: World, settings: Settings, clock: ManualClock
) -> None:
    submit_with(airlock, world, "card", "key")
    key_file = settings.resolved_master_key_file
    key_file.rename(key_file.with_name("elsewhere"))
    before = database_snapshot(airlock.database, with_audit=True)
    with pytest.raises(MasterKeyError, match="does not exist"):
        Airlock.open(settings, clock)
    reopened = Airlock.open(settings, clock, must_be_initialised=False)
    try:
        with pytest.raises(MasterKeyError, match="does not exist"):
            reopened.initialise()
    finally:
        reopened.close()
    assert not key_file.exists()
    assert database_snapshot(airlock.database, with_audit=True) == before


def test_a_key_file_readable_by_others_is_refused(airlock: Airlock, settings: Settings, clock: ManualClock) -> None:
    settings.resolved_master_key_file.chmod(0o644)
    with pytest.raises(MasterKeyError, match="chmod 600"):
        Airlock.open(settings, clock)


def test_the_master_key_can_come_from_the_environment(tmp_path: Path, clock: ManualClock) -> None:
    settings = Settings(home=tmp_path / "home", master_key=encode_key(new_key()))
    deployment = Airlock.open(settings, clock, must_be_initialised=False)
    try:
        deployment.initialise()
    finally:
        deployment.close()
    assert not settings.resolved_master_key_file.exists()
    Airlock.open(settings, clock).close()


def test_rotating_the_master_key_rewraps_keys_and_leaves_every_blob_untouched(
    airlock: Airlock, world: World, settings: Settings, clock: ManualClock
) -> None:
    review_id = submit_with(airlock, world, "card", "key")
    old_key = settings.resolved_master_key_file.read_bytes()
    blobs_before = {path: path.read_bytes() for path in blob_files(airlock)}
    rotation = airlock.oversight.rotate_master_key(world.operator)
    assert rotation.old_id != rotation.new_id
    assert settings.resolved_master_key_file.read_bytes() != old_key
    assert {path: path.read_bytes() for path in blob_files(airlock)} == blobs_before
    reopened = Airlock.open(settings, clock)
    try:
        assert reopened.reviews.read_content(world.acme_admin, review_id, "model_card", purpose="x") == b"card"
    finally:
        reopened.close()
    settings.resolved_master_key_file.write_bytes(old_key)
    with pytest.raises(MasterKeyError):
        Airlock.open(settings, clock)


def test_a_master_key_rotation_interrupted_after_its_commit_is_completed_at_the_next_start(
    airlock: Airlock, world: World, settings: Settings, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    review_id = submit_with(airlock, world, "card", "key")
    import airlock.vault.vault as vault_module

    def crash(source: Path, target: Path) -> None:
        raise OSError("disk went away")

    monkeypatch.setattr(vault_module, "_replace_durably", crash)
    rotation = airlock.oversight.rotate_master_key(world.operator)
    monkeypatch.undo()
    assert rotation.notice is not None
    assert "moved into place at the next start" in rotation.notice
    staged = list(settings.resolved_master_key_file.parent.glob("master.key.next-*"))
    assert len(staged) == 1
    reopened = Airlock.open(settings, clock)
    try:
        assert reopened.reviews.read_content(world.acme_admin, review_id, "model_card", purpose="x") == b"card"
        with reopened.database.transaction(read_only=True) as session:
            actions = [entry.action for entry in reopened.audit.entries(session)]
        assert actions[-2:] == ["key.master.rotation_completed", "content.read"]
    finally:
        reopened.close()
    assert not list(settings.resolved_master_key_file.parent.glob("master.key.next-*"))


def test_rotating_the_master_key_works_from_a_freshly_opened_deployment(
    airlock: Airlock, world: World, settings: Settings, clock: ManualClock
) -> None:
    review_id = submit_with(airlock, world, "card", "key")
    fresh = Airlock.open(settings, clock)
    try:
        fresh.oversight.rotate_master_key(fresh.directory.principal())
    finally:
        fresh.close()
    again = Airlock.open(settings, clock)
    try:
        assert again.reviews.read_content(world.acme_admin, review_id, "model_card", purpose="x") == b"card"
        assert again.oversight.verify_audit(world.auditor, again.audit_verifier_key()).ok
    finally:
        again.close()


def test_a_refused_rotation_touches_no_key_file(airlock: Airlock, world: World, settings: Settings) -> None:
    from airlock.errors import PermissionDeniedError

    keys = settings.resolved_master_key_file.parent
    before = sorted(path.name for path in keys.iterdir())
    with pytest.raises(PermissionDeniedError):
        airlock.oversight.rotate_master_key(world.partner)
    assert sorted(path.name for path in keys.iterdir()) == before


def test_rotating_an_organisation_key_rewraps_data_keys_and_destroys_the_old_version(
    airlock: Airlock, world: World
) -> None:
    review_id = submit_with(airlock, world, "card", "key")
    blobs_before = {path: path.read_bytes() for path in blob_files(airlock)}
    rotation = airlock.oversight.rotate_organisation_key(world.operator, "acme-ai")
    assert (rotation.new_id, rotation.rewrapped) == ("2", 1)
    with airlock.database.transaction() as session:
        versions = session.scalars(select(OrganisationKey.version).where(OrganisationKey.organisation_id == 2)).all()
    assert versions == [2]
    assert {path: path.read_bytes() for path in blob_files(airlock)} == blobs_before
    assert airlock.reviews.read_content(world.acme_admin, review_id, "model_card", purpose="x") == b"card"


def test_only_operators_rotate_keys(airlock: Airlock, world: World) -> None:
    from airlock.errors import PermissionDeniedError

    for who in (world.lead, world.auditor, world.acme_admin):
        with pytest.raises(PermissionDeniedError):
            airlock.oversight.rotate_organisation_key(who, "acme-ai")


def test_a_base_url_carrying_a_secret_is_refused_without_echoing_it(airlock: Airlock, world: World) -> None:
    release = airlock.clock.now().date() + timedelta(days=60)
    for url in ("https://sk-LIVE-123@api.acme.test/v1", "https://api.acme.test/v1?key=AIzaSECRET"):
        with pytest.raises(AirlockError, match="the key as the endpoint's credentials") as refused:
            airlock.submissions.submit(
                world.acme_admin,
                SubmissionRequest(model="openai/x", model_version="1", planned_release_date=release, base_url=url),
            )
        assert "SECRET" not in refused.value.diagnostics()
        assert refused.value.field == "base_url"
        assert "LIVE" not in refused.value.diagnostics()


def test_a_partner_sees_only_the_state_clock_and_what_was_granted(airlock: Airlock, world: World) -> None:
    review_id = submit_with(airlock, world, "card", "sk-key")
    airlock.reviews.accept(world.lead, review_id, reason="internal triage note")
    airlock.reviews.grant(world.acme_admin, review_id, "grid-cert", ["model_card"])
    seen = airlock.reviews.show(world.partner, review_id)
    assert seen.limited_view
    assert [item.kind for item in seen.content] == ["model_card"]
    assert (seen.base_url, seen.assigned, seen.next_moves, seen.artefacts) == (None, [], [], [])
    assert all(event.reason == "" and event.actor == "" for event in seen.events)
    assert seen.submitted_by == "acme-ai"
    full = airlock.reviews.show(world.lead, review_id)
    assert not full.limited_view
    assert {item.kind for item in full.content} == {"model_card", "endpoint_credentials"}


def test_a_corrupted_blob_is_recorded_in_the_audit_log_as_a_failure(airlock: Airlock, world: World) -> None:
    review_id = submit_with(airlock, world, "card", "key")
    for path in blob_files(airlock):
        path.write_bytes(b"garbage")
    with pytest.raises(CorruptBlobError):
        airlock.reviews.read_content(world.acme_admin, review_id, "model_card", purpose="check the card")
    with airlock.database.transaction(read_only=True) as session:
        last = airlock.audit.entries(session)[-1]
    assert (last.action, last.outcome, last.purpose) == ("content.read", "failed", "check the card")
    assert last.details["error"] == "corrupt_content"


def test_a_shredding_clean_up_that_failed_is_finished_by_the_next_sweep(
    airlock: Airlock, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    review_id = submit_with(airlock, world, "card", "key")
    files = blob_files(airlock)
    monkeypatch.setattr(type(airlock.vault.blobs), "delete", lambda self, address: (_ for _ in ()).throw(OSError()))
    airlock.reviews.withdraw(world.acme_admin, review_id)
    assert all(path.exists() for path in files), "the clean-up failed, but the key is gone"
    with pytest.raises(ContentDestroyedError):
        airlock.reviews.read_content(world.acme_admin, review_id, "model_card", purpose="x")
    monkeypatch.undo()
    airlock.reviews.apply_clock()
    assert not any(path.exists() for path in files)
    with airlock.database.transaction(read_only=True) as session:
        assert not airlock.vault.shredding_pending(session)


def test_the_database_and_the_data_directory_are_private_to_their_owner(tmp_path: Path, clock: ManualClock) -> None:
    home = tmp_path / "home"
    deployment = Airlock.open(Settings(home=home), clock, must_be_initialised=False)
    try:
        deployment.initialise()
    finally:
        deployment.close()
    assert home.stat().st_mode & 0o077 == 0
    for name in ("airlock.db", "keys", "keys/master.key"):
        assert (home / name).stat().st_mode & 0o077 == 0, name


def test_a_deployment_from_before_the_vault_is_upgraded_by_init_and_its_plaintext_goes(
    tmp_path: Path, clock: ManualClock
) -> None:
    from alembic import command

    from airlock.store.database import alembic_config, create_database_engine

    home = tmp_path / "home"
    url = f"sqlite:///{home}/airlock.db"
    engine = create_database_engine(url)
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0001_foundation")
        marker_card, marker_key = f"OLD-CARD-{uuid.uuid4().hex}", f"OLD-KEY-{uuid.uuid4().hex}"
        now = "2026-11-01 09:00:00.000000"
        for statement, values in (
            ("INSERT INTO organisations VALUES (1, 'lab', 'Lab', 'agency', :now)", {}),
            ("INSERT INTO organisations VALUES (2, 'acme', 'Acme', 'developer', :now)", {}),
            ("INSERT INTO users VALUES (1, 'op@lab.test', 'Op', 'operator', 1, :now)", {}),
            ("INSERT INTO users VALUES (2, 'dev@acme.test', 'Dev', 'developer_admin', 2, :now)", {}),
            ("INSERT INTO deployment VALUES (1, :now, 1)", {}),
            (
                "INSERT INTO submissions VALUES (1, 'S-OLD00000', 2, 2, 'openai/x', '1', NULL, '2027-03-01', "
                ":card, :key, '[]', 'confidential', :now)",
                {"card": marker_card, "key": marker_key},
            ),
            (
                "INSERT INTO reviews VALUES "
                "(1, 'R-OLD00000', 1, 'submitted', :now, :now, NULL, NULL, NULL, NULL, 0, 0, 1)",
                {},
            ),
        ):
            connection.execute(text(statement), {"now": now, **values})
    engine.dispose()

    settings = Settings(home=home)
    with pytest.raises(AirlockError, match="earlier version of Airlock") as refused:
        Airlock.open(settings, clock)
    assert "airlock init" in refused.value.diagnostics()
    upgrading = Airlock.open(settings, clock, must_be_initialised=False)
    try:
        view = upgrading.initialise()
        assert any("Encrypted into the vault the content of 1 submissions" in notice for notice in view.notices)
    finally:
        upgrading.close()
    upgraded = Airlock.open(settings, clock)
    try:
        developer = upgraded.directory.principal("dev@acme.test")
        assert upgraded.reviews.read_content(developer, "R-OLD00000", "model_card", purpose="x") == marker_card.encode()
        assert upgraded.oversight.verify_audit(upgraded.directory.principal(), upgraded.audit_verifier_key()).ok
    finally:
        upgraded.close()
    for marker in (marker_card, marker_key):
        assert files_containing(home, marker.encode()) == []
