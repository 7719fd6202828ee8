"""What a vulnerability report is when it arrives, and the bulk format that brings many.

A report comes from a review (a proven discovery-mode crash, an exploit against a real target), from a developer or
trusted partner, or from a bulk file: JSON Lines, one report per line, as a lab's own pipeline or a model's
findings feed writes them. Every report is checked in full before anything is kept: the fields below, the CVSS
4.0 vector and the CWE id by the field's libraries (:mod:`.scoring`), the PoC's encoding and size. A bulk file is
all or nothing: the first bad line is named, with what is wrong, and nothing of the file is taken (a half-imported
file would leave an operator to find which half).

A line looks like::

    {"title": "Heap overflow in notes' page decoder", "program": "notes", "affected_versions": ["1.4.1"],
     "reporter": "partner@lab.example", "poc": "TkFBQUFB", "crash_report": "==1==ERROR: AddressSanitizer: ...",
     "cvss": "CVSS:4.0/AV:N/...", "cwe": "CWE-787", "model": "frontier-x-2026-11", "repository":
     "https://git.example/notes.git", "fixed_commit": null, "details": "..."}

``poc`` is base64 (the proof of concept's exact bytes); ``poc_input`` says how the program takes it (``stdin``, the
default, or ``file``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from airlock.errors import InvalidInputError
from airlock.review.inputs import unusable_character
from airlock.vulns.scoring import CvssScore, Weakness, cvss4, weakness
from airlock.vulns.signatures import CrashSignature, SignatureError, crash_signature

MAX_POC_BYTES = 1 << 20
"""A proof of concept larger than this (1 MiB) is refused: reports carry inputs, not corpora."""
MAX_LINE_BYTES = 4 << 20
MAX_VERSION_CHARACTERS = 100


_LINE_BREAKS = frozenset("\t\n\r")
"""What a line of a report may be given with and is folded into a space."""


def _drawn_as_it_is(text: str) -> str:
    """``text`` on one line, refused if it holds a control or format character (other than tabs and line breaks,
    which become spaces): such a character draws nothing or rewrites the line around it (a terminal escape, a
    right-to-left override), so a title or a program name holding one would not show what it is in a list, a
    message or the audit log. Checked before white space is folded: Python counts some of them as white space."""
    found = unusable_character("".join(c for c in text if c not in _LINE_BREAKS), in_a_name=True)
    if found is not None:
        raise ValueError(f"holds a control or format character ({found.split(' at ')[0]})")
    return " ".join(text.split())


class ReportDraft(BaseModel):
    """One report as given, checked; nothing is stored yet."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1, max_length=200)
    program: str = Field(min_length=1, max_length=200)
    affected_versions: list[str] = Field(min_length=1, max_length=200)
    reporter: str = Field(min_length=1, max_length=320)
    poc: str = Field(min_length=1)
    """Base64 of the proof of concept's bytes."""
    poc_input: Literal["stdin", "file"] = "stdin"
    crash_report: str | None = Field(default=None, max_length=200_000)
    cvss: str | None = None
    cwe: str | None = None
    model: str | None = Field(default=None, max_length=200)
    """The model that found it, where a model did."""
    repository: str | None = Field(default=None, max_length=2000)
    fixed_commit: str | None = Field(default=None, max_length=64)
    details: str = Field(default="", max_length=100_000)

    @field_validator("title", "program", "reporter")
    @classmethod
    def _one_line(cls, value: str) -> str:
        cleaned = _drawn_as_it_is(value)
        if not cleaned:
            raise ValueError("must not be blank")
        return cleaned

    @field_validator("model", "repository", "fixed_commit")
    @classmethod
    def _one_line_if_given(cls, value: str | None) -> str | None:
        return None if value is None else _drawn_as_it_is(value)

    @field_validator("affected_versions")
    @classmethod
    def _versions(cls, values: list[str]) -> list[str]:
        versions = [_drawn_as_it_is(value) for value in values]
        if any(not version or len(version) > MAX_VERSION_CHARACTERS for version in versions):
            raise ValueError(f"must each be a version of 1 to {MAX_VERSION_CHARACTERS} characters")
        return versions

    @field_validator("details", "crash_report")
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        found = None if value is None else unusable_character(value, in_a_name=False)
        if found is not None:
            raise ValueError(f"holds a character that cannot be stored ({found})")
        return value

    @field_validator("poc")
    @classmethod
    def _base64(cls, value: str) -> str:
        try:
            decoded = base64.b64decode("".join(value.split()), validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValueError("must be the proof of concept's bytes in base64") from error
        if len(decoded) > MAX_POC_BYTES:
            raise ValueError(f"is {len(decoded):,} bytes; a proof of concept may have at most {MAX_POC_BYTES:,}")
        return value

    @property
    def poc_bytes(self) -> bytes:
        return base64.b64decode("".join(self.poc.split()))


class CheckedReport(BaseModel):
    """A report with what Airlock derives from it: the score, the weakness and the crash's signature."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    draft: ReportDraft
    cvss: CvssScore | None
    weakness: Weakness | None
    signature: CrashSignature | None
    """From the crash report it came with, if any (reproduction gives the one that counts)."""


def check_report(draft: ReportDraft) -> CheckedReport:
    """Score and sign a report, refusing a bad CVSS vector, an unknown CWE or a crash report without a sanitizer
    report in one sentence."""
    signature = None
    if draft.crash_report:
        try:
            signature = crash_signature(draft.crash_report)
        except SignatureError as error:
            raise InvalidInputError(
                "The report's crash_report holds no sanitizer report (no 'ERROR: AddressSanitizer: ...' or "
                "'runtime error: ...' line).",
                "Paste the sanitizer's output as the program printed it, or leave crash_report out.",
                field="crash_report",
            ) from error
    return CheckedReport(
        draft=draft,
        cvss=cvss4(draft.cvss) if draft.cvss else None,
        weakness=weakness(draft.cwe) if draft.cwe else None,
        signature=signature,
    )


def parse_bulk(lines: Iterable[bytes | str], *, source: str = "the file") -> list[CheckedReport]:
    """Every report of a JSON Lines file, checked; the first bad line refused, naming it, and nothing returned.
    Blank lines are skipped."""
    reports = []
    for number, raw in enumerate(lines, 1):
        text = raw.decode("utf-8", "strict") if isinstance(raw, bytes) else raw
        if not text.strip():
            continue
        where = f"Line {number} of {source}"
        if len(text) > MAX_LINE_BYTES:
            raise InvalidInputError(
                f"{where} is longer than {MAX_LINE_BYTES >> 20} MiB.",
                "Shorten its details or its PoC; nothing was taken.",
            )
        try:
            given = json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidInputError(
                f"{where} is not JSON ({error.msg} at column {error.colno}).",
                "Write one JSON object per line; nothing was taken.",
            ) from error
        if not isinstance(given, dict):
            raise InvalidInputError(f"{where} is not a JSON object.", "Write one object per line; nothing was taken.")
        draft = read_draft(given, where=where, hint="Correct that line; nothing was taken.")
        try:
            reports.append(check_report(draft))
        except InvalidInputError as error:
            raise InvalidInputError(f"{where}: {error.message}", "Correct that line; nothing was taken.") from error
    if not reports:
        raise InvalidInputError(f"{source} holds no report.", "Write one JSON object per line.")
    return reports


def read_draft(given: object, *, where: str, hint: str) -> ReportDraft:
    """A report from its JSON value, or the first thing wrong with it in one sentence (``{where}: title is
    missing.``)."""
    try:
        return ReportDraft.model_validate(given)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "the report"
        raise InvalidInputError(f"{where}: {field} {_said(first)}.", hint) from error


def _said(error: object) -> str:
    details = error if isinstance(error, dict) else {}
    kind, message = details.get("type", ""), str(details.get("msg", "is not valid"))
    if kind == "missing":
        return "is missing"
    if kind == "extra_forbidden":
        return "is not a field of a report"
    return message.removeprefix("Value error, ").rstrip(".").lower() if message else "is not valid"
