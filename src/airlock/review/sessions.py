"""Browser sessions for the web portal: passwords, sign-in with throttling, sessions, CSRF tokens and form
receipts.

Decisions:

* **Passwords** are hashed with scrypt (``hashlib.scrypt``, N=2^14, r=8, p=1: about 50 ms and 16 MiB per
  check) with a per-user salt. A user sets their own password (``airlock user password``); an operator may
  set anyone's, to hand out a first one. At least 12 characters; nothing else is imposed (NIST SP 800-63B).
* **Sign-in is throttled** per account and per client address: after 5 failures for an account (or 20 from
  one address) within 15 minutes, further attempts are refused, without checking the password, until the
  oldest failure is 15 minutes old. Every attempt is kept (``sign_in_attempts``) and every sign-in, success or
  failure, is in the audit log.
* **Sessions** last 12 hours. The cookie holds 256 random bits; the database keeps only their SHA-256, as for
  API tokens. Each session has its own CSRF token, which every form and every htmx request sends back.
* **Form receipts**: a form carries a one-time token; the first submission claims it and records what it
  made, so a second submission of the same form (a double click, a reload) finds that instead of making a
  second submission.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from airlock.access import Principal, Role
from airlock.errors import AuthenticationError, ConflictError, InvalidInputError, NotFoundError, ThrottledError
from airlock.review.context import ServiceContext
from airlock.review.directory import principal_of
from airlock.review.models import FormReceipt, SignInAttempt, User, WebSession

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
SESSION_LIFETIME = timedelta(hours=12)
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_CLIENT = 20

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
# Checked against when the account does not exist, so that an unknown email costs the same time as a wrong
# password and the response time does not tell who has an account.
_DUMMY_HASH = f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${'00' * 16}${'00' * 64}"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=64)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def password_matches(stored: str, password: str) -> bool:
    scheme, n, r, p, salt, expected = stored.split("$")
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(
        password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected) // 2
    )
    return hmac.compare_digest(digest.hex(), expected)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    """A new session: the cookie's value is shown this once."""

    principal: Principal
    cookie: str
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class SessionUser:
    """The user a session cookie stands for, with the session's CSRF token."""

    principal: Principal
    csrf_token: str
    name: str


@dataclass(frozen=True)
class FormClaim:
    """What claiming a form's token found: ``None`` as ``earlier_result`` means go ahead and make it."""

    earlier_result: str | None


class WebSessions:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    # Passwords -------------------------------------------------------------------------------------

    def set_password(self, actor: Principal, email: str, password: str) -> None:
        """Set ``email``'s password: one's own, or anyone's for an operator."""
        address = email.strip().lower()
        if address != actor.email and actor.role is not Role.OPERATOR:
            raise NotFoundError(
                f"You can set only your own password, not {address}'s.", "An operator can set a first password."
            )
        if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
            raise InvalidInputError(
                f"A password needs {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters; this one has "
                f"{len(password)}.",
                "A few unrelated words make a long password that is easy to remember.",
                field="password",
            )
        if password.strip().lower() == address:
            raise InvalidInputError(
                "A password must not be the account's email address.", "Choose another one.", field="password"
            )
        hashed = hash_password(password)
        with self._context.operation(actor, "user.password.set", f"user:{address}") as session:
            user = session.scalar(select(User).where(User.email == address))
            if user is None:
                raise NotFoundError(f"There is no user {address}.", "List them with `airlock user list`.")
            user.password_hash = hashed
            # A new password ends every session signed in with the old one.
            for open_session in session.scalars(
                select(WebSession).where(WebSession.user_id == user.id, WebSession.ended_at.is_(None))
            ):
                open_session.ended_at = self._context.clock.now()

    def change_password(self, actor: Principal, current: str, new: str, *, client: str) -> None:
        """Change one's own password on the web, proving the current one first: a session left open on a
        shared screen must not be enough to take the account over. A wrong current password counts as a
        failed sign-in (and is throttled like one); the change ends every session, this one included."""
        where = client[:64] or "unknown"
        now = self._context.clock.now()
        self._refuse_if_throttled(actor.email, where, now)
        with self._context.database.transaction(read_only=True) as session:
            stored = session.scalar(select(User.password_hash).where(User.id == actor.user_id))
        if stored is None or not password_matches(stored, current):
            self._record_failure(actor.email, actor.email, where, now, "user.password.change")
            raise InvalidInputError(
                "The current password is wrong.", "Type the one you signed in with.", field="current_password"
            )
        self.set_password(actor, actor.email, new)

    # Sign-in ---------------------------------------------------------------------------------------

    def sign_in(self, email: str, password: str, *, client: str) -> SignedIn:
        """A new session for the account, if the password is right and sign-in is not throttled."""
        address = email.strip().lower()[:254]
        where = client[:64] or "unknown"
        now = self._context.clock.now()
        self._refuse_if_throttled(address, where, now)
        with self._context.database.transaction(read_only=True) as session:
            user = session.scalar(select(User).where(User.email == address))
            stored = user.password_hash if user is not None else None
        matches = password_matches(stored or _DUMMY_HASH, password) and stored is not None
        if user is None or not matches:
            self._record_failure("airlock", address, where, now, "session.sign_in")
            raise AuthenticationError(
                "The email address or the password is wrong.",
                "Check both and try again; after 5 failures, sign-in is paused for 15 minutes.",
            )
        cookie, csrf_token = secrets.token_hex(32), secrets.token_hex(32)
        principal = principal_of(user)
        with self._context.operation(principal, "session.sign_in", f"user:{address}") as session:
            session.add(SignInAttempt(email=address, client=where, at=now, succeeded=True))
            session.add(
                WebSession(
                    secret_hash=_hash(cookie),
                    csrf_token=csrf_token,
                    user_id=user.id,
                    created_at=now,
                    expires_at=now + SESSION_LIFETIME,
                )
            )
            self._context.audit.append(
                session,
                actor=principal.email,
                action="session.sign_in",
                target=f"user:{address}",
                details={"client": where},
            )
        return SignedIn(principal, cookie, csrf_token, now + SESSION_LIFETIME)

    def _record_failure(self, actor: str, email: str, client: str, now: datetime, action: str) -> None:
        """A wrong password for ``email``: counted towards throttling and kept in the audit log (``action``
        with ``_failed``), whether it was a sign-in or a password change."""
        with self._context.operation(actor, action, f"user:{email}") as session:
            session.add(SignInAttempt(email=email, client=client, at=now, succeeded=False))
            self._context.audit.append(
                session, actor=actor, action=f"{action}_failed", target=f"user:{email}", details={"client": client}
            )

    def _refuse_if_throttled(self, email: str, client: str, now: datetime) -> None:
        since = now - THROTTLE_WINDOW
        with self._context.database.transaction(read_only=True) as session:
            for column, value, limit in (
                (SignInAttempt.email, email, MAX_FAILURES_PER_ACCOUNT),
                (SignInAttempt.client, client, MAX_FAILURES_PER_CLIENT),
            ):
                failures = session.execute(
                    select(func.count(), func.min(SignInAttempt.at)).where(
                        column == value, SignInAttempt.at > since, SignInAttempt.succeeded.is_(False)
                    )
                ).one()
                if failures[0] >= limit:
                    oldest: datetime = failures[1]
                    raise ThrottledError(
                        f"Sign-in is paused after {failures[0]} failed attempts in {THROTTLE_WINDOW.seconds // 60} "
                        f"minutes; try again after {oldest + THROTTLE_WINDOW:%H:%M} UTC.",
                        "If you forgot your password, ask your deployment's operator to set a new one.",
                    )

    def authenticate(self, cookie: str) -> SessionUser:
        """The user of an open session; :class:`AuthenticationError` for anything else."""
        refused = AuthenticationError("You are not signed in, or your session has ended.", "Sign in again.")
        if not cookie:
            raise refused
        with self._context.database.transaction(read_only=True) as session:
            found = session.scalar(select(WebSession).where(WebSession.secret_hash == _hash(cookie)))
            if found is None or found.ended_at is not None or found.expires_at <= self._context.clock.now():
                raise refused
            return SessionUser(principal_of(found.user), found.csrf_token, found.user.name)

    def sign_out(self, cookie: str) -> None:
        with self._context.database.transaction() as session:
            found = session.scalar(select(WebSession).where(WebSession.secret_hash == _hash(cookie)))
            if found is not None and found.ended_at is None:
                found.ended_at = self._context.clock.now()

    # Form receipts ---------------------------------------------------------------------------------

    @staticmethod
    def new_form_token() -> str:
        return secrets.token_hex(16)

    def claim_form(self, actor: Principal, token: str) -> FormClaim:
        """Claim a form's one-time token before acting on the form (see the module's docstring)."""
        if not 16 <= len(token) <= 64:
            raise InvalidInputError("The form is incomplete.", "Reload the page and fill it in again.")
        found: tuple[int, str | None] | None
        try:
            with self._context.database.transaction() as session:
                receipt = session.scalar(select(FormReceipt).where(FormReceipt.token == token))
                if receipt is None:
                    now = self._context.clock.now()
                    session.add(FormReceipt(token=token, user_id=actor.user_id, created_at=now, result=None))
                    return FormClaim(earlier_result=None)
                found = (receipt.user_id, receipt.result)
        except ConflictError:  # the same form, submitted twice at the same moment: the other one claimed it
            with self._context.database.transaction(read_only=True) as session:
                receipt = session.scalar(select(FormReceipt).where(FormReceipt.token == token))
                found = None if receipt is None else (receipt.user_id, receipt.result)
        if found is None or found[0] != actor.user_id:
            raise InvalidInputError("The form is incomplete.", "Reload the page and fill it in again.")
        if found[1] is None:
            raise ConflictError("This form is already being submitted.", "Wait a moment and reload the page.")
        return FormClaim(earlier_result=found[1])

    def complete_form(self, token: str, result: str) -> None:
        with self._context.database.transaction() as session:
            receipt = session.scalar(select(FormReceipt).where(FormReceipt.token == token))
            if receipt is not None:
                receipt.result = result

    def release_form(self, token: str) -> None:
        """Give a claimed token back (the submission was refused), so the corrected form can be sent again."""
        with self._context.database.transaction() as session:
            receipt = session.scalar(select(FormReceipt).where(FormReceipt.token == token))
            if receipt is not None and receipt.result is None:
                session.delete(receipt)
