"""The pages' routes as a whole: what every form and every route shares, whichever area module it is in.

(Each page's own behaviour is in test_web.py; the walls around every request in test_portal_walls.py.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute

from airlock.api.text import CheckedTextRoute
from airlock.web.pages import AREAS
from tests.support.portal import form_fields, portal_with_own_passwords
from tests.support.world import database_snapshot
from tests.test_eval_runs import accepted_review
from tests.test_web import Portal


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[Portal]:
    with portal_with_own_passwords(tmp_path) as opened:
        yield opened


def _routes() -> list[APIRoute]:
    return [route for area in AREAS for route in area.router.routes if isinstance(route, APIRoute)]


def test_every_form_but_sign_in_is_refused_without_the_session_csrf_token_and_changes_nothing(
    portal: Portal,
) -> None:
    world, airlock = portal.world, portal.airlock
    review = accepted_review(airlock, world, base_url="http://127.0.0.1:9/v1")
    # The operator: the widest rights, so that no refusal but the CSRF check's could come first.
    browser, _ = portal.signed_in(world.operator)
    forms = [route for route in _routes() if "POST" in (route.methods or ()) and route.path != "/sign-in"]
    assert len(forms) >= 19
    before = database_snapshot(airlock.database)
    for route in forms:
        url = re.sub(r"\{[a-z_]+\}", review, route.path)
        filled = dict.fromkeys(form_fields(route), "x")
        assert "csrf" in filled, route.path
        for forged in ({**filled, "csrf": "0" * 64}, {key: value for key, value in filled.items() if key != "csrf"}):
            answer = browser.post(url, data=forged, follow_redirects=False)
            assert answer.status_code == 403, (route.path, answer.status_code, answer.text[:300])
            assert "CSRF token, so nothing was done" in answer.text, route.path
    assert database_snapshot(airlock.database) == before
    assert browser.get("/reviews", follow_redirects=False).status_code == 200, "the forged sign-out ended nothing"


def test_every_route_of_the_pages_refuses_unstorable_text_before_it_runs() -> None:
    routes = _routes()
    assert len(routes) >= 30
    assert [route.path for route in routes if not isinstance(route, CheckedTextRoute)] == []


def test_no_two_routes_of_the_pages_answer_the_same_method_and_path() -> None:
    seen = [(method, route.path) for route in _routes() for method in sorted(route.methods or ())]
    assert len(seen) == len(set(seen))
