"""The clearinghouse end to end, from a review: a crash the model under review proved in a discovery task becomes a
case; a partner's report of the same crash joins it; the PoC reproduces in the sandbox; the case is scored (CVSS 4.0,
CWE, SSVC); its vendor is notified through the outbox, acknowledges and fixes; the advisory is exported as CSAF 2.0
(validated against OASIS's schema) and OSV; and the commitment published before it verifies against the published
file."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default as modern_email
from pathlib import Path

import pytest

from airlock.app import Airlock
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.vulns.advisories import check_osv, validate_csaf
from airlock.vulns.commitment import verify
from airlock.vulns.intake import ReportDraft
from tests.support.cli import Cli
from tests.support.fake_openai import fake_endpoint, replaying_references
from tests.support.world import World, build_world
from tests.test_eval_runs import accepted_review, suites_cache

DISCOVER = str(Path(__file__).parent / "support" / "suites" / "single-discover.yaml")
CVSS = "CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:P/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Airlock, World, Settings, ManualClock]]:
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path}/airlock.db")
    clock = ManualClock(datetime.now(UTC))
    airlock = Airlock.open(settings, clock, must_be_initialised=False)
    airlock.initialise()
    try:
        world = build_world(airlock)
        airlock.directory.add_organisation(world.operator, name="Upstream Project", kind="vendor")
        airlock.directory.add_user(
            world.operator,
            email="security@upstream.test",
            name="Sec",
            role="vendor_contact",
            organisation="upstream-project",
        )
        yield airlock, world, settings, clock
    finally:
        airlock.close()


def test_a_crash_a_model_proved_in_a_review_goes_from_finding_to_published_advisory(
    deployment: tuple[Airlock, World, Settings, ManualClock],
) -> None:
    airlock, world, settings, clock = deployment
    cli = Cli(settings, clock)
    with fake_endpoint(replaying_references(suites_cache())) as endpoint:
        review = accepted_review(airlock, world, base_url=endpoint.url)
        status = airlock.evaluations.run(world.reviewer, review, DISCOVER)
    assert status.status == "completed"
    assert status.model_tally.solved == 1, "the model proved the planted flaw with a crashing input"
    (sample,) = airlock.samples.of_run(world.reviewer, status.run).samples

    # The review's proven crash becomes a case; its challenge's sources become the build it reproduces on.
    taken = cli("vulns", "from-sample", review, status.run, sample.sample, "--as", world.reviewer.email, "--json")
    assert taken.exit_code == 0, taken.stderr
    finding = taken.json()
    assert (finding["joined"], finding["reproduction"]) == (False, "reproduced"), airlock.clearinghouse.read(
        world.reviewer, finding["report"], "reproduction"
    )
    case = finding["case"]

    # A partner found the same crash on its own: it joins the case once its PoC reproduces.
    poc = airlock.clearinghouse.read(world.reviewer, finding["report"])
    program = airlock.clearinghouse.show(world.reviewer, case).program
    duplicate = airlock.clearinghouse.submit(
        world.partner,
        ReportDraft(
            title="Crash in the parser",
            program=program,
            affected_versions=airlock.clearinghouse.show(world.reviewer, case).reports[0].affected_versions,
            reporter="analyst@gridcert.test",
            poc=base64.b64encode(poc).decode(),
            model="partner-fuzzer",
        ),
    )
    assert (duplicate.case, duplicate.joined, duplicate.reproduction) == (case, True, "reproduced")

    house = airlock.clearinghouse
    house.score(world.reviewer, case, cvss=CVSS, cwe="CWE-787")
    house.decide(
        world.lead,
        case,
        exploitation="poc",
        automatable="no",
        technical_impact="total",
        mission_wellbeing="medium",
        rationale="A model produced a working PoC; exploitation needs a crafted local file.",
    )
    house.add_vendor(world.reviewer, case, "upstream-project")
    (message_file,) = house.notify(world.reviewer, case)
    message = message_from_bytes(Path(message_file).read_bytes(), policy=modern_email)
    assert message["To"] == "security@upstream.test"
    assert message["Subject"].startswith(f"[TLP:AMBER] {case}")
    assert poc not in Path(message_file).read_bytes()

    vendor = airlock.directory.principal("security@upstream.test")
    assert house.read(vendor, finding["report"]) == poc
    answered = cli("vulns", "answer", case, "acknowledged", "--as", vendor.email)
    assert answered.exit_code == 0, answered.stderr
    clock.advance(timedelta(days=30))
    house.answer(vendor, case, "fixed", note="Fixed in the next release.")

    commitment = cli(
        "vulns", "advisory", case, "--summary", "A memory error in the parser.", "--as", world.reviewer.email
    )
    assert commitment.exit_code == 0, commitment.stderr
    published = cli("vulns", "publish", case, str(settings.home / "public"), "--as", world.lead.email, "--json")
    assert published.exit_code == 0, published.stderr
    paths = {key: Path(value) for key, value in published.json().items()}
    csaf = json.loads(paths["csaf"].read_bytes())
    validate_csaf(csaf)
    check_osv(json.loads(paths["osv"].read_bytes()))
    digest, nonce = paths["commitment"].read_text().splitlines()
    assert digest == commitment.stdout.strip()
    assert verify(digest, nonce.removeprefix("nonce "), paths["csaf"].read_bytes())
    assert not verify(digest, nonce.removeprefix("nonce "), paths["csaf"].read_bytes() + b" ")

    shown = cli("vulns", "show", case, "--as", world.reviewer.email, "--json").json()
    assert [v["status"] for v in shown["vendors"]] == ["fixed"]
    assert shown["clock"]["status"] == "published"
    assert [e["event"] for e in shown["timeline"]][:2] == ["opened", "report"]
    assert cli("audit", "verify").exit_code == 0
