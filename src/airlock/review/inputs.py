"""Parsing and checking of values that people type, with messages that say how to fix them.

Every function raises :class:`~airlock.errors.InvalidInputError` on bad input, so the caller changes
nothing and the front end shows one clear sentence.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import TypeVar

from airlock.errors import InvalidInputError

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_SLUG_CHARACTERS = re.compile(r"[^a-z0-9]+")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9._:@+-]+)+$")
# Crockford's base32 alphabet: no I, L, O or U, so identifiers read aloud or retyped stay unambiguous.
_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

E = TypeVar("E", bound=StrEnum)


def parse_choice(enum_type: type[E], text: str, what: str) -> E:
    """The member of ``enum_type`` named ``text`` (case and ``-``/``_`` insensitive)."""
    try:
        return enum_type(text.strip().lower().replace("-", "_"))
    except ValueError:
        names = ", ".join(member.value for member in enum_type)
        raise InvalidInputError(f"Unknown {what} {text!r}; choose one of: {names}.") from None


def parse_date(text: str, what: str) -> date:
    """A calendar date written as YYYY-MM-DD."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(
            f"The {what} {text!r} is not a date; write it as YYYY-MM-DD, for example 2027-01-31."
        ) from None


def check_moment(moment: datetime, what: str, field: str) -> datetime:
    """A moment in UTC; one without a time zone is refused rather than guessed at."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInputError(f"{what} has no time zone.", "Add one, e.g. Z for UTC.", field=field)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidInputError(
            f"{what} is out of range.", "Give a moment between the years 1 and 9999.", field=field
        ) from None


def normalise_email(text: str) -> str:
    email = text.strip().lower()
    if not _EMAIL.match(email) or len(email) > 254:
        raise InvalidInputError(f"{text!r} is not an email address; give one like name@example.org.")
    return email


def require_text(text: str | None, what: str, *, max_length: int = 200) -> str:
    value = (text or "").strip()
    if not value:
        raise InvalidInputError(f"The {what} is empty; give one.")
    if len(value) > max_length:
        raise InvalidInputError(f"The {what} is {len(value)} characters long; keep it to {max_length}.")
    return value


def slugify(name: str) -> str:
    """A short lowercase identifier derived from a name: ``"Acme AI, Inc."`` gives ``acme-ai-inc``."""
    slug = _SLUG_CHARACTERS.sub("-", name.lower()).strip("-")[:64].strip("-")
    if not slug:
        raise InvalidInputError(
            f"Cannot derive an identifier from {name!r}; give one (letters, digits, hyphens).", field="slug"
        )
    return slug


def check_slug(text: str) -> str:
    slug = text.strip().lower()
    if slug != slugify(slug):
        raise InvalidInputError(
            f"{text!r} is not a valid organisation identifier; use lowercase letters, digits and hyphens."
        )
    return slug


def check_model_name(text: str) -> str:
    """An Inspect model name: ``provider/model`` (``openai/gpt-4o``, ``openai-api/acme/frontier-1``)."""
    name = text.strip()
    if not _MODEL_NAME.match(name) or len(name) > 300:
        raise InvalidInputError(
            f"{text!r} is not a model name; use Inspect's provider/model form, "
            "for example openai-api/acme/frontier-1 or airlock/smollm2-135m."
        )
    return name


def parse_artefact_hash(text: str) -> dict[str, str]:
    """``NAME=SHA256`` (64 hexadecimal digits) as ``{"name": ..., "sha256": ...}``."""
    name, separator, digest = text.partition("=")
    digest = digest.strip().lower().removeprefix("sha256:")
    if not separator or not name.strip() or not _SHA256.match(digest):
        raise InvalidInputError(
            f"The artefact {text!r} is not NAME=SHA256; give the file name, '=', and its 64-digit "
            "SHA-256 in hexadecimal.",
            field="artefacts",
        )
    return {"name": name.strip(), "sha256": digest}


def new_public_id(prefix: str) -> str:
    """A random, unguessable identifier such as ``R-7Q2M4KXA`` (40 bits of randomness)."""
    return prefix + "-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


_PUBLIC_ID = re.compile(r"^[A-Z]-[0-9A-Z]{8}$")


def normalise_public_id(text: str) -> str:
    """An identifier such as ``r-7q2m4kxa`` as Airlock writes it (``R-7Q2M4KXA``); anything that cannot be
    one comes back shortened, so that messages and audit entries about it stay bounded."""
    candidate = text.strip().upper()
    return candidate if _PUBLIC_ID.match(candidate) else shorten(candidate)


def shorten(text: str, limit: int = 40) -> str:
    """``text`` cut to ``limit`` characters for a message, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
