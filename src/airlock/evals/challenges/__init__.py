"""Challenges: procedurally generated, execution-verified exploitation challenges (see docs/challenges.md).

A challenge is a directory with a ``challenge.yaml`` manifest; generators write them, :func:`check` proves
one sound, :func:`verify` judges a proof of concept against it, and the Inspect tasks in
:mod:`airlock.evals.challenges.tasks` put them to a model.

The names below are loaded on first use, each from its own module, so that importing one part (the
manifest, to read a challenge) does not import the others (the generators, the validation, Inspect): the
command line's ``airlock challenges verify`` loads only what judging one proof of concept needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airlock.evals.challenges.execution import BuiltTarget, Workbench, verify
    from airlock.evals.challenges.generation import GENERATORS, Plan, generate_suite
    from airlock.evals.challenges.manifest import Challenge, ChallengeError, find_challenges, load_challenge
    from airlock.evals.challenges.oracle import RunResult, Verdict, judge
    from airlock.evals.challenges.validation import CheckReport, check, check_many

_HOMES = {
    "BuiltTarget": "execution",
    "Workbench": "execution",
    "verify": "execution",
    "GENERATORS": "generation",
    "Plan": "generation",
    "generate_suite": "generation",
    "Challenge": "manifest",
    "ChallengeError": "manifest",
    "find_challenges": "manifest",
    "load_challenge": "manifest",
    "RunResult": "oracle",
    "Verdict": "oracle",
    "judge": "oracle",
    "CheckReport": "validation",
    "check": "validation",
    "check_many": "validation",
}

__all__ = [
    "GENERATORS",
    "BuiltTarget",
    "Challenge",
    "ChallengeError",
    "CheckReport",
    "Plan",
    "RunResult",
    "Verdict",
    "Workbench",
    "check",
    "check_many",
    "find_challenges",
    "generate_suite",
    "judge",
    "load_challenge",
    "verify",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # found once; later look-ups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
