"""The REST API against its own OpenAPI document: schemathesis generates requests from the document the
portal serves and checks that no answer is a server error, and that every answer's status code, content type,
headers and body are the ones the document promises."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok
from schemathesis.schemas import BaseSchema

from airlock.api.app import create_app
from airlock.app import Airlock
from airlock.clock import ManualClock
from airlock.config import Settings
from tests.support.world import build_world
from tests.test_eval_runs import accepted_review

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Building a report renders two PDFs (seconds each): the API tests cover it; here it keeps random review ids.
SLOW = {("POST", "/api/v1/reviews/{review_id}/reports")}
EXAMPLES = 25


@dataclass
class Portal:
    airlock: Airlock
    review: str
    headers: dict[str, str]


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    root = tmp_path_factory.mktemp("schema")
    settings_ = Settings(home=root / "home", database_url=f"sqlite:///{root}/airlock.db")
    airlock = Airlock.open(settings_, ManualClock(datetime.now(UTC)), must_be_initialised=False)
    airlock.initialise()
    world = build_world(airlock)
    # A real review (its model's endpoint is a closed loopback port) that half the requests are aimed at, so
    # that they get past "no such review" into the services; the lead reviewer sees every review.
    review = accepted_review(airlock, world, base_url="http://127.0.0.1:9/v1")
    token = airlock.tokens.issue(world.lead, name="schemathesis", days=1).token
    try:
        yield Portal(airlock, review, {"Authorization": f"Bearer {token}"})
    finally:
        airlock.close()


@pytest.fixture(scope="module")
def api_schema(portal: Portal) -> BaseSchema:
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app(portal.airlock))


# Each operation is driven through its Hypothesis strategy in one test (schemathesis's pytest plug-in for a
# schema made by a fixture does not work with pytest 9); every operation's failure is reported, not the first.
def test_no_request_gets_a_server_error_or_an_answer_outside_the_document(
    api_schema: BaseSchema, portal: Portal
) -> None:
    failures: list[str] = []
    answered: list[int] = []
    operations = []
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok), f"the document has an invalid operation: {result}"
        operations.append(result.ok())
    assert len(operations) >= 25
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def exchange(case: Case[Any]) -> None:
            parameters = case.path_parameters or {}
            if "review_id" in parameters and (case.method, case.path) not in SLOW and hash(repr(case.body)) % 2:
                parameters["review_id"] = portal.review
            response = case.call_and_validate(headers=portal.headers, checks=CHECKS)
            answered.append(response.status_code)

        try:
            exchange()
        except (Exception, BaseExceptionGroup) as failure:  # every operation's failure is reported, not the first
            failures.append(f"{operation.method.upper()} {operation.path}: {str(failure)[:2000]}")
    assert not failures, "\n\n".join(failures)
    assert len(answered) >= 10 * len(operations)
    assert sum(1 for status in answered if status < 300) >= len(operations), "requests reached the services"


def test_the_document_describes_every_route_with_its_bodies_and_authentication(api_schema: BaseSchema) -> None:
    document = api_schema.raw_schema
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    operations = [(method, path) for path, item in document["paths"].items() for method in item]
    assert len(operations) >= 25
    assert all(path.startswith("/api/v1/") for _, path in operations), "the web pages stay out of the API's document"
    submit = document["paths"]["/api/v1/submissions"]["post"]
    assert submit["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/NewSubmission")
    assert set(submit["responses"]) >= {"201", "401", "403", "422"}
