"""Credentials and what they grant are one step: a session, an API token or a new password is made in a
transaction that checks again that the credentials it was granted on still hold (the user's credentials
version, which every new password bumps, and the session or token the request came with). A sign-in racing a
reset keeps nothing, and neither does a token issued from a session being ended (issue 13, red team P3).
On SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

import airlock.review.sessions as sessions_module
from airlock.app import Airlock
from airlock.errors import AuthenticationError, ThrottledError
from airlock.review.models import ApiToken, WebSession
from tests.support.world import World

PASSWORD = "the password the user has now"
RESET = "a reset one-time password"
REASON = "user reported a stolen laptop, ticket SEC-6"


@pytest.fixture
def onboarded(airlock: Airlock, world: World) -> World:
    """The world, with Acme's member holding a password of their own."""
    airlock.sessions.set_password(world.acme_member, world.acme_member.email, PASSWORD)
    return world


@pytest.fixture
def reset_while_checking(airlock: Airlock, onboarded: World, monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Makes an operator reset the member's password right after the member's password was checked and found
    right, before what the check grants is made: the window the red team hit with parallel requests, made
    certain. Returns how many resets it has made so far."""
    real = sessions_module.password_matches
    done: list[int] = []

    def check_then_reset(stored: str, password: str) -> bool:
        matches = real(stored, password)
        if matches and password == PASSWORD and not done:
            done.append(1)
            airlock.sessions.set_password(onboarded.operator, onboarded.acme_member.email, RESET, break_glass=REASON)
        return matches

    monkeypatch.setattr(sessions_module, "password_matches", check_then_reset)
    return lambda: len(done)


def open_sessions(airlock: Airlock, user_id: int) -> int:
    with airlock.database.transaction(read_only=True) as session:
        count = session.scalar(
            select(func.count())
            .select_from(WebSession)
            .where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
        )
        return int(count or 0)


def live_tokens(airlock: Airlock, user_id: int) -> int:
    with airlock.database.transaction(read_only=True) as session:
        count = session.scalar(
            select(func.count()).select_from(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        )
        return int(count or 0)


def test_a_sign_in_whose_password_is_reset_after_it_was_checked_gets_no_session(
    airlock: Airlock, onboarded: World, reset_while_checking: Callable[[], int]
) -> None:
    member = onboarded.acme_member
    with pytest.raises(AuthenticationError, match="changed while you were signing in"):
        airlock.sessions.sign_in(member.email, PASSWORD, client="127.0.0.1")
    assert reset_while_checking() == 1
    assert open_sessions(airlock, member.user_id) == 0
    last = airlock.oversight.entries(onboarded.auditor, newest=1)[0]
    assert (last.action, last.actor, last.target) == ("session.sign_in_failed", "airlock", f"user:{member.email}")
    assert last.details["password_changed_meanwhile"] is True


def test_a_password_change_racing_a_reset_does_not_undo_the_reset(
    airlock: Airlock, onboarded: World, reset_while_checking: Callable[[], int]
) -> None:
    """Whoever held the old password must not replace the reset one with a password of their choosing."""
    member = onboarded.acme_member
    with pytest.raises(AuthenticationError, match="changed while"):
        airlock.sessions.change_password(member, PASSWORD, "the intruder's new password", client="127.0.0.1")
    assert reset_while_checking() == 1
    with pytest.raises(AuthenticationError):
        airlock.sessions.sign_in(member.email, "the intruder's new password", client="127.0.0.1")
    assert airlock.sessions.last_reset(member) is not None, "the reset stands"


def test_an_api_token_is_not_issued_from_a_session_that_was_ended_after_the_request_was_authenticated(
    airlock: Airlock, onboarded: World
) -> None:
    member = onboarded.acme_member
    signed_in = airlock.sessions.sign_in(member.email, PASSWORD, client="127.0.0.1")
    caller = airlock.sessions.authenticate(signed_in.cookie).principal  # the request passed authentication ...
    airlock.sessions.sign_out(signed_in.cookie)  # ... and the session ended before the token was made
    with pytest.raises(AuthenticationError, match="session has ended"):
        airlock.tokens.issue(caller, name="survivor", days=365)
    assert live_tokens(airlock, member.user_id) == 0


def test_an_api_token_is_not_issued_from_a_session_whose_password_was_reset_meanwhile(
    airlock: Airlock, onboarded: World
) -> None:
    member = onboarded.acme_member
    signed_in = airlock.sessions.sign_in(member.email, PASSWORD, client="127.0.0.1")
    caller = airlock.sessions.authenticate(signed_in.cookie).principal
    airlock.sessions.set_password(onboarded.operator, member.email, RESET, break_glass=REASON)
    with pytest.raises(AuthenticationError):
        airlock.tokens.issue(caller, name="survivor", days=365)
    assert live_tokens(airlock, member.user_id) == 0


def test_an_api_token_is_not_issued_from_a_token_revoked_meanwhile(airlock: Airlock, onboarded: World) -> None:
    member = onboarded.acme_member
    parent = airlock.tokens.issue(member, name="parent")
    caller = airlock.tokens.authenticate(parent.token)
    airlock.tokens.revoke(onboarded.operator, parent.view.id)
    with pytest.raises(AuthenticationError, match="API token"):
        airlock.tokens.issue(caller, name="child")
    assert live_tokens(airlock, member.user_id) == 0


def test_the_command_line_issues_tokens_as_before(airlock: Airlock, onboarded: World) -> None:
    """The command line acts as ``--as`` without authenticating (its trust boundary): no credential to re-check."""
    issued = airlock.tokens.issue(airlock.directory.principal(onboarded.acme_member.email), name="cli")
    assert airlock.tokens.authenticate(issued.token).email == onboarded.acme_member.email


def test_parallel_sign_ins_racing_a_reset_keep_no_session(airlock: Airlock, onboarded: World) -> None:
    """The red team's reproduction, in-process: three clients sign in with the old password in a loop while an
    operator resets it; afterwards no session made with the old password is open."""
    member = onboarded.acme_member
    stop = threading.Event()
    made: list[str] = []

    def hammer(client: str) -> None:
        while not stop.is_set():
            with contextlib.suppress(AuthenticationError, ThrottledError):
                made.append(airlock.sessions.sign_in(member.email, PASSWORD, client=client).cookie)

    threads = [threading.Thread(target=hammer, args=(f"192.0.2.{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    airlock.sessions.set_password(onboarded.operator, member.email, RESET, break_glass=REASON)
    time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join()
    assert made, "some sign-ins went through before the reset"
    still_valid = 0
    for cookie in made:
        try:
            airlock.sessions.authenticate(cookie)
            still_valid += 1
        except AuthenticationError:
            pass
    assert still_valid == 0
    assert open_sessions(airlock, member.user_id) == 0
