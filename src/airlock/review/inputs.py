"""Parsing and checking of values that people type, with messages that say how to fix them.

Every function raises :class:`~airlock.errors.InvalidInputError` on bad input, so the caller changes
nothing and the front end shows one clear sentence.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import TypeVar

from airlock.errors import InvalidInputError

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_SLUG_CHARACTERS = re.compile(r"[^a-z0-9]+")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9._:@+-]+)+$")
# The local provider names a GGUF file by its absolute path after "airlock/" (docs/evaluations.md).
_LOCAL_MODEL_FILE = re.compile(r"^airlock//[A-Za-z0-9._+-][A-Za-z0-9._/+-]*\.gguf$")
# Crockford's base32 alphabet: no I, L, O or U, so identifiers read aloud or retyped stay unambiguous.
_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Letters and symbols that draw nothing (Hangul fillers, the blank Braille pattern): with spaces and format
# characters, what a reason "made only of invisible characters" is made of.
_BLANK_GRAPHICS = frozenset("\u115f\u1160\u3164\uffa0\u2800")

E = TypeVar("E", bound=StrEnum)


def parse_choice(enum_type: type[E], text: str, what: str) -> E:
    """The member of ``enum_type`` named ``text`` (case and ``-``/``_`` insensitive)."""
    try:
        return enum_type(text.strip().lower().replace("-", "_"))
    except ValueError as error:
        names = ", ".join(member.value for member in enum_type)
        raise InvalidInputError(f"Unknown {what} {text!r}; choose one of: {names}.") from error


def parse_date(text: str, what: str) -> date:
    """A calendar date written as YYYY-MM-DD."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError as error:
        raise InvalidInputError(
            f"The {what} {text!r} is not a date; write it as YYYY-MM-DD, for example 2027-01-31."
        ) from error


def check_moment(moment: datetime, what: str, field: str) -> datetime:
    """A moment in UTC; one without a time zone is refused rather than guessed at."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInputError(f"{what} has no time zone.", "Add one, e.g. Z for UTC.", field=field)
    try:
        return moment.astimezone(UTC)
    except OverflowError as error:
        raise InvalidInputError(
            f"{what} is out of range.", "Give a moment between the years 1 and 9999.", field=field
        ) from error


def unusable_character(text: str, *, in_a_name: bool) -> str | None:
    """The first character of ``text`` that Airlock refuses, described for a message; None if there is none.

    Nowhere: NUL (PostgreSQL cannot store it) and lone surrogates (halves of a UTF-16 pair, such as the
    JSON escape ``"\\ud800"``: they cannot be written as UTF-8, so nothing could store or show them). In
    names, reasons and identifiers (``in_a_name``) also every other control character (line breaks and tabs
    included), line and paragraph separators, and every format character (Unicode category Cf): zero-width
    spaces and joiners, the soft hyphen, the byte order mark, tag characters and the bidirectional controls.
    They draw nothing or change how the text around them is drawn, so ``admin\\u200b@acme.example`` would
    look like ``admin@acme.example`` and ``admin\\u202egro.live`` like ``adminevil.org``; nobody needs one
    there. (A password may hold them: nobody is shown it, and an emoji sequence is joined by U+200D.)
    """
    for position, character in enumerate(text, start=1):
        category = unicodedata.category(character)
        refused = character == "\x00" or category == "Cs"
        if in_a_name:
            refused = refused or category in ("Cc", "Cf", "Zl", "Zp")
        if refused:
            return f"U+{ord(character):04X} at position {position}"
    return None


def check_characters(text: str, what: str, *, field: str | None = None, in_a_name: bool = True) -> str:
    """``text`` unchanged, or :class:`InvalidInputError` if it holds a character :func:`unusable_character`
    refuses; ``what`` names it in the message (``"The organisation name"``)."""
    found = unusable_character(text, in_a_name=in_a_name)
    if found is not None:
        kind = "control or format character" if in_a_name else "NUL or unpaired surrogate character"
        raise InvalidInputError(
            f"{what} holds an invisible {kind} ({found}).", "Retype it without that character.", field=field
        )
    return text


def normalise_email(text: str) -> str:
    """An email address as Airlock keeps it: lowercase ASCII. Outside ASCII, letters from other scripts look
    like Latin ones (Cyrillic ``\\u0430`` and Latin ``a``) and invisible characters hide between them, so one address
    could pose as another; an internationalised domain is written in its punycode form (``xn--...``), as DNS
    has it."""
    email = text.strip().lower()
    outside = next((i for i, character in enumerate(email, start=1) if not character.isascii()), None)
    if outside is not None:
        raise InvalidInputError(
            f"The email address {shorten(email, 254)} holds a character outside ASCII "
            f"(U+{ord(email[outside - 1]):04X} at position {outside}): Airlock takes email addresses in ASCII only.",
            "Write an internationalised domain in its punycode form (xn--...), and a name in Latin letters.",
        )
    check_characters(email, "The email address")
    if not _EMAIL.match(email) or len(email) > 254:
        raise InvalidInputError(f"{text!r} is not an email address; give one like name@example.org.")
    return email


def is_blank(text: str) -> bool:
    """Whether ``text`` shows nothing: only white space, control and format characters, combining marks
    with nothing to combine with, and letters that draw nothing (Hangul fillers, the blank Braille pattern).
    Such a reason is no reason."""
    return all(
        character.isspace()
        or unicodedata.category(character) in ("Cc", "Cf", "Mn", "Me", "Zs", "Zl", "Zp")
        or character in _BLANK_GRAPHICS
        for character in text
    )


def clean_reason(text: str | None, what: str = "The reason", *, field: str = "reason", max_length: int = 2000) -> str:
    """A reason a person gave (for a move, a change of the clock, a reset, a break-glass read), on one line:
    runs of white space become one space. One that shows nothing (:func:`is_blank`) is no reason: ``""``,
    which the caller refuses where a reason is required. Otherwise it may hold no character a name may not
    (:func:`unusable_character`)."""
    if text is None or is_blank(text):
        return ""
    reason = " ".join(text.split())
    if len(reason) > max_length:
        raise InvalidInputError(f"{what} is {len(reason)} characters long; keep it to {max_length}.", field=field)
    return check_characters(reason, what, field=field)


def name_key(name: str) -> str:
    """What two names must not share to be told apart: the name in Unicode's compatibility form (NFKC: a
    full-width ``\\uff21`` is ``A``, a non-breaking space a space), case-folded, its white space collapsed.
    ``"ACME  ai"`` and ``"Acme AI"`` have the same key."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def require_text(text: str | None, what: str, *, max_length: int = 200) -> str:
    """A one-line name or label a person typed: not empty, at most ``max_length`` characters, and no
    character :func:`unusable_character` refuses in a name."""
    value = (text or "").strip()
    if not value:
        raise InvalidInputError(f"The {what} is empty; give one.")
    if len(value) > max_length:
        raise InvalidInputError(f"The {what} is {len(value)} characters long; keep it to {max_length}.")
    return check_characters(value, f"The {what}")


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
    if not (_MODEL_NAME.match(name) or _LOCAL_MODEL_FILE.match(name)) or len(name) > 300:
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
    """``text`` cut to ``limit`` characters for a message, marked with an ellipsis when cut, with every
    character a name may not hold (:func:`unusable_character`) written as its escape (``\\u202e``), so that a
    message or an audit entry quoting what someone typed shows what it is."""
    cut = text if len(text) <= limit else text[: limit - 1] + "\u2026"
    if unusable_character(cut, in_a_name=True) is None:
        return cut
    return "".join(
        character.encode("unicode_escape").decode("ascii")
        if unusable_character(character, in_a_name=True)
        else character
        for character in cut
    )
