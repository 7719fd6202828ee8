"""What Inspect loads through the ``inspect_ai`` entry point: importing registers Airlock's extensions."""

# Inspect imports its agent-protocol server lazily, inside every eval, and that module builds pydantic models
# whose docstrings pydantic parses with ``ast``. On CPython 3.11.7, parsing while another thread parses can
# fail with "SystemError: AST constructor recursion depth mismatch": import it here, once, before any thread.
import contextlib
import importlib

with contextlib.suppress(ImportError):  # a private module: if a later Inspect moves it, nothing breaks
    importlib.import_module("inspect_ai.agent._acp.server")

from airlock.evals.challenges.tasks import challenges, logic_constraint, memory_corruption, web_injection
from airlock.evals.models.local import LocalModel
from airlock.evals.models.scripted import ScriptedModel
from airlock.sandbox.provider import BwrapSandboxEnvironment

__all__ = [
    "BwrapSandboxEnvironment",
    "LocalModel",
    "ScriptedModel",
    "challenges",
    "logic_constraint",
    "memory_corruption",
    "web_injection",
]
