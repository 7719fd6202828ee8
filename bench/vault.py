"""Vault benchmark: encryption throughput against a plain file copy, and the cost of an audited access check.

Run: ``.venv/bin/python bench/vault.py``. Prints, for 1 MiB and 100 MiB artefacts, the time to encrypt
into the vault and decrypt back to memory as a ratio to copying the same bytes with the file system and
reading the copy back (both sides flush to disk); and, with 10,000 entries in the audit log, the cost of
one audited access check (policy decision plus hash-chained audit entry) against the bare policy decision.
These are measurements, not tests: the machine's noise shows in them, which is why each side is measured
in the same run and the median of several repetitions is kept.
"""

from __future__ import annotations

import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from airlock.access import Action, Principal, is_permitted
from airlock.app import Airlock
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.review import SubmissionRequest
from airlock.review.content import ContentKind
from airlock.review.models import Review
from airlock.review.scope import review_scope, submission_ref

MIB = 1 << 20


def median_seconds(action: Callable[[], object], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def plain_copy(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)
    with target.open("rb+") as stream:
        os.fsync(stream.fileno())
    target.read_bytes()
    target.unlink()


def throughput(airlock: Airlock, review_id: str, root: Path) -> None:
    print("Vault throughput: encrypt into the vault and decrypt back, versus copy and read back")
    with airlock.database.transaction(read_only=True) as session:
        ref = submission_ref(session.query(Review).filter_by(public_id=review_id).one().submission)
    for size, repeats in ((MIB, 30), (100 * MIB, 3)):
        artefact = root / f"artefact-{size}"
        artefact.write_bytes(secrets.token_bytes(size))

        def through_vault(path: Path = artefact) -> None:
            # What storing an artefact costs: its transaction, the blob and its index row, a durable commit.
            with airlock.database.transaction() as session, path.open("rb") as stream:
                stored = airlock.vault.store(session, ref, "artefact", stream)
            with airlock.database.transaction(read_only=True) as session:
                airlock.vault.load(session, ref, stored.address)

        def through_copy(path: Path = artefact) -> None:
            plain_copy(path, root / "copy")

        vault_seconds = median_seconds(through_vault, repeats)
        copy_seconds = median_seconds(through_copy, repeats)
        rate = 2 * size / vault_seconds / MIB
        print(
            f"  {size // MIB:>4} MiB: vault {vault_seconds * 1000:8.1f} ms ({rate:5.0f} MiB/s through encryption "
            f"and decryption), plain copy {copy_seconds * 1000:8.1f} ms, "
            f"ratio {vault_seconds / copy_seconds:5.2f}x (aim: within 3x)"
        )
        artefact.unlink()


def audited_access(airlock: Airlock, developer: Principal, review_id: str) -> None:
    print("Audited access check with 10,000 entries in the audit log")
    with airlock.database.transaction() as session:
        for number in range(10_000 - airlock.audit.size(session)):
            airlock.audit.append(session, actor="filler@bench.test", action="bench.fill", target=str(number))
        airlock.audit.checkpoint(session)
    calls = 2000
    with airlock.database.transaction() as session:
        review = session.query(Review).filter_by(public_id=review_id).one()
        scope = review_scope(review, content_kind=ContentKind.MODEL_CARD)
        public_id = review.submission.public_id
        entries = airlock.audit.size(session)
        start = time.perf_counter()
        for _ in range(calls):
            airlock.context.gate.admit(
                session, developer, Action.READ_CONTENT, scope, submission=public_id, purpose="b"
            )
        audited = (time.perf_counter() - start) / calls
        start = time.perf_counter()
        for _ in range(calls):
            is_permitted(developer, Action.READ_CONTENT, scope)
        bare = (time.perf_counter() - start) / calls
        session.rollback()
    print(
        f"  audited check {audited * 1e6:7.1f} us per call with {entries} entries (aim: under 1000 us); "
        f"bare policy decision {bare * 1e6:5.2f} us; ratio {audited / bare:6.0f}x"
    )

    def whole_read() -> None:
        airlock.reviews.read_content(developer, review_id, "model_card", purpose="bench")

    print(
        "  a whole audited content read (its own transaction, audit entry, signed checkpoint, durable commit, "
        f"decryption): {median_seconds(whole_read, 50) * 1000:6.2f} ms"
    )


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="airlock-bench-") as scratch:
        root = Path(scratch)
        clock = ManualClock(datetime.now(UTC))
        airlock = Airlock.open(Settings(home=root / "home"), clock, must_be_initialised=False)
        try:
            airlock.initialise()
            operator = airlock.directory.principal()
            airlock.directory.add_organisation(operator, name="Bench AI", kind="developer")
            airlock.directory.add_user(
                operator, email="dev@bench.test", name="D", role="developer_admin", organisation="bench-ai"
            )
            developer = airlock.directory.principal("dev@bench.test")
            request = SubmissionRequest(
                model="openai/bench",
                model_version="1",
                planned_release_date=clock.now().date() + timedelta(days=60),
                model_card="card",
            )
            review_id = airlock.submissions.submit(developer, request).id
            throughput(airlock, review_id, root)
            audited_access(airlock, developer, review_id)
        finally:
            airlock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
