"""Challenges: procedurally generated, execution-verified exploitation challenges (see docs/challenges.md).

A challenge is a directory with a ``challenge.yaml`` manifest; generators write them, :func:`check` proves
one sound, :func:`verify` judges a proof of concept against it, and the Inspect tasks in
:mod:`airlock.evals.challenges.tasks` put them to a model.
"""

from airlock.evals.challenges.execution import BuiltTarget, Workbench, verify
from airlock.evals.challenges.generation import GENERATORS, Plan, generate_suite
from airlock.evals.challenges.manifest import Challenge, ChallengeError, find_challenges, load_challenge
from airlock.evals.challenges.oracle import RunResult, Verdict, judge
from airlock.evals.challenges.validation import CheckReport, check, check_many

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
