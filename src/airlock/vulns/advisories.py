"""Advisories in the formats the field exchanges: CSAF 2.0 (validated against OASIS's JSON schema) and OSV.

One :class:`Advisory` (what the clearinghouse knows of a case when it is disclosed) becomes either document. Our
choices where the formats are silent or narrower than the case:

* **TLP**: Airlock marks with TLP 2.0 (FIRST's current labels: CLEAR, GREEN, AMBER, AMBER+STRICT, RED). CSAF 2.0
  predates it and knows TLP 1.0's four labels, so CLEAR is written WHITE and AMBER+STRICT is written AMBER with a
  ``legal_disclaimer`` note saying "AMBER+STRICT: the recipient's organisation only"; OSV has no marking, so it is
  ``database_specific.tlp``.
* **CVSS 4.0**: CSAF 2.0's ``scores`` take CVSS 2 and 3 only, so the 4.0 vector and score are a note of the
  vulnerability (category ``other``, title "CVSS 4.0"); OSV has ``CVSS_V4`` and gets it as a severity.
* **SSVC**: neither format has a field; CSAF gets a note (title "SSVC decision", the decision points, the action,
  who decided and why), OSV ``database_specific.ssvc``.
* **Product**: a case names a program, its vendor and the versions affected and fixed (or the commits that
  introduced and fixed the flaw in a git repository): CSAF's product tree is vendor > product name > version, with
  ``known_affected`` and ``fixed`` product statuses; OSV's ``affected`` lists the versions and, with a repository,
  a ``GIT`` range.

:func:`validate_csaf` checks a document against the OASIS CSAF 2.0 schema with the schemas of CVSS it refers to,
all read from the ``csaf-lib`` package on this machine (nothing is fetched). :func:`check_osv` checks an OSV record
against the rules of the OSV schema 1.6 that apply to what Airlock writes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from airlock.vulns.scoring import CvssScore, SsvcDecision, Weakness

Tlp = Literal["CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"]
TLP_LABELS: tuple[Tlp, ...] = ("CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED")
_CSAF_TLP = {"CLEAR": "WHITE", "GREEN": "GREEN", "AMBER": "AMBER", "AMBER+STRICT": "AMBER", "RED": "RED"}
TLP_URL = "https://www.first.org/tlp/"
OSV_SCHEMA_VERSION = "1.6.0"


@dataclass(frozen=True)
class Revision:
    date: datetime
    number: str
    summary: str


@dataclass(frozen=True)
class Advisory:
    """What is disclosed of a case."""

    id: str
    """The clearinghouse's identifier (``AIRLOCK-2026-0001``); a CVE, once assigned, is in ``aliases``."""
    title: str
    summary: str
    details: str
    tlp: Tlp
    publisher_name: str
    publisher_namespace: str
    """The publisher's web address (CSAF's ``publisher.namespace``)."""
    vendor: str
    product: str
    affected_versions: tuple[str, ...]
    revisions: tuple[Revision, ...]
    """The document's history, oldest first; the first is its initial release (dates come from the caller's clock)."""
    fixed_versions: tuple[str, ...] = ()
    repository: str | None = None
    introduced_commit: str | None = None
    fixed_commit: str | None = None
    weakness: Weakness | None = None
    cvss: CvssScore | None = None
    ssvc: SsvcDecision | None = None
    aliases: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    status: Literal["draft", "interim", "final"] = "final"

    def __post_init__(self) -> None:
        if not self.revisions:
            raise ValueError("An advisory has at least its initial release in its revision history.")
        if not self.affected_versions:
            raise ValueError("An advisory names at least one affected version.")


def csaf_document(advisory: Advisory) -> dict[str, Any]:
    """The advisory as a CSAF 2.0 document of the security-advisory profile."""
    revisions = advisory.revisions
    published, modified = revisions[0].date, revisions[-1].date
    notes: list[dict[str, str]] = [{"category": "summary", "title": "Summary", "text": advisory.summary}]
    if advisory.tlp == "AMBER+STRICT":
        notes.append(
            {
                "category": "legal_disclaimer",
                "title": "TLP:AMBER+STRICT",
                "text": "AMBER+STRICT: the recipient's organisation only (TLP 2.0); CSAF 2.0 marks it AMBER.",
            }
        )
    affected_ids = [f"{_slug(advisory.product)}-{index}" for index, _ in enumerate(advisory.affected_versions, 1)]
    fixed_ids = [f"{_slug(advisory.product)}-fixed-{index}" for index, _ in enumerate(advisory.fixed_versions, 1)]
    versions = [
        *zip(affected_ids, advisory.affected_versions, strict=True),
        *zip(fixed_ids, advisory.fixed_versions, strict=True),
    ]
    vulnerability: dict[str, Any] = {
        "title": advisory.title,
        "notes": [{"category": "description", "title": "Details", "text": advisory.details}],
        "product_status": {"known_affected": affected_ids, **({"fixed": fixed_ids} if fixed_ids else {})},
    }
    cve = next((alias for alias in advisory.aliases if alias.startswith("CVE-")), None)
    if cve is not None:
        vulnerability["cve"] = cve
    if advisory.weakness is not None:
        vulnerability["cwe"] = {"id": advisory.weakness.id, "name": advisory.weakness.name}
    if advisory.cvss is not None:
        vulnerability["notes"].append(
            {
                "category": "other",
                "title": "CVSS 4.0",
                "text": f"{advisory.cvss.vector} (base score {advisory.cvss.score}, {advisory.cvss.severity})",
            }
        )
    if advisory.ssvc is not None:
        decision = advisory.ssvc
        vulnerability["notes"].append(
            {
                "category": "other",
                "title": "SSVC decision",
                "text": (
                    f"{decision.vector} (CISA's tree), decided by {decision.decided_by} on "
                    f"{_rfc3339(decision.decided_at)}: {decision.rationale}"
                ),
            }
        )
    if fixed_ids:
        vulnerability["remediations"] = [
            {
                "category": "vendor_fix",
                "details": f"Update to {', '.join(advisory.fixed_versions)}.",
                "product_ids": affected_ids,
            }
        ]
    references = [{"category": "external", "summary": "Reference", "url": url} for url in advisory.references]
    document: dict[str, Any] = {
        "document": {
            "category": "csaf_security_advisory",
            "csaf_version": "2.0",
            "title": advisory.title,
            "lang": "en",
            "publisher": {
                "category": "coordinator",
                "name": advisory.publisher_name,
                "namespace": advisory.publisher_namespace,
            },
            "distribution": {"tlp": {"label": _CSAF_TLP[advisory.tlp], "url": TLP_URL}},
            "notes": notes,
            "tracking": {
                "id": advisory.id,
                "status": advisory.status,
                "version": revisions[-1].number,
                "initial_release_date": _rfc3339(published),
                "current_release_date": _rfc3339(modified),
                "revision_history": [
                    {"date": _rfc3339(r.date), "number": r.number, "summary": r.summary} for r in revisions
                ],
            },
            **({"references": references} if references else {}),
        },
        "product_tree": {
            "branches": [
                {
                    "category": "vendor",
                    "name": advisory.vendor,
                    "branches": [
                        {
                            "category": "product_name",
                            "name": advisory.product,
                            "branches": [
                                {
                                    "category": "product_version",
                                    "name": version,
                                    "product": {"product_id": product_id, "name": f"{advisory.product} {version}"},
                                }
                                for product_id, version in versions
                            ],
                        }
                    ],
                }
            ]
        },
        "vulnerabilities": [vulnerability],
    }
    return document


def osv_record(advisory: Advisory) -> dict[str, Any]:
    """The advisory as an OSV record (schema 1.6)."""
    revisions = advisory.revisions
    affected: dict[str, Any] = {
        "package": {"name": advisory.product, "ecosystem": "GIT" if advisory.repository else "Airlock"},
        "versions": list(advisory.affected_versions),
    }
    if advisory.repository:
        events: list[dict[str, str]] = [{"introduced": advisory.introduced_commit or "0"}]
        if advisory.fixed_commit:
            events.append({"fixed": advisory.fixed_commit})
        affected["ranges"] = [{"type": "GIT", "repo": advisory.repository, "events": events}]
    specific: dict[str, Any] = {"tlp": advisory.tlp, "vendor": advisory.vendor}
    if advisory.weakness is not None:
        specific["cwe_ids"] = [advisory.weakness.id]
    if advisory.ssvc is not None:
        specific["ssvc"] = {"decision": advisory.ssvc.vector, "decided_by": advisory.ssvc.decided_by}
    record: dict[str, Any] = {
        "schema_version": OSV_SCHEMA_VERSION,
        "id": advisory.id,
        "modified": _rfc3339(revisions[-1].date),
        "published": _rfc3339(revisions[0].date),
        "aliases": list(advisory.aliases),
        "summary": advisory.title,
        "details": f"{advisory.summary}\n\n{advisory.details}",
        "affected": [affected],
        "references": [
            {"type": "ADVISORY" if i == 0 else "WEB", "url": url} for i, url in enumerate(advisory.references)
        ],
        "database_specific": specific,
    }
    if advisory.cvss is not None:
        record["severity"] = [{"type": "CVSS_V4", "score": advisory.cvss.vector}]
    return record


class AdvisoryFormatError(ValueError):
    """A document that its format's schema or rules refuse; the message names the first place and why."""


def validate_csaf(document: dict[str, Any]) -> None:
    """Check ``document`` against the OASIS CSAF 2.0 JSON schema (with FIRST's CVSS schemas it refers to), read from
    this machine; raise :class:`AdvisoryFormatError` naming the first error."""
    validator = _csaf_validator()
    errors = sorted(validator.iter_errors(document), key=lambda error: list(error.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(part) for part in first.absolute_path) or "(the document)"
        raise AdvisoryFormatError(f"The CSAF document is not valid at {where}: {first.message}.")


_OSV_ID = re.compile(r"^[A-Z][A-Z0-9]*-[A-Za-z0-9._:-]+$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
_OSV_SEVERITY = {"CVSS_V2", "CVSS_V3", "CVSS_V4", "Ubuntu"}
_OSV_REFERENCE = {
    "ADVISORY",
    "ARTICLE",
    "DETECTION",
    "DISCUSSION",
    "REPORT",
    "FIX",
    "INTRODUCED",
    "GIT",
    "PACKAGE",
    "EVIDENCE",
    "WEB",
}


def check_osv(record: dict[str, Any]) -> None:
    """Check an OSV record against the OSV schema's rules for the fields Airlock writes (required fields, the id's
    form, UTC RFC 3339 times, severity and reference types, git range events)."""
    for required in ("id", "modified", "schema_version"):
        if required not in record:
            raise AdvisoryFormatError(f"The OSV record has no {required}.")
    if not _OSV_ID.match(record["id"]):
        raise AdvisoryFormatError(f"The OSV id {record['id']!r} is not of the form PREFIX-IDENTIFIER.")
    for stamp in ("modified", "published"):
        if stamp in record and not _RFC3339.match(record[stamp]):
            raise AdvisoryFormatError(f"The OSV record's {stamp} {record[stamp]!r} is not an RFC 3339 time in UTC.")
    for severity in record.get("severity", []):
        if severity.get("type") not in _OSV_SEVERITY or not severity.get("score"):
            raise AdvisoryFormatError(f"The OSV severity {severity!r} has no known type or no score.")
    for reference in record.get("references", []):
        if reference.get("type") not in _OSV_REFERENCE or not str(reference.get("url", "")).startswith("http"):
            raise AdvisoryFormatError(f"The OSV reference {reference!r} has no known type or no URL.")
    for affected in record.get("affected", []):
        for range_ in affected.get("ranges", []):
            events = range_.get("events", [])
            if range_.get("type") not in ("GIT", "SEMVER", "ECOSYSTEM") or not events:
                raise AdvisoryFormatError("An OSV range needs a type (GIT, SEMVER, ECOSYSTEM) and events.")
            if range_["type"] == "GIT" and not range_.get("repo"):
                raise AdvisoryFormatError("An OSV range of type GIT needs its repo.")
            if "introduced" not in events[0]:
                raise AdvisoryFormatError("An OSV range's events start with an introduced event.")


def canonical_json(document: dict[str, Any]) -> bytes:
    """The bytes a document is published as (and committed to): sorted keys, UTF-8, a final newline."""
    return (json.dumps(document, sort_keys=True, ensure_ascii=False, indent=2) + "\n").encode()


def _csaf_validator() -> Any:
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4, DRAFT7

    schemas = _schema_directory()
    csaf = json.loads((schemas / "csaf_2_0.json").read_text())
    registry: Registry[Any] = Registry()
    for url, name, draft in (
        ("https://www.first.org/cvss/cvss-v2.0.json", "cvss_v2_0.json", DRAFT4),
        ("https://www.first.org/cvss/cvss-v3.0.json", "cvss_v3_0.json", DRAFT4),
        ("https://www.first.org/cvss/cvss-v3.1.json", "cvss_v3_1.json", DRAFT7),
    ):
        contents = json.loads((schemas / name).read_text())
        registry = registry.with_resource(url, Resource.from_contents(contents, default_specification=draft))
    return jsonschema.Draft202012Validator(
        csaf, registry=registry, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def _schema_directory() -> Any:
    from importlib.resources import files

    return files("csaf_lib.verification.schemas")


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "product"
