"""API tokens: how a program (or a person's script) acts as a user through the REST API.

A token is ``alk_<id>_<secret>``: the id names the record, the secret (256 random bits) proves it. The
secret is shown once, when the token is issued; the database keeps only its SHA-256, which is enough for a
secret of that strength (no password-style stretching needed) and compared in constant time. Tokens expire
(30 days by default, at most a year) and can be revoked by their user or an operator. Issuing and revoking
are audited; authenticating a request is not (the request's own operation is). A new password, chosen or
reset, ends every token of its user (:func:`end_tokens_of`): whoever learnt the old one, or acted with it,
keeps nothing that outlives it. A token is issued only while the session or token the request came with is
still open and the user's password still the one it was checked at (:func:`airlock.review.credentials.require_live`,
in the issuing transaction): a request racing a sign-out or a reset mints nothing that outlives them.

A token is a bearer secret: it is accepted only in the ``Authorization`` header, never in a URL, which ends up
in logs, proxies and browser histories (:func:`holds_a_token` finds one there, so it can be refused).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.access import Action, Credential, Principal, is_permitted
from airlock.errors import AuthenticationError, InvalidInputError, NotFoundError
from airlock.review.context import ServiceContext
from airlock.review.credentials import require_live
from airlock.review.directory import principal_of
from airlock.review.inputs import check_characters
from airlock.review.models import ApiToken

PREFIX = "alk"
DEFAULT_DAYS = 30
MAX_DAYS = 365
# What a token looks like (``alk_T-1A2B3C4D_`` and its secret), wherever it is pasted: case-insensitive, since
# a URL may have been lower- or upper-cased on the way.
_TOKEN_IN_TEXT = re.compile(PREFIX + r"_T-[0-9A-F]{8}_[0-9A-F]{8}", re.IGNORECASE)


class TokenView(BaseModel):
    id: str
    name: str
    user: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class IssuedToken:
    view: TokenView
    token: str
    """The whole token, secret included: shown this once, never again."""


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def holds_a_token(text: str) -> bool:
    """Whether ``text`` (a URL's path or query, decoded) holds something shaped like an API token."""
    return _TOKEN_IN_TEXT.search(text) is not None


def end_tokens_of(session: Session, user_id: int, now: datetime) -> int:
    """Revoke every live token of the user, inside the caller's transaction; returns how many were live."""
    live = session.scalars(
        select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None), ApiToken.expires_at > now)
    ).all()
    for token in live:
        token.revoked_at = now
    return len(live)


def _view(token: ApiToken) -> TokenView:
    return TokenView(
        id=token.public_id,
        name=token.name,
        user=token.user.email,
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
    )


class ApiTokens:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    def issue(self, actor: Principal, *, name: str, days: int = DEFAULT_DAYS) -> IssuedToken:
        """A new token for ``actor`` itself, valid ``days`` days."""
        clean = " ".join(check_characters(name, "A token's name", field="name").split())
        if not clean or len(clean) > 100:
            raise InvalidInputError("A token's name must be 1 to 100 characters.", "Say what it is for.", field="name")
        if not 1 <= days <= MAX_DAYS:
            raise InvalidInputError(
                f"A token lives 1 to {MAX_DAYS} days, not {days}.", "Choose a number in that range.", field="days"
            )
        public_id = "T-" + secrets.token_hex(4).upper()
        # Hex, not base64: no '_' or '-' inside the secret, so the token splits one way and a double-click
        # selects all of it.
        secret = secrets.token_hex(32)
        with self._context.operation(actor, "token.issue", f"token:{public_id}") as session:
            now = self._context.clock.now()
            # The session or token the request came with may have ended since it was checked (signed out, a
            # new password): a token issued now would outlive it.
            require_live(session, actor, now)
            token = ApiToken(
                public_id=public_id,
                user_id=actor.user_id,
                name=clean,
                secret_hash=_hash(secret),
                created_at=now,
                expires_at=now + timedelta(days=days),
            )
            session.add(token)
            session.flush()
            self._context.audit.append(
                session,
                actor=actor.email,
                action="token.issue",
                target=f"token:{public_id}",
                details={"user": actor.email, "name": clean, "days": days},
            )
            return IssuedToken(_view(token), f"{PREFIX}_{public_id}_{secret}")

    def visible_to(self, actor: Principal) -> list[TokenView]:
        """``actor``'s own tokens, newest first (an operator sees everyone's)."""
        with self._context.database.transaction(read_only=True) as session:
            query = select(ApiToken).order_by(ApiToken.id.desc())
            if not is_permitted(actor, Action.MANAGE_ALL_TOKENS):
                query = query.where(ApiToken.user_id == actor.user_id)
            return [_view(token) for token in session.scalars(query)]

    def revoke(self, actor: Principal, token_id: str) -> TokenView:
        """Revoke a token of ``actor``'s own (an operator may revoke anyone's)."""
        public_id = token_id.strip().upper()
        with self._context.operation(actor, "token.revoke", f"token:{public_id}") as session:
            token = session.scalar(select(ApiToken).where(ApiToken.public_id == public_id))
            if token is None or (token.user_id != actor.user_id and not is_permitted(actor, Action.MANAGE_ALL_TOKENS)):
                raise NotFoundError(f"There is no token {public_id} of yours.", "List them with `airlock token list`.")
            if token.revoked_at is None:
                token.revoked_at = self._context.clock.now()
                self._context.audit.append(
                    session,
                    actor=actor.email,
                    action="token.revoke",
                    target=f"token:{public_id}",
                    details={"user": token.user.email},
                )
            return _view(token)

    def authenticate(self, presented: str) -> Principal:
        """The user a presented token stands for; :class:`AuthenticationError` for anything else."""
        prefix, _, rest = presented.strip().partition("_")
        public_id, _, secret = rest.partition("_")
        refused = AuthenticationError(
            "The API token is missing, unknown, expired or revoked.",
            "Send a valid token as 'Authorization: Bearer alk_...'; issue one with `airlock token issue`.",
        )
        if prefix != PREFIX or not public_id or not secret:
            raise refused
        with self._context.database.transaction(read_only=True) as session:
            token = session.scalar(select(ApiToken).where(ApiToken.public_id == public_id))
            if token is None or not hmac.compare_digest(token.secret_hash, _hash(secret)):
                raise refused
            if token.revoked_at is not None or token.expires_at <= self._context.clock.now():
                raise refused
            return principal_of(token.user, Credential("token", token.id, token.user.credentials_version))
