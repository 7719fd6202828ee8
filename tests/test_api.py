"""The REST API: API tokens, problem details, and the same access policy as the command line; a user of one
organisation never learns that another organisation's review exists."""

from __future__ import annotations

import json
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
from airlock.review import SubmissionRequest
from tests.support.cli import Cli
from tests.support.world import World, build_world, database_snapshot
from tests.test_eval_runs import accepted_review


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
    assert len(secret) == 64 and set(secret) <= set("0123456789abcdef"), "256 random bits, in hex"
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
    is_problem(malformed, 422, "invalid_request")


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
    is_problem(served.client.get(f"/api/v1/reviews/{review}/reports/full/docx", headers=reviewer), 404, "not_found")


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
