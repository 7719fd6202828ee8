"""The REST API: API tokens, problem details, and the same access policy as the command line; a user of one
organisation never learns that another organisation's review exists."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from airlock.access import Principal
from airlock.api.app import create_app
from airlock.app import Airlock
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.errors import AirlockError, InvalidInputError
from airlock.review import SubmissionRequest
from tests.support.cli import Cli
from tests.support.fake_openai import fake_endpoint, replaying_references
from tests.support.world import World, build_world, database_snapshot
from tests.test_eval_runs import QUICK, accepted_review, suites_cache


@dataclass
class Served:
    airlock: Airlock
    world: World
    settings: Settings
    clock: ManualClock
    client: TestClient

    def token(self, user: Principal, days: int = 30) -> dict[str, str]:
        issued = self.airlock.tokens.issue(user, name="test", days=days)
        return {"Authorization": f"Bearer {issued.token}"}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path}/airlock.db")
    clock = ManualClock(datetime.now(UTC))
    airlock = Airlock.open(settings, clock, must_be_initialised=False)
    airlock.initialise()
    world = build_world(airlock)
    try:
        with TestClient(create_app(airlock)) as client:
            yield Served(airlock, world, settings, clock, client)
    finally:
        airlock.close()


def is_problem(response: object, status: int, kind: str) -> dict[str, object]:
    assert getattr(response, "status_code") == status, getattr(response, "text")  # noqa: B009
    assert getattr(response, "headers")["content-type"] == "application/problem+json"  # noqa: B009
    body: dict[str, object] = getattr(response, "json")()  # noqa: B009
    assert body["type"] == f"urn:airlock:problem:{kind}"
    assert body["status"] == status
    return body


# Authentication ----------------------------------------------------------------------------------------------


def test_every_endpoint_needs_a_valid_token(served: Served) -> None:
    anonymous = served.client.get("/api/v1/reviews")
    is_problem(anonymous, 401, "unauthenticated")
    assert anonymous.headers["www-authenticate"] == "Bearer"
    is_problem(
        served.client.get("/api/v1/me", headers={"Authorization": "Bearer alk_T-00000000_nope"}), 401, "unauthenticated"
    )
    is_problem(served.client.get("/api/v1/me", headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401, "unauthenticated")


def test_a_token_stands_for_its_user_until_it_expires_or_is_revoked(served: Served) -> None:
    headers = served.token(served.world.reviewer, days=1)
    me = served.client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["email"] == served.world.reviewer.email
    served.clock.advance(timedelta(days=1, seconds=1))
    is_problem(served.client.get("/api/v1/me", headers=headers), 401, "unauthenticated")

    fresh = served.airlock.tokens.issue(served.world.reviewer, name="second")
    served.airlock.tokens.revoke(served.world.reviewer, fresh.view.id)
    revoked = {"Authorization": f"Bearer {fresh.token}"}
    is_problem(served.client.get("/api/v1/me", headers=revoked), 401, "unauthenticated")


def test_only_a_hash_of_the_secret_is_stored(served: Served) -> None:
    issued = served.airlock.tokens.issue(served.world.reviewer, name="kept")
    prefix, token_id, secret = issued.token.split("_", 2)
    assert (prefix, token_id) == ("alk", issued.view.id)
    assert len(secret) == 64, "256 random bits"
    assert set(secret) <= set("0123456789abcdef"), "in hex"
    snapshot = json.dumps(database_snapshot(served.airlock.database, with_audit=True), default=str)
    assert secret not in snapshot
    assert issued.view.id in snapshot


# The access policy, through the API ----------------------------------------------------------------------------


def test_another_organisations_review_is_a_404_like_one_that_does_not_exist(served: Served) -> None:
    review = accepted_review(served.airlock, served.world, base_url="http://127.0.0.1:9/v1")
    acme, globex = served.token(served.world.acme_admin), served.token(served.world.globex_admin)

    assert [r["id"] for r in served.client.get("/api/v1/reviews", headers=acme).json()] == [review]
    assert served.client.get("/api/v1/reviews", headers=globex).json() == []
    hidden = is_problem(served.client.get(f"/api/v1/reviews/{review}", headers=globex), 404, "not_found")
    missing = is_problem(served.client.get("/api/v1/reviews/R-NOSUCH1", headers=globex), 404, "not_found")
    assert str(hidden["title"]).replace(review, "R-NOSUCH1") == missing["title"]
    for path in ("evaluations", "findings", "reports/full/pdf"):
        is_problem(served.client.get(f"/api/v1/reviews/{review}/{path}", headers=globex), 404, "not_found")


def test_moves_are_made_by_the_roles_the_lifecycle_names(served: Served) -> None:
    world = served.world
    detail = served.airlock.submissions.submit(
        world.acme_admin,
        SubmissionRequest(
            model="openai-api/acme/a1",
            model_version="1",
            planned_release_date=served.clock.now().date() + timedelta(days=40),
            model_card="card",
        ),
    )
    move = {"to": "accepted", "reason": "in scope"}
    refused = served.client.post(
        f"/api/v1/reviews/{detail.id}/transitions", json=move, headers=served.token(world.acme_admin)
    )
    is_problem(refused, 403, "permission_denied")
    accepted = served.client.post(
        f"/api/v1/reviews/{detail.id}/transitions", json=move, headers=served.token(world.lead)
    )
    assert accepted.status_code == 200
    assert accepted.json()["state"] == "accepted"
    invalid = served.client.post(
        f"/api/v1/reviews/{detail.id}/transitions", json={"to": "nonsense"}, headers=served.token(world.lead)
    )
    is_problem(invalid, 422, "invalid_input")
    malformed = served.client.post(
        f"/api/v1/reviews/{detail.id}/transitions", json={"reason": 3}, headers=served.token(world.lead)
    )
    assert is_problem(malformed, 422, "invalid_request")["field"] == "to"


def test_reports_download_as_signed_files_and_partners_get_only_the_granted_variant(served: Served) -> None:
    world, airlock = served.world, served.airlock
    review = accepted_review(airlock, world, base_url="http://127.0.0.1:9/v1")
    airlock.reports.build(world.reviewer, review)
    reviewer = served.token(world.reviewer)

    pdf = served.client.get(f"/api/v1/reviews/{review}/reports/full/pdf", headers=reviewer)
    signature = served.client.get(f"/api/v1/reviews/{review}/reports/full/pdf.sig", headers=reviewer)
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert airlock.reports.verify(pdf.content, signature.text).variant == "full"

    partner = served.token(world.partner)
    is_problem(served.client.get(f"/api/v1/reviews/{review}/reports/redacted/json", headers=partner), 404, "not_found")
    airlock.reviews.grant(world.acme_admin, review, "grid-cert", ["redacted_report"])
    shared = served.client.get(f"/api/v1/reviews/{review}/reports/redacted/json", headers=partner)
    assert shared.status_code == 200
    assert shared.json()["variant"] == "redacted"
    is_problem(
        served.client.get(f"/api/v1/reviews/{review}/reports/full/json", headers=partner), 403, "permission_denied"
    )
    is_problem(
        served.client.get(f"/api/v1/reviews/{review}/reports/full/docx", headers=reviewer), 422, "invalid_request"
    )


def test_the_openapi_document_is_served_and_nothing_loads_from_a_cdn(served: Served) -> None:
    document = served.client.get("/api/v1/openapi.json")
    assert document.status_code == 200
    paths = document.json()["paths"]
    assert {"/api/v1/me", "/api/v1/reviews", "/api/v1/reviews/{review_id}/transitions"} <= set(paths)
    assert served.client.get("/docs").status_code == 404
    assert served.client.get("/redoc").status_code == 404


# The command line for tokens -------------------------------------------------------------------------------------


def test_a_token_is_shown_once_listed_without_its_secret_and_revoked(served: Served) -> None:
    run = Cli(served.settings, served.clock)
    issued = run("token", "issue", "--name", "dashboard", "--as", served.world.reviewer.email, "--json")
    assert issued.exit_code == 0, issued.stderr
    token = issued.json()["token"]
    listed = run("token", "list", "--as", served.world.reviewer.email)
    assert issued.json()["id"] in listed.stdout
    assert token.split("_", 2)[2] not in listed.stdout
    assert run("token", "revoke", issued.json()["id"], "--as", served.world.reviewer.email).exit_code == 0
    is_problem(served.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 401, "unauthenticated")
    other = run("token", "revoke", issued.json()["id"], "--as", served.world.lead.email)
    assert other.exit_code == 1
    assert "There is no token" in other.stderr
    bad = run("token", "issue", "--name", "x", "--days", "400", "--as", served.world.reviewer.email)
    assert bad.exit_code == 1
    assert "A token lives 1 to 365 days" in bad.stderr


# Every other endpoint ------------------------------------------------------------------------------------------


def test_the_directory_is_kept_by_operators_and_developer_admins_and_read_by_agency_staff(served: Served) -> None:
    world, client = served.world, served.client
    operator, reviewer, acme = (
        served.token(world.operator),
        served.token(world.reviewer),
        served.token(world.acme_admin),
    )

    added = client.post("/api/v1/organisations", json={"name": "Initech", "kind": "developer"}, headers=operator)
    assert added.status_code == 201, added.text
    assert added.json()["slug"] == "initech"
    is_problem(
        client.post("/api/v1/organisations", json={"name": "Initech", "kind": "developer"}, headers=operator),
        409,
        "conflict",
    )
    is_problem(
        client.post("/api/v1/organisations", json={"name": "X", "kind": "bank"}, headers=operator), 422, "invalid_input"
    )
    is_problem(
        client.post("/api/v1/organisations", json={"name": "Y", "kind": "developer"}, headers=acme),
        403,
        "permission_denied",
    )
    assert "initech" in [o["slug"] for o in client.get("/api/v1/organisations", headers=reviewer).json()]
    is_problem(client.get("/api/v1/organisations", headers=acme), 403, "permission_denied")

    colleague = {"email": "new@acme.test", "name": "New", "role": "developer_member", "organisation": "acme-ai"}
    assert client.post("/api/v1/users", json=colleague, headers=acme).status_code == 201
    outsider = {**colleague, "email": "spy@globex.test", "organisation": "globex"}
    is_problem(client.post("/api/v1/users", json=outsider, headers=acme), 403, "permission_denied")
    listed = client.get("/api/v1/users", params={"organisation": "acme-ai"}, headers=reviewer).json()
    assert "new@acme.test" in [user["email"] for user in listed]
    is_problem(client.get("/api/v1/users", headers=acme), 403, "permission_denied")


def test_a_developer_submits_through_the_api_and_bad_input_changes_nothing(served: Served) -> None:
    world, client = served.world, served.client
    acme, reviewer = served.token(world.acme_admin), served.token(world.reviewer)
    release = (served.clock.now().date() + timedelta(days=60)).isoformat()
    body = {"model": "openai-api/acme/a2", "model_version": "2", "planned_release_date": release, "model_card": "c"}

    before = database_snapshot(served.airlock.database)
    past = client.post("/api/v1/submissions", json={**body, "planned_release_date": "2020-01-01"}, headers=acme)
    assert "is not after today" in str(is_problem(past, 422, "invalid_input")["title"])
    is_problem(
        client.post("/api/v1/submissions", json={**body, "planned_release_date": "soon"}, headers=acme),
        422,
        "invalid_request",
    )
    is_problem(client.post("/api/v1/submissions", json=body, headers=reviewer), 403, "permission_denied")
    assert database_snapshot(served.airlock.database) == before

    made = client.post("/api/v1/submissions", json=body, headers=acme)
    assert made.status_code == 201, made.text
    assert made.json()["state"] == "submitted"
    assert made.json()["id"] in [
        r["id"] for r in client.get("/api/v1/reviews", headers=served.token(world.lead)).json()
    ]


def test_clock_team_and_partner_grants_through_the_api(served: Served) -> None:
    world, client = served.world, served.client
    review = accepted_review(served.airlock, served.world, base_url="http://127.0.0.1:9/v1")
    lead, admin, partner = served.token(world.lead), served.token(world.acme_admin), served.token(world.partner)

    no_consent = {"action": "extend", "days": 5, "reason": "model endpoint down for a week"}
    refused = client.post(f"/api/v1/reviews/{review}/clock", json=no_consent, headers=lead)
    assert is_problem(refused, 409, "consent_required")["field"] == "consent_from"
    consented = {**no_consent, "consent_from": world.acme_admin.email, "consent_reference": "email of 29 Nov"}
    extended = client.post(f"/api/v1/reviews/{review}/clock", json=consented, headers=lead)
    assert extended.status_code == 200, extended.text
    assert extended.json()["clock"]["extension_days"] == 5
    pause = {**consented, "action": "pause", "days": None}
    assert (
        client.post(f"/api/v1/reviews/{review}/clock", json=pause, headers=lead).json()["clock"]["status"] == "paused"
    )
    resumed = client.post(f"/api/v1/reviews/{review}/clock", json={"action": "resume"}, headers=lead)
    assert resumed.json()["clock"]["status"] == "running"
    is_problem(
        client.post(f"/api/v1/reviews/{review}/clock", json={"action": "stop"}, headers=lead), 422, "invalid_request"
    )

    is_problem(
        client.post(f"/api/v1/reviews/{review}/team", json={"reviewer": world.reviewer.email}, headers=admin),
        403,
        "permission_denied",
    )
    removed = client.delete(f"/api/v1/reviews/{review}/team/{world.reviewer.email}", headers=lead)
    assert world.reviewer.email not in removed.json()["assigned"]
    added = client.post(f"/api/v1/reviews/{review}/team", json={"reviewer": world.reviewer.email}, headers=lead)
    assert world.reviewer.email in added.json()["assigned"]

    is_problem(client.get(f"/api/v1/reviews/{review}", headers=partner), 404, "not_found")
    grant = {"partner": "grid-cert", "content": ["redacted_report"]}
    is_problem(client.post(f"/api/v1/reviews/{review}/grants", json=grant, headers=lead), 403, "permission_denied")
    assert client.post(f"/api/v1/reviews/{review}/grants", json=grant, headers=admin).status_code == 200
    seen = client.get(f"/api/v1/reviews/{review}", headers=partner).json()
    assert seen["limited_view"] is True
    assert seen["submitted_by"] == "acme-ai"
    assert seen["assigned"] == []
    assert {event["actor"] for event in seen["events"]} == {""}, "the partner sees the moves, not who made them"
    assert client.delete(f"/api/v1/reviews/{review}/grants/grid-cert", headers=admin).status_code == 200
    is_problem(client.get(f"/api/v1/reviews/{review}", headers=partner), 404, "not_found")


def test_findings_reports_and_the_audit_trail_through_the_api(served: Served) -> None:
    world, client = served.world, served.client
    review = accepted_review(served.airlock, served.world, base_url="http://127.0.0.1:9/v1")
    reviewer, admin, auditor = served.token(world.reviewer), served.token(world.acme_admin), served.token(world.auditor)

    finding = {"title": "Chains two bugs", "body": "Observed a two-step exploit.", "level": "CY-2"}
    made = client.post(f"/api/v1/reviews/{review}/findings", json=finding, headers=reviewer)
    assert made.status_code == 201, made.text
    finding_id = made.json()["id"]
    is_problem(client.post(f"/api/v1/reviews/{review}/findings", json=finding, headers=admin), 403, "permission_denied")
    unsent = is_problem(client.get(f"/api/v1/reviews/{review}/findings", headers=admin), 403, "permission_denied")
    assert "not yet sent to the developer" in str(unsent["detail"])

    built = client.post(f"/api/v1/reviews/{review}/reports", headers=reviewer)
    assert built.status_code == 201, built.text
    assert set(built.json()["files"]) == {"full", "redacted"}
    is_problem(client.post(f"/api/v1/reviews/{review}/reports", headers=admin), 403, "permission_denied")

    answer = {"text": "Fixed in the next version."}
    is_problem(
        client.post(f"/api/v1/findings/{finding_id}/response", json=answer, headers=admin), 409, "invalid_transition"
    )
    for state in ("evaluating", "draft_report", "developer_response"):
        served.airlock.reviews.transition(world.lead, review, state, reason="draft sent")
    answered = client.post(f"/api/v1/findings/{finding_id}/response", json=answer, headers=admin)
    assert answered.json()["response"] == answer["text"]
    assert client.get(f"/api/v1/reviews/{review}/findings", headers=admin).json()[0]["response"] == answer["text"]

    # The auditor checks the trail and sees no content at all.
    verified = client.get("/api/v1/audit/verification", headers=auditor)
    assert verified.status_code == 200
    assert verified.json()["ok"] is True
    assert verified.json()["entries"] > 10
    is_problem(client.get("/api/v1/audit/verification", headers=admin), 403, "permission_denied")
    for path in ("findings", "evaluations", "reports/full/pdf", "reports/redacted/json"):
        is_problem(client.get(f"/api/v1/reviews/{review}/{path}", headers=auditor), 403, "permission_denied")

    # The trail itself: the newest entries, oldest first, the refusals above among them; a checkpoint to keep.
    entries = client.get("/api/v1/audit/entries", params={"newest": 5}, headers=auditor).json()
    assert [entry["seq"] for entry in entries] == sorted(entry["seq"] for entry in entries)
    assert len(entries) == 5
    everything = client.get("/api/v1/audit/entries", params={"newest": 1000}, headers=auditor).json()
    assert entries[-1]["seq"] >= everything[-2]["seq"]  # reading the trail is itself audited
    refused = [e for e in everything if e["outcome"] == "refused" and e["actor"] == world.auditor.email]
    assert {e["target"] for e in refused} >= {f"review:{review}"}
    later = client.get("/api/v1/audit/entries", params={"since": "2999-01-01T00:00:00Z"}, headers=auditor).json()
    assert later == []
    naive = client.get("/api/v1/audit/entries", params={"since": "2026-11-30T10:00:00"}, headers=auditor)
    assert is_problem(naive, 422, "invalid_input")["field"] == "since"
    assert client.get("/api/v1/audit/checkpoint", headers=auditor).json()["note"].strip()
    signals = client.get("/api/v1/audit/unusual", params={"refusals": 4}, headers=auditor).json()
    assert world.auditor.email in {signal["actor"] for signal in signals}, "refused four times just now"
    for path in ("entries", "checkpoint", "unusual"):
        is_problem(client.get(f"/api/v1/audit/{path}", headers=admin), 403, "permission_denied")
    # The report verifier key is public to every signed-in user: anyone handed a report may check it.
    key = client.get("/api/v1/reports/verifier-key", headers=admin).json()["key"]
    assert key == served.airlock.reports.verifier_key()


def test_tokens_are_issued_listed_and_revoked_through_the_api(served: Served) -> None:
    client, reviewer = served.client, served.token(served.world.reviewer)
    issued = client.post("/api/v1/tokens", json={"name": "notebook", "days": 7}, headers=reviewer)
    assert issued.status_code == 201
    secret, token_id = issued.json()["secret"], issued.json()["token"]["id"]
    own = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/me", headers=own).json()["email"] == served.world.reviewer.email
    assert token_id in [t["id"] for t in client.get("/api/v1/tokens", headers=reviewer).json()]
    assert secret not in client.get("/api/v1/tokens", headers=reviewer).text
    is_problem(client.post("/api/v1/tokens", json={"name": "x", "days": 0}, headers=reviewer), 422, "invalid_input")
    is_problem(client.delete(f"/api/v1/tokens/{token_id}", headers=served.token(served.world.lead)), 404, "not_found")
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=own).json()["revoked_at"] is not None
    is_problem(client.get("/api/v1/me", headers=own), 401, "unauthenticated")


def test_an_evaluation_started_through_the_api_runs_in_the_background_once(served: Served) -> None:
    world, client = served.world, served.client
    with fake_endpoint(replaying_references(suites_cache())) as endpoint:
        review = accepted_review(served.airlock, world, base_url=endpoint.url)
        reviewer = served.token(world.reviewer)
        is_problem(
            client.post(f"/api/v1/reviews/{review}/evaluations", json={"suite": "nope"}, headers=reviewer),
            422,
            "invalid_input",
        )
        is_problem(
            client.post(
                f"/api/v1/reviews/{review}/evaluations", json={"suite": QUICK}, headers=served.token(world.acme_admin)
            ),
            403,
            "permission_denied",
        )

        started = client.post(f"/api/v1/reviews/{review}/evaluations", json={"suite": QUICK}, headers=reviewer)
        assert started.status_code == 202, started.text
        again = client.post(f"/api/v1/reviews/{review}/evaluations", json={"suite": QUICK}, headers=reviewer)
        assert "already running" in str(is_problem(again, 409, "conflict")["title"])

        deadline = time.monotonic() + 180
        runs: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            runs = client.get(f"/api/v1/reviews/{review}/evaluations", headers=reviewer).json()
            if runs and runs[0]["status"] != "running" and not served.airlock.evaluations.in_progress(review):
                break
            time.sleep(1)
        assert len(runs) == 1, runs
        assert runs[0]["status"] == "completed", runs
        assert runs[0]["verdicts"]["model"]["done"] == runs[0]["samples_total"]  # type: ignore[index]
        assert endpoint.sample_calls == runs[0]["samples_total"]
    assert client.get(f"/api/v1/reviews/{review}", headers=reviewer).json()["state"] == "evaluating"


def test_the_dashboard_pages_and_its_query_shows_each_role_exactly_what_the_policy_does(served: Served) -> None:
    """The dashboard selects reviews in SQL (a page at a time); that selection must be the access policy's."""
    world, airlock = served.world, served.airlock
    release = served.clock.now().date() + timedelta(days=40)

    def submit(user: Principal, model: str, *, draft: bool = False) -> str:
        request = SubmissionRequest(model=model, model_version="1", planned_release_date=release, as_draft=draft)
        return airlock.submissions.submit(user, request).id

    draft = submit(world.acme_admin, "openai-api/acme/draft", draft=True)
    assigned = accepted_review(airlock, world, base_url="http://127.0.0.1:9/v1")
    granted = submit(world.acme_admin, "openai-api/acme/granted")
    airlock.reviews.grant(world.acme_admin, granted, "grid-cert", ["model_card"])
    globex = submit(world.globex_admin, "openai-api/globex/g1")
    everything = {draft, assigned, granted, globex}
    for user in (
        world.operator,
        world.lead,
        world.reviewer,
        world.auditor,
        world.acme_admin,
        world.acme_member,
        world.globex_admin,
        world.partner,
    ):
        expected = set()
        for review in everything:
            try:
                airlock.reviews.show(user, review)
                expected.add(review)
            except AirlockError:
                pass
        listed = [summary.id for summary in airlock.reviews.list_visible(user)]
        assert set(listed) == expected, user.email
        assert len(listed) == len(set(listed))
    assert {r.id for r in airlock.reviews.list_visible(world.reviewer)} == {assigned}
    assert {r.id for r in airlock.reviews.list_visible(world.partner)} == {granted}

    lead = served.token(world.lead)
    first = served.client.get("/api/v1/reviews", params={"limit": 2}, headers=lead).json()
    rest = served.client.get("/api/v1/reviews", params={"limit": 2, "offset": 2}, headers=lead).json()
    assert [r["id"] for r in first + rest] == [r.id for r in airlock.reviews.list_visible(world.lead)]
    assert len(first) == 2
    is_problem(served.client.get("/api/v1/reviews", params={"limit": 0}, headers=lead), 422, "invalid_request")
    # An offset no database can bind is refused as input, not passed on to fail there.
    beyond = {"offset": 2**63}
    is_problem(served.client.get("/api/v1/reviews", params=beyond, headers=lead), 422, "invalid_request")
    with pytest.raises(InvalidInputError, match="offset"):
        airlock.reviews.list_visible(world.lead, offset=2**63)
