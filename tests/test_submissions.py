"""Submitting a model: what is recorded, and every kind of bad input refused with nothing saved."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from airlock.app import Airlock
from airlock.errors import InvalidInputError, PermissionDeniedError
from airlock.review import ReviewState, SubmissionRequest
from tests.support.world import World, database_snapshot

DIGEST = "ab" * 32


def request(airlock: Airlock, **changes: Any) -> SubmissionRequest:
    fields: dict[str, Any] = {
        "model": "openai-api/acme/frontier-1",
        "model_version": "2026.11",
        "planned_release_date": str(airlock.clock.now().date() + timedelta(days=40)),
        "model_card": "Frontier-1 model card",
        "base_url": "https://api.acme.test/v1",
        "endpoint_credentials": "sk-test",
        "artefacts": [f"weights.safetensors={DIGEST}"],
    }
    fields.update(changes)
    return SubmissionRequest(**fields)


def test_a_submission_is_recorded_and_submitted(airlock: Airlock, world: World) -> None:
    review = airlock.submissions.submit(world.acme_member, request(airlock))
    assert review.state == ReviewState.SUBMITTED
    assert review.id.startswith("R-")
    assert review.submission_id.startswith("S-")
    assert (review.organisation, review.model, review.base_url) == (
        "acme-ai",
        "openai-api/acme/frontier-1",
        "https://api.acme.test/v1",
    )
    assert [(a.name, a.sha256) for a in review.artefacts] == [("weights.safetensors", DIGEST)]
    assert {(item.kind, item.bytes) for item in review.content} == {
        ("model_card", len("Frontier-1 model card")),
        ("endpoint_credentials", len("sk-test")),
    }
    assert [(e.kind, e.to_state, e.actor) for e in review.events] == [
        ("created", "draft", "member@acme.test"),
        ("transition", "submitted", "member@acme.test"),
    ]


def test_a_draft_stays_a_draft(airlock: Airlock, world: World) -> None:
    assert airlock.submissions.submit(world.acme_admin, request(airlock, as_draft=True)).state == ReviewState.DRAFT


def test_the_model_card_is_read_from_the_vault_by_those_who_need_to_know(airlock: Airlock, world: World) -> None:
    review = airlock.submissions.submit(world.acme_admin, request(airlock))
    airlock.reviews.accept(world.lead, review.id)
    airlock.reviews.assign(world.lead, review.id, world.reviewer.email)
    for reader in (world.acme_member, world.lead, world.reviewer):
        assert airlock.reviews.read_content(reader, review.id, "model_card", purpose="test") == b"Frontier-1 model card"
    for not_entitled in (world.operator, world.auditor):
        with pytest.raises(PermissionDeniedError):
            airlock.reviews.read_content(not_entitled, review.id, "model_card", purpose="test")


@pytest.mark.parametrize("who", ["operator", "lead", "reviewer", "auditor", "partner"])
def test_only_developers_submit(airlock: Airlock, world: World, who: str) -> None:
    before = database_snapshot(airlock.database)
    with pytest.raises(PermissionDeniedError, match="may not submit a model"):
        airlock.submissions.submit(getattr(world, who), request(airlock))
    assert database_snapshot(airlock.database) == before


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"planned_release_date": "15/01/2027"}, "not a date; write it as YYYY-MM-DD"),
        ({"planned_release_date": "2027-02-30"}, "not a date"),
        ({"planned_release_date": "2026-11-01"}, "is not after today"),
        ({"planned_release_date": "2026-11-02"}, "is not after today"),
        ({"model": "frontier-1"}, "not a model name; use Inspect's provider/model form"),
        ({"model_version": " "}, "model version is empty"),
        ({"base_url": "ftp://acme.test"}, "not an http\\(s\\) URL"),
        ({"artefacts": ["weights=abc"]}, "not NAME=SHA256"),
        ({"artefacts": [DIGEST]}, "not NAME=SHA256"),
        ({"confidentiality_marking": "secret"}, "Unknown confidentiality marking 'secret'"),
    ],
)
def test_bad_submissions_are_refused_and_nothing_is_saved(
    airlock: Airlock, world: World, changes: dict[str, Any], message: str
) -> None:
    before = database_snapshot(airlock.database)
    with pytest.raises(InvalidInputError, match=message):
        airlock.submissions.submit(world.acme_admin, request(airlock, **changes))
    assert database_snapshot(airlock.database) == before
