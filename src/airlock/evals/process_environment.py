"""The environment of the evaluation's child processes (the worker, the model probe): named, never inherited.

The evaluator's own environment holds its secrets (``AIRLOCK_MASTER_KEY``, model API keys, tokens of other
services), and anything a child inherits can be read from ``/proc/<pid>/environ`` by every process of the
same user. So a child gets only the variables below, each for a stated reason; the model's credentials travel
on the worker's standard input (see :class:`airlock.evals.runner.WorkerRequest`), never here.

What the children need, found by reading what they call (Inspect, its model providers' HTTP client httpx,
llama-cpp-python, Airlock's sandbox and challenge cache), not by trial:

* ``PATH``: the compiler and tools the sandbox and the challenge cache look up (``gcc``, ``nsenter``);
* the locale (``LANG``, ``LANGUAGE``, ``LC_*``) and ``TZ``: how text and times are read and written;
* ``PYTHONPATH``: where the evaluator found Airlock, so the child finds the same code;
* ``LLAMA_CPP_LIB_PATH`` and ``LD_LIBRARY_PATH``: where the native libraries (llama.cpp, Pango) are found,
  so the child loads what the evaluator would, and the probe tests what the worker loads;
* ``AIRLOCK_BWRAP``: the sandbox's choice of bwrap binary (a path, not a secret);
* the proxy and CA variables httpx honours (``HTTPS_PROXY``, ``NO_PROXY``, ``SSL_CERT_FILE``...): a lab's
  network may reach a model's endpoint only through them;
* ``HOME`` and ``TMPDIR``: directories inside the child's private directory, so nothing a library drops
  there (configuration, caches, temporary files) lands in the evaluator's home.

Everything else (``AIRLOCK_*`` settings, ``*_API_KEY``, ``INSPECT_*`` defaults that could redirect logs) stays
behind. The caller adds what is particular to its child (the worker's data directory and report descriptor).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

PASSED_THROUGH = (
    "PATH",
    "LANG",
    "LANGUAGE",
    "TZ",
    "PYTHONPATH",
    "LLAMA_CPP_LIB_PATH",
    "LD_LIBRARY_PATH",
    "AIRLOCK_BWRAP",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)
"""Variables a child gets from the evaluator unchanged, when set (see the module's docstring for why)."""
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
"""Proxy settings, which httpx reads in either case."""


def child_environment(private: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a child whose private directory is ``private``, plus ``extra``.

    ``HOME`` and ``TMPDIR`` are created inside ``private``.
    """
    source = os.environ
    environment = {name: source[name] for name in PASSED_THROUGH if name in source}
    environment.update({name: value for name, value in source.items() if name.startswith("LC_")})
    for name in PROXY_VARIABLES:
        for spelling in (name, name.lower()):
            if spelling in source:
                environment[spelling] = source[spelling]
    environment.setdefault("PATH", os.defpath)
    home, temporary = private / "home", private / "tmp"
    for directory in (home, temporary):
        directory.mkdir(mode=0o700, exist_ok=True)
    environment["HOME"] = str(home)
    environment["TMPDIR"] = str(temporary)
    environment.update(extra or {})
    return environment
