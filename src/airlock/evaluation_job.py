"""The process of an evaluation run started from the web portal (:meth:`Evaluations.start`).

``python -m airlock.evaluation_job REVIEW SUITE EMAIL`` opens the deployment its ``AIRLOCK_*`` variables
name and runs the suite as that user, exactly as ``airlock eval run`` would; what it prints goes to the run's
log file in the home. An error ends it with status 1; the run's own record in the database says what failed.

The deployment's secret settings (the master key, when it comes from ``AIRLOCK_MASTER_KEY`` rather than the
key file) are not in its environment: it reads them, once, from the pipe its starter names in
``AIRLOCK_RUN_SECRETS_FD``.
"""

from __future__ import annotations

import json
import os
import sys

from airlock.app import Airlock
from airlock.config import load_settings
from airlock.errors import AirlockError
from airlock.review.evaluations import RUN_LOCK_VARIABLE, RUN_SECRETS_VARIABLE


def _secret_settings() -> dict[str, str]:
    with os.fdopen(int(os.environ.pop(RUN_SECRETS_VARIABLE)), "r") as pipe:
        given = json.loads(pipe.read() or "{}")
    return {str(name): str(value) for name, value in dict(given).items()}


def main(arguments: list[str]) -> int:
    review_id, suite, email = arguments
    # The review's run lock, taken by the process that started this one and held by this one until it ends.
    lock = os.fdopen(int(os.environ.pop(RUN_LOCK_VARIABLE)), "a")
    try:
        airlock = Airlock.open(load_settings(**_secret_settings()))
    except AirlockError as error:
        print(f"{error.message} {error.hint or ''}".strip(), flush=True)
        lock.close()
        return 1
    try:
        actor = airlock.directory.principal(email)
        finished = airlock.evaluations.run(actor, review_id, suite, lock_held=True)
        print(f"Run {finished.run} of review {review_id}: {finished.status}.", flush=True)
        return 0
    except AirlockError as error:
        print(f"{error.message} {error.hint or ''}".strip(), flush=True)
        return 1
    finally:
        airlock.close()
        lock.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
