"""Backup benchmark: ``airlock backup create`` and ``restore`` throughput against a plain ``tar`` of the same files.

Run: ``.venv/bin/python bench/backup.py [GIB]`` (default 1). Builds a SQLite deployment whose vault holds GIB GiB
of blobs (4 MiB each, encrypted through the vault), then measures, in the same run and on the same disk:

* backup: ``create_backup`` (database snapshot, every blob read, hashed and written into one archive, the
  archive flushed to disk) against ``tar -cf`` of the home's files (database and blobs);
* restore: ``restore_archive`` into an empty home (every member checked against its digest, each file flushed,
  the audit log verified, the ledger replayed) against ``tar -xf`` of that tar.

Each side is timed in three rounds (every side once per round) and the fastest kept; the ratios are printed
(aim: within 2x). ``tar`` computes no digest and flushes nothing to disk; Airlock does both (a backup that a power
cut loses is none), so the ratio against ``tar`` followed by ``sync`` is printed as well. These are measurements,
not tests.
"""

from __future__ import annotations

import base64
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from airlock.app import Airlock
from airlock.backup.create import create_backup
from airlock.backup.restore import restore_archive
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.review import SubmissionRequest
from airlock.review.models import Review
from airlock.review.scope import submission_ref
from airlock.vault.keys import write_key_file

MIB = 1 << 20
BLOB = 4 * MIB
REPEATS = 3


def timed(action: Callable[[], object], prepare: Callable[[], object]) -> float:
    prepare()
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def populate(airlock: Airlock, total: int) -> None:
    directory = airlock.directory
    operator = directory.principal()
    directory.add_organisation(operator, name="Acme AI", kind="developer")
    directory.add_user(operator, email="admin@acme.test", name="Ada", role="developer_admin", organisation="acme-ai")
    admin = directory.principal("admin@acme.test")
    payload = secrets.token_bytes(BLOB)
    stored = 0
    while stored < total:
        review = airlock.submissions.submit(
            admin,
            SubmissionRequest(
                model="openai-api/acme/frontier",
                model_version=str(stored),
                planned_release_date=airlock.clock.now().date() + timedelta(days=60),
                model_card="card",
            ),
        )
        with airlock.database.transaction() as session:
            submission = session.query(Review).filter_by(public_id=review.id).one().submission
            ref = submission_ref(submission)
            for index in range(16):
                airlock.vault.store(session, ref, f"eval_log_{index}", payload)
                stored += BLOB


def main() -> None:
    gib = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    total = int(gib * 1024) * MIB
    root = Path(tempfile.mkdtemp(prefix="airlock-bench-backup-"))
    try:
        clock = ManualClock(datetime.now(UTC))
        settings = Settings(home=root / "home", database_url=f"sqlite:///{root / 'home' / 'airlock.db'}")
        airlock = Airlock.open(settings, clock, must_be_initialised=False)
        airlock.initialise()
        print(f"Building a deployment with {total / MIB:.0f} MiB of blobs ...", flush=True)
        populate(airlock, total)
        operator = airlock.directory.principal()
        key = settings.resolved_master_key_file.read_text()
        archives = root / "archives"
        target = root / "restored"
        plain = root / "plain.tar"
        untarred = root / "untarred"

        def fresh_archives() -> None:
            shutil.rmtree(archives, ignore_errors=True)
            archives.mkdir()

        def fresh_target() -> None:
            shutil.rmtree(target, ignore_errors=True)
            (target / "keys").mkdir(parents=True)
            write_key_file(target / "keys" / "master.key", base64.b64decode(key))

        def remove_plain() -> None:
            plain.unlink(missing_ok=True)

        def fresh_untarred() -> None:
            shutil.rmtree(untarred, ignore_errors=True)
            untarred.mkdir()

        restored = Settings(home=target, database_url=f"sqlite:///{target / 'airlock.db'}")
        archive_of: list[Path] = []

        def airlock_backup() -> None:
            archive_of[:] = [Path(create_backup(airlock, operator, archives).archive)]

        def tar_create(then_sync: bool = False) -> None:
            tar("-cf", str(plain), "-C", str(settings.home), "airlock.db", "blobs")
            if then_sync:
                sync(plain)

        def tar_extract(then_sync: bool = False) -> None:
            tar("-xf", str(plain), "-C", str(untarred))
            if then_sync:
                sync(untarred)

        # Each round measures every side once, so that a burst of load elsewhere on the machine does not fall on
        # one side only; the fastest of the rounds is kept.
        sides: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
            "backup": (airlock_backup, fresh_archives),
            "tar -c": (tar_create, remove_plain),
            "tar -c sync": (lambda: tar_create(then_sync=True), remove_plain),
            "restore": (lambda: restore_archive(restored, archive_of[0], clock=clock), fresh_target),
            "tar -x": (tar_extract, fresh_untarred),
            "tar -x sync": (lambda: tar_extract(then_sync=True), fresh_untarred),
        }
        best: dict[str, float] = {}
        for _ in range(REPEATS):
            for name, (action, prepare) in sides.items():
                best[name] = min(best.get(name, float("inf")), timed(action, prepare))
        backup_seconds, tar_c, tar_c_sync = best["backup"], best["tar -c"], best["tar -c sync"]
        restore_seconds, tar_x, tar_x_sync = best["restore"], best["tar -x"], best["tar -x sync"]
        size = archive_of[0].stat().st_size
        print(f"Archive: {size / MIB:.0f} MiB ({total / MIB:.0f} MiB of blobs, 4 MiB each)")
        print(
            f"  backup  {backup_seconds:6.2f} s ({size / MIB / backup_seconds:5.0f} MiB/s); tar -cf {tar_c:6.2f} s, "
            f"ratio {backup_seconds / tar_c:4.2f}x (aim: within 2x); with sync {tar_c_sync:6.2f} s, "
            f"ratio {backup_seconds / tar_c_sync:4.2f}x"
        )
        print(
            f"  restore {restore_seconds:6.2f} s ({size / MIB / restore_seconds:5.0f} MiB/s); tar -xf {tar_x:6.2f} s, "
            f"ratio {restore_seconds / tar_x:4.2f}x (aim: within 2x); with sync {tar_x_sync:6.2f} s, "
            f"ratio {restore_seconds / tar_x_sync:4.2f}x"
        )
        airlock.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def tar(*arguments: str) -> None:
    subprocess.run(["/usr/bin/env", "tar", *arguments], check=True)


def sync(path: Path) -> None:
    """``sync FILE`` flushes that file (or, for a directory, its whole file system) to disk."""
    subprocess.run(["/usr/bin/env", "sync", "-f" if path.is_dir() else "--data", str(path)], check=True)


if __name__ == "__main__":
    main()
