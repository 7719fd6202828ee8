"""API tokens: how a program (or a person's script) acts as a user through the REST API.

A token is ``alk_<id>_<secret>``: the id names the record, the secret (256 random bits) proves it. The
secret is shown once, when the token is issued; the database keeps only its SHA-256, which is enough for a
secret of that strength (no password-style stretching needed) and compared in constant time. Tokens expire
(30 days by default, at most a year) and can be revoked by their user or an operator. Issuing and revoking
are audited; authenticating a request is not (the request's own operation is).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import select

from airlock.access import Principal, Role
from airlock.errors import AuthenticationError, InvalidInputError, NotFoundError
from airlock.review.context import ServiceContext
from airlock.review.directory import principal_of
from airlock.review.models import ApiToken

PREFIX = "alk"
DEFAULT_DAYS = 30
MAX_DAYS = 365


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
        clean = " ".join(name.split())
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
            return IssuedToken(_view(token), f"{PREFIX}_{public_id}_{secret}")

    def visible_to(self, actor: Principal) -> list[TokenView]:
        """``actor``'s own tokens, newest first (an operator sees everyone's)."""
        with self._context.database.transaction(read_only=True) as session:
            query = select(ApiToken).order_by(ApiToken.id.desc())
            if actor.role is not Role.OPERATOR:
                query = query.where(ApiToken.user_id == actor.user_id)
            return [_view(token) for token in session.scalars(query)]

    def revoke(self, actor: Principal, token_id: str) -> TokenView:
        """Revoke a token of ``actor``'s own (an operator may revoke anyone's)."""
        public_id = token_id.strip().upper()
        with self._context.operation(actor, "token.revoke", f"token:{public_id}") as session:
            token = session.scalar(select(ApiToken).where(ApiToken.public_id == public_id))
            if token is None or (token.user_id != actor.user_id and actor.role is not Role.OPERATOR):
                raise NotFoundError(f"There is no token {public_id} of yours.", "List them with `airlock token list`.")
            if token.revoked_at is None:
                token.revoked_at = self._context.clock.now()
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
            return principal_of(token.user)
