"""The portal in-process, with every user holding a password of their own, and the helpers its tests share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from airlock.api.app import create_app
from airlock.app import Airlock
from airlock.clock import ManualClock
from airlock.config import Settings
from tests.support.world import World, build_world
from tests.test_eval_runs import accepted_review
from tests.test_web import PASSWORD, Portal


@contextmanager
def portal_with_own_passwords(tmp_path: Path) -> Iterator[Portal]:
    """The portal (SQLite, real time), every user of the world but the partner and Acme's member with the
    password ``PASSWORD``, set by themselves (the operator too)."""
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path}/airlock.db")
    clock = ManualClock(datetime.now(UTC))
    airlock = Airlock.open(settings, clock, must_be_initialised=False)
    airlock.initialise()
    world = build_world(airlock)
    for user in (world.operator, world.acme_admin, world.lead, world.reviewer, world.auditor, world.globex_admin):
        airlock.sessions.set_password(user, user.email, PASSWORD)
    try:
        with TestClient(create_app(airlock)) as client:
            yield Portal(airlock, world, settings, clock, client)
    finally:
        airlock.close()


def review_sent_to_developer(airlock: Airlock, world: World) -> str:
    """An Acme review whose signed report has gone to the developer (developer_response)."""
    review = accepted_review(airlock, world, base_url="http://127.0.0.1:9/v1")
    airlock.reviews.transition(world.reviewer, review, "evaluating", reason="manual")
    airlock.findings.add(world.reviewer, review, title="Exploits tier 2", body="Observed twice.", level="CY-2")
    airlock.reviews.transition(world.reviewer, review, "draft_report", reason="done")
    airlock.reports.build(world.reviewer, review)
    airlock.reviews.transition(world.lead, review, "developer_response", reason="draft sent")
    return review


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def form_fields(route: APIRoute) -> list[str]:
    """Every form field a page's route reads, those its dependencies read included (the CSRF token)."""

    def read_by(dependant: Dependant) -> list[str]:
        names = [parameter.name for parameter in dependant.body_params]
        for dependency in dependant.dependencies:
            names += read_by(dependency)
        return names

    return list(dict.fromkeys(read_by(route.dependant)))
