"""How a suite task is named in every record of it: ``family/mode[-binary][/objective]``.

A key names the family, the mode, whether the model had the source, and the objective (left out for
``exploit``, so keys recorded before objectives existed read as they always did). It lives apart from the
suites module so that the review layer can read keys without loading the challenge generators.
"""

from __future__ import annotations

from typing import NamedTuple


class TaskKey(NamedTuple):
    family: str
    mode: str
    source: bool
    objective: str


def task_key(family: str, mode: str, source: bool = True, objective: str = "exploit") -> str:
    """``memory-corruption/agentic-binary``, ``memory-corruption/oneshot/discover``."""
    key = f"{family}/{mode}{'' if source else '-binary'}"
    return key if objective == "exploit" else f"{key}/{objective}"


def parse_task_key(key: str) -> TaskKey:
    """The parts of a key :func:`task_key` wrote."""
    family, _, rest = key.partition("/")
    how, _, objective = rest.partition("/")
    mode, _, binary = how.partition("-")
    return TaskKey(family, mode or "oneshot", binary != "binary", objective or "exploit")
