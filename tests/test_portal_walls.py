"""The portal's walls around every request: bodies bounded before they are read, text no part of Airlock can
keep refused where it enters, names that cannot pose as other names, no token in a URL or a log, nothing
confidential left in a cache, nothing learnt from a refusal that the caller may not know, and no temporary
file a crash leaves behind kept for ever."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from airlock.app import Airlock
from airlock.clock import ManualClock
from airlock.config import DEFAULT_MAX_REQUEST_BYTES, Settings, load_settings
from airlock.errors import ConfigurationError
from airlock.vault.blobs import ABANDONED_AFTER, INCOMING_PREFIX, BlobStore
from airlock.web.pages import AREAS
from tests.support.portal import bearer, form_fields, portal_with_own_passwords, review_sent_to_developer
from tests.support.served import ServedProcess, airlock_serve
from tests.support.world import build_world, database_snapshot
from tests.test_eval_runs import accepted_review
from tests.test_web import Portal

MiB = 1024 * 1024


def problem_of(answer: Any, status: int, kind: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    assert body["type"] == f"urn:airlock:problem:{kind}"
    return body


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[Portal]:
    with portal_with_own_passwords(tmp_path) as opened:
        yield opened


# Request bodies --------------------------------------------------------------------------------------------


@pytest.fixture
def small_limit_server(tmp_path: Path, clock: ManualClock) -> Iterator[ServedProcess]:
    """``airlock serve`` reading request bodies of at most 1 MiB."""
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path}/airlock.db")
    airlock = Airlock.open(settings, clock, must_be_initialised=False)
    airlock.initialise()
    airlock.close()
    with airlock_serve(settings, tmp_path / "serve.log", {"AIRLOCK_MAX_REQUEST_BYTES": str(MiB)}) as served:
        yield served


def send_chunked(port: int, total: int, piece: int, served: ServedProcess) -> tuple[bytes, int, int]:
    """POST a chunked body of ``total`` bytes in pieces of ``piece`` to the submissions endpoint, unauthenticated,
    stopping when the server answers or closes; returns its answer, the bytes sent and the server's peak resident
    memory while it lasted (sampled every 5 ms)."""
    connection = socket.create_connection(("127.0.0.1", port))
    connection.sendall(
        b"POST /api/v1/submissions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    answer = bytearray()
    peak = served.resident_bytes()
    done = threading.Event()

    def read() -> None:
        try:
            while data := connection.recv(65536):
                answer.extend(data)
        except OSError:
            pass
        done.set()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, served.resident_bytes())
            time.sleep(0.005)

    threads = [threading.Thread(target=read), threading.Thread(target=watch)]
    for thread in threads:
        thread.start()
    sent, data = 0, b"x" * piece
    try:
        while sent < total and not answer:
            connection.sendall(b"%x\r\n" % piece + data + b"\r\n")
            sent += piece
        connection.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server answered and closed the connection
    done.wait(timeout=30)
    connection.close()
    for thread in threads:
        thread.join(timeout=30)
    return bytes(answer), sent, peak


def test_an_oversized_chunked_body_gets_413_before_it_is_read_and_the_servers_memory_stays_flat(
    small_limit_server: ServedProcess,
) -> None:
    before = small_limit_server.resident_bytes()
    answer, sent, peak = send_chunked(small_limit_server.port, 64 * MiB, 256 * 1024, small_limit_server)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"connection: close" in head.lower()
    assert json.loads(body)["type"] == "urn:airlock:problem:request_too_large"
    assert sent < 64 * MiB, "the server stopped the body long before its end"
    assert peak - before < 16 * MiB, f"the server grew by {(peak - before) / MiB:.1f} MiB"


def test_a_declared_length_over_the_limit_is_refused_unread(small_limit_server: ServedProcess) -> None:
    before = small_limit_server.resident_bytes()
    connection = socket.create_connection(("127.0.0.1", small_limit_server.port), timeout=10)
    connection.sendall(
        b"POST /api/v1/submissions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 536870912\r\n\r\n" + b"x" * 4096
    )
    answer = b""
    while data := connection.recv(65536):  # the server closes the connection with its answer
        answer += data
    connection.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"larger than the 1 MiB this portal reads" in answer
    assert small_limit_server.resident_bytes() - before < 4 * MiB


def test_within_the_limit_a_long_model_card_goes_through_the_form_and_the_api(portal: Portal) -> None:
    assert 16 * MiB == DEFAULT_MAX_REQUEST_BYTES
    card = "A long model card. " * (2 * MiB // 19)
    developer, csrf = portal.signed_in(portal.world.acme_admin)
    form = {
        "csrf": csrf,
        "form_token": re.search(r'name="form_token" value="([0-9a-f]+)"', developer.get("/submit").text).group(1),  # type: ignore[union-attr]
        "model": "openai-api/acme/long-card",
        "model_version": "1",
        "planned_release_date": (portal.clock.now().date().replace(year=portal.clock.now().year + 1)).isoformat(),
        "model_card": card,
        "confidentiality_marking": "confidential",
    }
    assert developer.post("/submit", data=form, follow_redirects=False).status_code == 303
    token = bearer(portal.airlock.tokens.issue(portal.world.acme_admin, name="t").token)
    too_big = json.dumps({"model": "openai-api/acme/x", "model_version": "1", "model_card": "y" * (17 * MiB)})
    refused = portal.app_client.post(
        "/api/v1/submissions", content=too_big, headers={**token, "Content-Type": "application/json"}
    )
    assert problem_of(refused, 413, "request_too_large")["title"].startswith(
        "The request's body is larger than the 16 MiB this portal reads"
    )


def test_the_request_body_limit_is_a_setting_with_a_clear_error_when_out_of_range() -> None:
    assert load_settings(max_request_bytes="2048").max_request_bytes == 2048
    with pytest.raises(ConfigurationError, match="AIRLOCK_MAX_REQUEST_BYTES is '12'"):
        load_settings(max_request_bytes="12")
    with pytest.raises(ConfigurationError, match=r"AIRLOCK_TRUSTED_PROXIES is 'proxy\.lab'"):
        load_settings(trusted_proxies="proxy.lab")
    assert load_settings(trusted_proxies=" 127.0.0.1, 10.0.0.0/8 ").trusted_proxy_list == ["127.0.0.1", "10.0.0.0/8"]
    assert load_settings().trusted_proxy_list == [], "no proxy is trusted unless named"


# Text no part of Airlock can keep ----------------------------------------------------------------------------


def _sample(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """A plausible value for a JSON schema: what a fuzzer then spoils one string at a time."""
    if "$ref" in schema:
        return _sample(components[schema["$ref"].rsplit("/", 1)[1]], components)
    if "anyOf" in schema:
        return _sample(next(s for s in schema["anyOf"] if s.get("type") != "null"), components)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {name: _sample(item, components) for name, item in schema.get("properties", {}).items()}
    if kind == "array":
        return [_sample(schema.get("items", {"type": "string"}), components)]
    return {"integer": 1, "boolean": False, "number": 1.0}.get(str(kind), "2027-01-31")


_PATH_VALUES = {"variant": "full", "file_format": "json", "reviewer": "x", "partner": "x"}


def _url_with_nul(path: str, spoiled: str, review: str) -> str:
    """``path`` with its parameter ``spoiled`` holding a NUL, and the others plausible values."""

    def value(found: re.Match[str]) -> str:
        return "x%00" if found.group(1) == spoiled else _PATH_VALUES.get(found.group(1), review)

    return re.sub(r"\{([a-z_]+)\}", value, path)


def _spoiled(document: Any, bad: str) -> Iterator[tuple[str, Any]]:
    """``document`` once for each of its strings, that string replaced by ``bad``; with the top-level field."""
    if isinstance(document, dict):
        for name, value in document.items():
            if isinstance(value, str):
                yield name, {**document, name: bad}
            elif isinstance(value, list):
                yield name, {**document, name: [bad]}


@pytest.mark.parametrize("bad", ["\ud800", "a\x00b"], ids=["lone surrogate", "NUL"])
def test_no_text_field_of_the_api_answers_unstorable_text_with_a_server_error(portal: Portal, bad: str) -> None:
    world, airlock = portal.world, portal.airlock
    review = accepted_review(airlock, world, base_url="http://127.0.0.1:9/v1")
    document = portal.app_client.get("/api/v1/openapi.json").json()
    components = document["components"]["schemas"]
    token = bearer(airlock.tokens.issue(world.operator, name="fuzz").token)
    before = database_snapshot(airlock.database)
    tried = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            concrete = re.sub(r"\{[a-z_]+\}", review, path)
            schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if schema is not None:
                for field, body in _spoiled(_sample(schema, components), bad):
                    answer = portal.app_client.request(
                        method,
                        concrete,
                        content=json.dumps(body),
                        headers={**token, "Content-Type": "application/json"},
                    )
                    assert problem_of(answer, 422, "invalid_input")["field"] == field, (method, path, field)
                    tried += 1
            # A URL cannot carry a lone surrogate (percent-encoded UTF-8 has none), but it can carry a NUL.
            for parameter in operation.get("parameters", []) if "\x00" in bad else []:
                name, where = parameter["name"], parameter["in"]
                if where == "path":
                    answer = portal.app_client.request(method, _url_with_nul(path, name, review), headers=token)
                else:
                    answer = portal.app_client.request(method, concrete, params={name: bad}, headers=token)
                assert problem_of(answer, 422, "invalid_input")["field"] == name, (method, path, name)
                tried += 1
    assert tried > (40 if bad == "\x00" else 25)
    unchanged = database_snapshot(airlock.database)
    assert {k: v for k, v in unchanged.items() if k != "api_tokens"} == {
        k: v for k, v in before.items() if k != "api_tokens"
    }


def test_no_form_field_of_the_pages_answers_a_nul_with_a_server_error(portal: Portal) -> None:
    world, airlock = portal.world, portal.airlock
    review = accepted_review(airlock, world, base_url="http://127.0.0.1:9/v1")
    browser, csrf = portal.signed_in(world.operator)
    forms = [
        route
        for area in AREAS
        for route in area.router.routes
        if isinstance(route, APIRoute) and "POST" in (route.methods or ())
    ]
    tried = 0
    for route in forms:
        url = re.sub(r"\{[a-z_]+\}", review, route.path)
        fields = form_fields(route)
        for field in fields:
            data = dict.fromkeys(fields, "x") | {"csrf": csrf, field: "a\x00b"}
            answer = browser.post(url, data=data, follow_redirects=False)
            assert answer.status_code == 422, (route.path, field, answer.text[:300])
            assert "NUL or unpaired surrogate" in answer.text
            # An invalid UTF-8 sequence (what a lone surrogate becomes on the way) is just text.
            spoiled = browser.post(
                url,
                content=f"{field}=%ED%A0%80&csrf={csrf}",
                follow_redirects=False,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert spoiled.status_code < 500, (route.path, field, spoiled.text[:300])
            tried += 1
    assert tried > 25


def test_a_csrf_token_beyond_ascii_is_refused_like_any_wrong_one(portal: Portal) -> None:
    browser, _ = portal.signed_in(portal.world.reviewer)
    api = browser.post("/api/v1/tokens", json={"name": "x"}, headers={b"X-CSRF-Token": b"\xe9" * 64})
    assert problem_of(api, 403, "csrf")["title"].startswith("The request did not carry this session's CSRF token")
    page = browser.post("/account/tokens", data={"csrf": "\u00e9" * 64, "name": "x"})
    assert page.status_code == 403


@pytest.mark.parametrize(
    "name",
    ["Eve\u202egro.evil", "Eve\u2066Admin\u2069", "Eve\x00", "Eve\x1b[31m", "Eve\nMallory", "\u200fEve"],
    ids=["bidi override", "bidi isolate", "NUL", "escape", "line break", "bidi mark"],
)
def test_control_and_direction_changing_characters_are_refused_in_names_and_identifiers(
    portal: Portal, name: str
) -> None:
    world, airlock = portal.world, portal.airlock
    token = bearer(airlock.tokens.issue(world.operator, name="ops").token)
    before = database_snapshot(airlock.database)
    attempts = [
        (
            "/api/v1/users",
            {"email": "eve@lab.test", "name": name, "role": "reviewer", "organisation": "evaluation-lab"},
        ),
        (
            "/api/v1/users",
            {"email": f"{name}@lab.test", "name": "Eve", "role": "reviewer", "organisation": "evaluation-lab"},
        ),
        ("/api/v1/organisations", {"name": name, "kind": "partner"}),
        ("/api/v1/tokens", {"name": name}),
    ]
    for path, body in attempts:
        answer = portal.app_client.post(path, json=body, headers=token)
        assert answer.status_code == 422, (path, body, answer.text)
        assert "\u202e" not in answer.text, "the answer shows no such character"
        assert "\u2066" not in answer.text
    assert {k: v for k, v in database_snapshot(airlock.database).items() if k != "api_tokens"} == {
        k: v for k, v in before.items() if k != "api_tokens"
    }


def test_a_lookup_of_an_identifier_with_such_characters_quotes_them_escaped(portal: Portal) -> None:
    token = bearer(portal.airlock.tokens.issue(portal.world.lead, name="t").token)
    answer = portal.app_client.get("/api/v1/reviews/R-\u202eKCATTA", headers=token)
    title = problem_of(answer, 404, "not_found")["title"]
    assert "\\u202e" in title
    assert "\u202e" not in title


# Tokens in URLs, the request log, caches ------------------------------------------------------------------------


def test_an_api_token_in_a_url_is_refused(portal: Portal) -> None:
    issued = portal.airlock.tokens.issue(portal.world.reviewer, name="pasted")
    for url in (f"/api/v1/me?access_token={issued.token}", f"/reviews?t={issued.token.upper()}"):
        answer = portal.app_client.get(url)
        body = problem_of(answer, 400, "token_in_url")
        assert "revoke this one" in body["detail"]
        assert issued.token not in answer.text


def test_the_request_log_keeps_no_query_string_and_no_token(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path}/airlock.db")
    # The server keeps the real time: so does the token.
    airlock = Airlock.open(settings, ManualClock(datetime.now(UTC)), must_be_initialised=False)
    airlock.initialise()
    world = build_world(airlock)
    token = airlock.tokens.issue(world.lead, name="pasted").token
    airlock.close()
    import httpx

    with airlock_serve(settings, tmp_path / "serve.log") as served:
        assert httpx.get(f"{served.url}/api/v1/me?access_token={token}").status_code == 400
        assert httpx.get(f"{served.url}/api/v1/reviews?state=accepted&secret=hunter2", headers=bearer(token)).is_success
        time.sleep(0.5)
    logged = served.log.read_text()
    assert '"GET /api/v1/me?\u2026 HTTP/1.1" 400' in logged, logged[-2000:]
    assert '"GET /api/v1/reviews?\u2026 HTTP/1.1" 200' in logged
    for secret in (token, "alk_", "hunter2", "state=accepted"):
        assert secret not in logged


def test_no_answer_with_confidential_content_may_be_cached(portal: Portal) -> None:
    world, airlock = portal.world, portal.airlock
    review = review_sent_to_developer(airlock, world)
    token = bearer(airlock.tokens.issue(world.acme_admin, name="t").token)
    developer, _ = portal.signed_in(world.acme_admin)
    answers = [
        portal.app_client.get("/api/v1/me", headers=token),
        portal.app_client.get(f"/api/v1/reviews/{review}", headers=token),
        portal.app_client.get(f"/api/v1/reviews/{review}/reports/full/pdf", headers=token),
        portal.app_client.get("/api/v1/reviews/R-00000000", headers=token),
        portal.app_client.get("/api/v1/me"),
        developer.get(f"/reviews/{review}/report/full/pdf"),
        developer.get(f"/reviews/{review}/report/full/html"),
        developer.get(f"/reviews/{review}"),
        developer.get("/", follow_redirects=False),
    ]
    for answer in answers:
        assert answer.headers.get("cache-control") == "no-store", (answer.request.url, answer.status_code)
    assert answers[2].content.startswith(b"%PDF-")
    style = developer.get("/static/airlock.css")
    assert style.status_code == 200
    assert style.headers.get("cache-control") != "no-store", "the style sheet may be cached"


# What a refusal must not tell -----------------------------------------------------------------------------------


def test_a_suite_path_is_looked_at_only_once_the_caller_may_run_the_reviews_evaluation(
    portal: Portal, tmp_path: Path
) -> None:
    world, airlock = portal.world, portal.airlock
    review = accepted_review(airlock, world, base_url="http://127.0.0.1:9/v1")
    existing = tmp_path / "exists.yaml"
    existing.write_text("not: [a suite")
    outsider = bearer(airlock.tokens.issue(world.globex_admin, name="probe").token)
    auditor = bearer(airlock.tokens.issue(world.auditor, name="probe").token)
    for who in (outsider, auditor):  # another organisation's developer; an auditor, who sees the review
        answers = [
            portal.app_client.post(f"/api/v1/reviews/{review}/evaluations", json={"suite": str(path)}, headers=who)
            for path in (existing, tmp_path / "missing.yaml")
        ]
        assert answers[0].status_code == answers[1].status_code in (403, 404), answers[0].text
        assert answers[0].json() == answers[1].json(), "the same answer, whether the file exists or not"
        assert "exists.yaml" not in answers[0].text
    assigned = bearer(airlock.tokens.issue(world.reviewer, name="run").token)
    answer = portal.app_client.post(
        f"/api/v1/reviews/{review}/evaluations", json={"suite": str(existing)}, headers=assigned
    )
    assert "is not valid YAML" in answer.json()["title"], "the reviewer who may run it is told what is wrong"


def test_answering_another_organisations_finding_does_not_name_its_review(portal: Portal) -> None:
    world, airlock = portal.world, portal.airlock
    review = review_sent_to_developer(airlock, world)
    finding = airlock.findings.for_review(world.reviewer, review)[0].id
    outsider = bearer(airlock.tokens.issue(world.globex_admin, name="probe").token)
    theirs = portal.app_client.post(f"/api/v1/findings/{finding}/response", json={"text": "x"}, headers=outsider)
    missing = portal.app_client.post("/api/v1/findings/F-00000000/response", json={"text": "x"}, headers=outsider)
    assert review not in theirs.text
    assert problem_of(theirs, 404, "not_found")["title"] == f"There is no finding {finding}."
    assert problem_of(missing, 404, "not_found")["title"] == "There is no finding F-00000000."
    refusal = airlock.oversight.entries(world.auditor, newest=2)[0]
    assert review not in json.dumps(refusal.model_dump(mode="json")), "nor does the audit entry of the refusal"


# Temporary blobs a crash leaves --------------------------------------------------------------------------------


_CRASHING_WRITER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from airlock.vault.blobs import BlobStore

    def chunks():
        yield b"encrypted bytes" * 1000
        os._exit(9)  # the process dies half-way through the write

    BlobStore(Path(sys.argv[1])).write(chunks())
    """
)


def test_a_crashed_writes_temporary_blob_is_removed_at_open_but_never_one_being_written(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    crashed = subprocess.run([sys.executable, "-c", _CRASHING_WRITER, str(root)], check=False)
    assert crashed.returncode == 9
    [left] = list(root.glob(f"{INCOMING_PREFIX}*"))
    assert BlobStore(root).remove_abandoned_incoming() == [], "a fresh one may still be starting to be written"
    assert left.exists()

    old = time.time() - ABANDONED_AFTER - 60
    os.utime(left, (old, old))
    being_written = root / f"{INCOMING_PREFIX}alive"
    being_written.write_bytes(b"still coming")
    os.utime(being_written, (old, old))  # a writer stalled for an hour, but alive: it holds the lock
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'rb'); "
            "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)",
            str(being_written),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"locked"
        BlobStore(root)  # opening the store sweeps
        assert not left.exists(), "the crashed write's file is gone"
        assert being_written.exists(), "the live writer's file is kept"
    finally:
        holder.kill()
        holder.wait()
    stored, _ = BlobStore(root).write([b"a real blob"])
    assert BlobStore(root).path(stored).read_bytes() == b"a real blob"
    assert [path.name for path in root.glob(f"{INCOMING_PREFIX}*")] == [], "its lock released, it went too"
