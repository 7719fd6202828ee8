"""Inspect's log files as Airlock hands them out, with the samples a lead reviewer invalidated marked the way
Inspect marks them (:func:`inspect_ai.log.invalidate_samples`: the sample's ``invalidation`` says who, when and
why, and the log's ``invalidated`` flag is set), so that ``inspect view`` and ``read_eval_log`` show it.

The runner writes one directory per epoch (``epoch-2/...``) and one log per task in it, named by Inspect; the
task's name in a log is the suite's task key with ``-`` for ``/`` (``memory-corruption-oneshot``).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from airlock.evals.runner import private_directory

_EPOCH_DIRECTORY = re.compile(r"^epoch-(\d+)/")


@dataclass(frozen=True)
class InvalidatedSample:
    """A sample of the model a lead reviewer invalidated, as Airlock keys it."""

    task: str
    """The suite's task key: ``memory-corruption/oneshot``."""
    sample: str
    epoch: int
    """Airlock's epoch: the directory the log is in, not Inspect's epoch within it."""
    author: str
    reason: str
    at: datetime


def epoch_of(name: str) -> int | None:
    """The epoch of the log at ``name`` within a run's log directory (``epoch-2/....eval``), if it says."""
    found = _EPOCH_DIRECTORY.match(name)
    return int(found.group(1)) if found else None


def with_invalidations(name: str, data: bytes, invalidated: Sequence[InvalidatedSample]) -> bytes:
    """The log file ``data`` (at ``name`` in the run's log directory) with each of ``invalidated`` that it holds
    marked as invalidated; unchanged if it holds none of them, or is not a log (the eval set's own ``.json``)."""
    epoch = epoch_of(name)
    concerned = [sample for sample in invalidated if sample.epoch == epoch]
    if not name.endswith(".eval") or not concerned:
        return data
    from inspect_ai.log import ProvenanceData, invalidate_samples, read_eval_log, write_eval_log

    # Inspect reads and writes a log by its path: the plaintext is on a private tmpfs for the moment it takes.
    directory = private_directory()
    try:
        path = directory / Path(name).name
        path.write_bytes(data)
        log = read_eval_log(str(path))
        task = log.eval.task.rsplit("/", 1)[-1]
        for marked in concerned:
            if marked.task.replace("/", "-") != task:
                continue
            uuids = [sample.uuid for sample in log.samples or [] if str(sample.id) == marked.sample and sample.uuid]
            if uuids:
                provenance = ProvenanceData(timestamp=marked.at, author=marked.author, reason=marked.reason)
                log = invalidate_samples(log, uuids, provenance)
        write_eval_log(log, str(path))
        return path.read_bytes()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
