"""Identities that look like others are refused: email addresses are ASCII (an internationalised domain in its
punycode form), names, reasons and identifiers hold no invisible format character (Unicode category Cf), an
organisation may not be named as an existing one once both are normalised (NFKC, case folded, white space
collapsed), and a reason made only of invisible or space characters is no reason (issue 13, red team P4).
Also: sign-in over plain HTTP is decided on the client's address, not the Host header it sends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from airlock.app import Airlock
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.errors import ConflictError, InvalidInputError, PermissionDeniedError
from airlock.review import ReviewState
from airlock.review.inputs import unusable_character
from tests.support.cli import Cli
from tests.support.portal import portal_with_own_passwords
from tests.support.served import airlock_serve
from tests.support.world import AGENCY, World, build_world, database_snapshot, review_in_state
from tests.test_web import PASSWORD, Portal

ZERO_WIDTH_SPACE = "\u200b"
CYRILLIC_A = "\u0430"


LOOKALIKE_EMAILS = {
    f"admin{ZERO_WIDTH_SPACE}@acme.test": "U+200B at position 6",
    f"admin@acme.te{CYRILLIC_A}t": "U+0430 at position 14",
    "ad\u00efn@acme.test": "U+00EF at position 3",
}


def test_an_email_address_outside_ascii_is_refused_and_punycode_is_named(
    airlock: Airlock, world: World, settings: Settings, clock: ManualClock
) -> None:
    before = database_snapshot(airlock.database, with_audit=True)
    for email, named in LOOKALIKE_EMAILS.items():
        with pytest.raises(InvalidInputError, match="punycode") as refused:
            airlock.directory.add_user(world.operator, email=email, name="Ada", role="reviewer", organisation=AGENCY)
        assert named in refused.value.message
        cli = Cli(settings, clock)("user", "add", email, "--name", "Ada", "--role", "reviewer", "--org", AGENCY)
        assert cli.exit_code == 1
        assert "punycode" in cli.stderr
        assert named in cli.stderr
    assert database_snapshot(airlock.database, with_audit=True) == before


def test_an_internationalised_domain_in_punycode_is_accepted(airlock: Airlock, world: World) -> None:
    added = airlock.directory.add_user(
        world.operator, email="ana@xn--bcher-kva.example", name="Ana", role="reviewer", organisation=AGENCY
    )
    assert added.email == "ana@xn--bcher-kva.example"


FORMAT_CHARACTERS = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202e", "\u2066", "\U000e0041"]
"""Zero-width space, non-joiner and joiner, word joiner, byte order mark, soft hyphen, a bidi override and an
isolate, a tag character: all Unicode category Cf."""


def test_format_characters_are_refused_in_names_and_identifiers(airlock: Airlock, world: World) -> None:
    before = database_snapshot(airlock.database, with_audit=True)
    for character in FORMAT_CHARACTERS:
        with pytest.raises(InvalidInputError, match="invisible"):
            airlock.directory.add_user(
                world.operator, email="ada@lab.test", name=f"Ada{character}", role="reviewer", organisation=AGENCY
            )
        with pytest.raises(InvalidInputError, match="invisible"):
            airlock.directory.add_organisation(world.operator, name=f"Ini{character}tech", kind="developer")
        with pytest.raises(InvalidInputError, match="invisible"):
            airlock.tokens.issue(world.lead, name=f"night{character}ly")
    assert database_snapshot(airlock.database, with_audit=True) == before


def test_a_password_may_hold_any_character_but_nul_and_lone_surrogates() -> None:
    """Passwords are not shown to anyone: an emoji sequence joined by U+200D is a fine passphrase."""
    assert unusable_character("family \U0001f468\u200d\U0001f469\u200d\U0001f467 at the lake", in_a_name=False) is None
    assert unusable_character("Ada\u200d", in_a_name=True) == "U+200D at position 4"


def test_an_organisation_named_as_an_existing_one_is_refused(
    airlock: Airlock, world: World, settings: Settings, clock: ManualClock
) -> None:
    before = database_snapshot(airlock.database, with_audit=True)
    for name in ("Acme AI", "ACME ai", "  acme   AI ", "\uff21\uff43\uff4d\uff45 AI", "Acme\u00a0AI"):
        with pytest.raises(ConflictError, match="already named") as refused:
            airlock.directory.add_organisation(world.operator, name=name, kind="developer", slug="acme-ai-2")
        assert "acme-ai" in refused.value.message
        cli = Cli(settings, clock)("org", "add", name, "--slug", "acme-ai-2", "--kind", "developer")
        assert cli.exit_code == 1
        assert "already named" in cli.stderr
    assert database_snapshot(airlock.database, with_audit=True) == before


def test_an_organisation_whose_name_only_resembles_an_existing_one_is_added(airlock: Airlock, world: World) -> None:
    added = airlock.directory.add_organisation(world.operator, name="Acme AI Labs", kind="developer")
    assert added.slug == "acme-ai-labs"


def test_a_reason_of_only_invisible_or_space_characters_is_no_reason(airlock: Airlock, world: World) -> None:
    airlock.sessions.set_password(world.acme_admin, world.acme_admin.email, PASSWORD)
    review = review_in_state(airlock, world, ReviewState.SUBMITTED)
    before = database_snapshot(airlock.database)
    for reason in ("\u200b", " \u3164 ", "\u2800", "\u00a0\u3000", "\u200b\u034f"):
        with pytest.raises(PermissionDeniedError, match="needs a recorded reason"):
            airlock.sessions.set_password(
                world.operator, world.acme_admin.email, "a reset one-time password", break_glass=reason
            )
        with pytest.raises(PermissionDeniedError, match="with a recorded justification"):
            airlock.reviews.read_content(world.operator, review.id, "model_card", purpose="look", break_glass=reason)
        with pytest.raises(InvalidInputError, match="A reason is required"):
            airlock.reviews.decline(world.lead, review.id, reason=reason)
    assert database_snapshot(airlock.database) == before


def test_a_reason_holding_a_format_character_is_refused(airlock: Airlock, world: World) -> None:
    review = review_in_state(airlock, world, ReviewState.SUBMITTED)
    with pytest.raises(InvalidInputError, match="invisible"):
        airlock.reviews.decline(world.lead, review.id, reason="out of scope\u202e")
    with pytest.raises(InvalidInputError, match="invisible"):
        airlock.sessions.set_password(
            world.operator, world.lead.email, "a reset one-time password", break_glass="ok\u200b"
        )


# Sign-in over plain HTTP: the client's address, not its Host header ----------------------------------------------


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[Portal]:
    with portal_with_own_passwords(tmp_path) as opened:
        yield opened


def test_sign_in_over_plain_http_from_another_address_is_refused_whatever_host_it_names(portal: Portal) -> None:
    sign_in = {"email": portal.world.lead.email, "password": PASSWORD}
    remote = TestClient(portal.app_client.app, base_url="http://127.0.0.1", client=("203.0.113.9", 40000))
    refused = remote.post("/sign-in", data=sign_in, follow_redirects=False)
    assert refused.status_code == 422
    assert "served over plain HTTP" in refused.text
    assert "set-cookie" not in refused.headers
    local = TestClient(portal.app_client.app, base_url="http://127.0.0.1", client=("127.0.0.1", 40000))
    assert local.post("/sign-in", data=sign_in, follow_redirects=False).status_code == 303


def test_a_served_portal_refuses_a_plain_http_sign_in_forwarded_for_another_address(
    tmp_path: Path, clock: ManualClock
) -> None:
    """Behind a named proxy that forwards plain HTTP, the client is the address the proxy names, however
    loopback the Host header looks."""
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path}/airlock.db")
    airlock = Airlock.open(settings, clock, must_be_initialised=False)
    airlock.initialise()
    world = build_world(airlock)
    airlock.sessions.set_password(world.lead, world.lead.email, PASSWORD)
    sign_in = {"email": world.lead.email, "password": PASSWORD}
    try:
        with airlock_serve(settings, tmp_path / "proxied.log", {"AIRLOCK_TRUSTED_PROXIES": "127.0.0.1"}) as served:
            forwarded = {"X-Forwarded-For": "203.0.113.9", "Host": "127.0.0.1"}
            refused = httpx.post(f"{served.url}/sign-in", data=sign_in, headers=forwarded)
            assert refused.status_code == 422
            assert "set-cookie" not in refused.headers
            own = httpx.post(f"{served.url}/sign-in", data=sign_in, headers={"Host": "127.0.0.1"})
            assert own.status_code == 303, "the proxy's own machine, on loopback"
    finally:
        airlock.close()
