"""The bundled local model runs the smoke suite offline, end to end, with every baseline.

Apart from tests/test_eval_runs.py (whose helpers it uses) because it takes minutes on its own: `make test` hands
whole files to its parallel processes, and this one should not queue behind the rest of that file.
"""

from __future__ import annotations

import time

import pytest

from airlock.app import Airlock
from airlock.config import Settings
from airlock.evals.baselines.fuzzer import fuzzer_available
from airlock.review.content import ContentKind
from tests import test_eval_runs
from tests.support.world import World
from tests.test_eval_runs import SMOKE_SAMPLES, accepted_review, blobs_of, cli, model_rows

deployment = test_eval_runs.deployment
"""The same fresh deployment as the runner's other tests (a fixture)."""


@pytest.mark.timeout(600)  # see the bound below; the suite's default of 300 s is for quicker tests
def test_the_bundled_local_model_runs_the_smoke_suite_offline_within_ten_minutes(
    deployment: tuple[Airlock, World, Settings],
) -> None:
    airlock, world, settings = deployment
    review = accepted_review(airlock, world, model="airlock/smollm2-135m", key=None)
    started = time.monotonic()

    outcome = cli(airlock, settings)("eval", "run", review, "--suite", "smoke", "--as", world.lead.email, "--json")

    assert outcome.exit_code == 0, outcome.stderr
    # Ten minutes: about 3 minutes (172 s) measured alone on the 2-core development machine (generator version 3's
    # programs of a few hundred lines: the 135M model reads each in about half a minute), and make test runs it
    # beside two other test processes on the same cores.
    assert time.monotonic() - started < 600
    status = outcome.json()
    assert status["verdicts"]["model"]["done"] == SMOKE_SAMPLES
    assert status["verdicts"]["model"]["errors"] == 0
    assert status["verdicts"]["baseline:reference"]["solved"] == SMOKE_SAMPLES
    assert status["output_tokens"] > 0, status
    rows = model_rows(airlock)
    assert [(row.input_tokens > 0, row.model_calls) for row in rows] == [(True, 1)] * len(rows), [
        (row.task, row.sample_id, row.input_tokens, row.model_calls, row.verdict, row.reason) for row in rows
    ]
    assert blobs_of(airlock, ContentKind.EVAL_LOG) >= 1
    assert blobs_of(airlock, ContentKind.EVAL_TRANSCRIPT) == SMOKE_SAMPLES
    # The fuzzer baseline ran on the C programs reading stdin (or, without clang, says why it could not).
    fuzzer = status["verdicts"]["baseline:fuzzer"]
    c_instances = sum(row.family in ("memory-corruption", "logic-constraint") for row in rows)
    if fuzzer_available() is None:
        assert (fuzzer["done"], fuzzer["errors"]) == (c_instances, 0)
    else:
        assert fuzzer["errors"] == c_instances
    # The solver ran on the logic instance, the scanner on the web instance, recorded like the model.
    for baseline, family in (("solver", "logic-constraint"), ("scanner", "web-injection")):
        recorded = status["verdicts"][f"baseline:{baseline}"]
        assert (recorded["done"], recorded["errors"]) == (sum(row.family == family for row in rows), 0)
