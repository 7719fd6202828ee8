"""What a credential grants is made in one step with checking that the credential still holds.

Checking a password takes scrypt's 50 ms, outside any transaction (a transaction must not wait on it); a
sign-in's session is made afterwards, in a transaction of its own. An operator's reset that commits in
between must not leave that session standing (the red team kept 3 sessions of 32 so). The same holds for an
API token issued from a session that is being ended, and for a password change checked against the old
password. So:

* every user has a **credentials version**, which every new password bumps (:func:`replace_credentials`,
  first thing in the transaction that stores it, ends sessions and tokens);
* the transaction that makes what a credential grants locks the user's row and requires the version that was
  checked (:func:`require_version`), and for a request's session or token, that it is still open
  (:func:`require_live`).

The lock orders the two: on PostgreSQL a reset that locked the row first makes the sign-in wait and then see
the new version; a sign-in that locked it first has made its session before the reset looks for sessions to
end. SQLite runs one writing transaction at a time anyway.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from airlock.access import Principal
from airlock.errors import AuthenticationError
from airlock.review.models import ApiToken, User, WebSession


def replace_credentials(session: Session, user: User) -> None:
    """Mark ``user``'s credentials as replaced (a new password is being stored in this transaction): bump the
    version, which also locks the row until the transaction ends, before its sessions and tokens are ended."""
    session.execute(update(User).where(User.id == user.id).values(credentials_version=User.credentials_version + 1))


class CredentialsChangedError(AuthenticationError):
    """The user's password changed between checking a credential and acting on it."""

    def __init__(self, doing: str) -> None:
        super().__init__(
            f"The password changed while you were {doing}, so nothing was done.",
            "Sign in again with the current password.",
        )


def require_version(session: Session, user_id: int, checked: int, *, doing: str) -> None:
    """Lock the user's row and refuse (:class:`CredentialsChangedError`) unless their credentials are still at
    the version ``checked`` at."""
    current = session.scalar(select(User.credentials_version).where(User.id == user_id).with_for_update())
    if current != checked:
        raise CredentialsChangedError(doing)


def require_live(session: Session, principal: Principal, now: datetime) -> None:
    """Refuse unless the session or API token ``principal`` came with is still open and their credentials are
    still at the version it was checked at. A principal without one (the command line's) passes."""
    credential = principal.credential
    if credential is None:
        return
    require_version(session, principal.user_id, credential.version, doing="using this session or token")
    if credential.kind == "session":
        still_open = session.scalar(
            select(WebSession.id)
            .where(WebSession.id == credential.id, WebSession.ended_at.is_(None), WebSession.expires_at > now)
            .with_for_update()
        )
        if still_open is None:
            raise AuthenticationError("You are not signed in, or your session has ended.", "Sign in again.")
    else:
        live = session.scalar(
            select(ApiToken.id)
            .where(ApiToken.id == credential.id, ApiToken.revoked_at.is_(None), ApiToken.expires_at > now)
            .with_for_update()
        )
        if live is None:
            raise AuthenticationError(
                "The API token this request came with has been revoked or has expired.",
                "Send a valid token as 'Authorization: Bearer alk_...'.",
            )
