"""How urgent a vulnerability is, in the field's own terms, computed by the field's own libraries.

* **CVSS 4.0**: a vector is parsed and scored by Red Hat's ``cvss`` package (FIRST's specification); Airlock keeps
  the vector in its canonical order, the base score and the severity. Only version 4.0 is taken: a case is scored
  once, in the version in force.
* **CWE**: an identifier (``CWE-787`` or ``787``) is looked up in MITRE's catalogue as the ``cwe2`` package ships it
  (offline); an id the catalogue does not have is refused rather than kept as a guess.
* **SSVC**: CISA's decision over CERT/CC's decision points (exploitation, automatable, technical impact, mission
  and well-being): track, track*, attend or act, read from CISA's decision table (:data:`CISA_TABLE`, as CISA's
  SSVC guide of November 2022 and CERT/CC's ``cisa_coordinator_2_0_3.csv`` publish it). The decision is recorded
  with who decided and why (:class:`SsvcDecision`); queues are ordered by it, then by CVSS. *Why a table of our
  own:* CERT/CC's ``certcc-ssvc`` package is not on the package index here, and the ``ssvc`` package that is
  answers track* where CISA's table says track (none, no, partial, high); 36 rows are checked more easily than a
  dependency.

Each bad value is refused with one sentence naming it and what is accepted.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from airlock.errors import InvalidInputError

Exploitation = Literal["none", "poc", "active"]
Automatable = Literal["yes", "no"]
TechnicalImpact = Literal["partial", "total"]
MissionWellbeing = Literal["low", "medium", "high"]
Action = Literal["track", "track*", "attend", "act"]

DECISION_POINTS: dict[str, tuple[str, ...]] = {
    "exploitation": ("none", "poc", "active"),
    "automatable": ("no", "yes"),
    "technical_impact": ("partial", "total"),
    "mission_wellbeing": ("low", "medium", "high"),
}
"""SSVC's decision points as CISA's tree asks them, with their values in increasing urgency."""
ACTIONS: tuple[Action, ...] = ("track", "track*", "attend", "act")
"""SSVC's outcomes in increasing urgency: the order of a queue."""


def _cisa_table() -> dict[tuple[str, str, str, str], Action]:
    """CISA's SSVC decision table: (exploitation, automatable, technical impact, mission and well-being) -> action.
    Each row of CISA's guide is one letter per point, in the guide's order (e.g. ``npl`` = none, partial, low), for
    automatable no then yes; the actions are CISA's."""
    rows = {
        # exploitation none: automatable no, then yes; technical impact partial, then total; mission low/medium/high
        "none": ("track track track", "track track track*", "track track attend", "track track attend"),
        "poc": ("track track track*", "track track* attend", "track track attend", "track track* attend"),
        "active": ("track track attend", "track attend act", "attend attend act", "attend act act"),
    }
    table: dict[tuple[str, str, str, str], Action] = {}
    for exploitation, groups in rows.items():
        for (automatable, impact), group in zip(
            (("no", "partial"), ("no", "total"), ("yes", "partial"), ("yes", "total")), groups, strict=True
        ):
            for mission, action in zip(DECISION_POINTS["mission_wellbeing"], group.split(), strict=True):
                table[(exploitation, automatable, impact, mission)] = action  # type: ignore[assignment]
    return table


CISA_TABLE = _cisa_table()


@dataclass(frozen=True)
class CvssScore:
    """A CVSS 4.0 vector, canonical, with the base score and severity its specification gives."""

    vector: str
    score: float
    severity: str


@dataclass(frozen=True)
class Weakness:
    """A CWE entry: ``CWE-787``, "Out-of-bounds Write"."""

    id: str
    name: str


@dataclass(frozen=True)
class SsvcDecision:
    """An SSVC decision: the decision points as someone judged them, the action the tree gives, who and why."""

    exploitation: Exploitation
    automatable: Automatable
    technical_impact: TechnicalImpact
    mission_wellbeing: MissionWellbeing
    action: Action
    decided_by: str
    decided_at: datetime
    rationale: str

    @property
    def vector(self) -> str:
        """The decision as one line (``E:poc/A:yes/TI:total/MWB:high -> attend``), for lists and advisories."""
        return (
            f"E:{self.exploitation}/A:{self.automatable}/TI:{self.technical_impact}/MWB:{self.mission_wellbeing}"
            f" -> {self.action}"
        )


def cvss4(vector: str) -> CvssScore:
    """Parse and score a CVSS 4.0 vector, or refuse it in one sentence."""
    from cvss import CVSS4
    from cvss.exceptions import CVSS4Error

    text = vector.strip()
    if not text.startswith("CVSS:4.0/"):
        raise InvalidInputError(
            f"{_shown(text)} is not a CVSS 4.0 vector.",
            "Write it as CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N (FIRST's notation).",
            field="cvss",
        )
    try:
        parsed = CVSS4(text)
    except CVSS4Error as error:
        raise InvalidInputError(
            f"The CVSS 4.0 vector {_shown(text)} is malformed: {_sentence(error)}.",
            "Give every base metric (AV, AC, AT, PR, UI, VC, VI, VA, SC, SI, SA) once, with a value FIRST defines.",
            field="cvss",
        ) from error
    return CvssScore(vector=parsed.clean_vector(), score=float(parsed.base_score), severity=str(parsed.severity))


_CWE = re.compile(r"^(?:CWE-)?(\d{1,5})$", re.IGNORECASE)


def weakness(identifier: str) -> Weakness:
    """The CWE entry ``identifier`` names (``CWE-787`` or ``787``), or a refusal naming it."""
    match = _CWE.match(identifier.strip())
    if match is None:
        raise InvalidInputError(
            f"{_shown(identifier)} is not a CWE identifier.", "Write it as CWE-787 (or 787).", field="cwe"
        )
    number = int(match.group(1))
    found = _entry(number)
    if found is None:
        raise InvalidInputError(
            f"CWE-{number} is not in MITRE's CWE catalogue.",
            "Check the number at cwe.mitre.org; a weakness outside the catalogue cannot be recorded.",
            field="cwe",
        )
    return found


@functools.cache
def _entry(number: int) -> Weakness | None:
    """The catalogue's entry for ``number``, or None, looked up once per number: ``cwe2`` reads its CSV files on
    every lookup (about 70 ms), three quarters of a bulk import's time before this cache."""
    from cwe2.database import InvalidCWEError

    try:
        entry = _catalogue().get(number)
    except InvalidCWEError:
        return None
    return Weakness(id=f"CWE-{number}", name=str(entry.name))


@functools.cache
def _catalogue() -> Any:
    """MITRE's catalogue, loaded once (about a second)."""
    from cwe2.database import Database

    return Database()


def ssvc_decision(
    *,
    exploitation: str,
    automatable: str,
    technical_impact: str,
    mission_wellbeing: str,
    decided_by: str,
    decided_at: datetime,
    rationale: str,
) -> SsvcDecision:
    """CISA's SSVC action for the decision points given, with who decided and why; a value outside a decision
    point's is refused naming the point and its values."""
    given = {
        "exploitation": exploitation,
        "automatable": automatable,
        "technical_impact": technical_impact,
        "mission_wellbeing": mission_wellbeing,
    }
    for point, value in given.items():
        if value.strip().lower() not in DECISION_POINTS[point]:
            raise InvalidInputError(
                f"{_shown(value)} is not a value of SSVC's {point.replace('_', ' ')}.",
                f"Choose one of {', '.join(DECISION_POINTS[point])}.",
                field=point,
            )
    values = {point: value.strip().lower() for point, value in given.items()}
    if not rationale.strip():
        raise InvalidInputError(
            "An SSVC decision needs its rationale.", "Say in a sentence why the points are what they are."
        )
    action = CISA_TABLE[
        (values["exploitation"], values["automatable"], values["technical_impact"], values["mission_wellbeing"])
    ]
    return SsvcDecision(
        exploitation=values["exploitation"],  # type: ignore[arg-type]
        automatable=values["automatable"],  # type: ignore[arg-type]
        technical_impact=values["technical_impact"],  # type: ignore[arg-type]
        mission_wellbeing=values["mission_wellbeing"],  # type: ignore[arg-type]
        action=action,
        decided_by=decided_by,
        decided_at=decided_at,
        rationale=rationale.strip(),
    )


def priority(decision: SsvcDecision | None, cvss: CvssScore | None) -> tuple[int, float]:
    """A sort key: the most urgent first when sorted in descending order (SSVC's action, then the CVSS score);
    what is not yet scored sorts after what is."""
    return (ACTIONS.index(decision.action) + 1 if decision else 0, cvss.score if cvss else -1.0)


def _shown(value: str) -> str:
    one_line = " ".join(value.split())
    return repr(one_line if len(one_line) <= 80 else one_line[:77] + "...")


def _sentence(error: Exception) -> str:
    return " ".join(str(error).split()).rstrip(".")
