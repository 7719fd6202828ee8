"""The evaluation worker: runs the pending samples of a plan with Inspect's ``eval_set``, in a process of its own.

Started by :class:`airlock.evals.runner.LocalExecutor`; never by hand. It reads a
:class:`~airlock.evals.runner.WorkerRequest` on standard input and writes one JSON line per finished sample
(``{"sample": ...}``), or ``{"error": ...}``, to the descriptor named by ``AIRLOCK_WORKER_REPORTS``. It
dies with its parent: a SIGKILL to ``airlock eval run`` stops the samples too. Its environment is the
explicit, minimal one the runner names (:mod:`airlock.evals.process_environment`): none of the evaluator's
secrets; the model's credentials come with the request, on standard input.

Epochs are run one at a time (each with ``epochs=1``), so that a resumed run can run epoch 2 of a sample
without running its epoch 1 again.

Import this module only in the worker process: importing it registers its Inspect hook, and a process with a
registered hook has Inspect print a banner to standard output at its first model (which would break the
``--json`` output of ``airlock eval run``).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from pathlib import Path
from typing import IO, Any

from inspect_ai import Task, eval_set
from inspect_ai.hooks import Hooks, SampleEnd, TaskStart, hooks
from inspect_ai.log import EvalSample
from inspect_ai.model import get_model

from airlock.evals.challenges.oracle import succeeded
from airlock.evals.challenges.tasks import challenge_task, suite_for
from airlock.evals.models.requests import generate_config
from airlock.evals.runner import SampleOutcome, WorkerRequest
from airlock.evals.suites import WALL_CLOCK_FACTOR

PR_SET_PDEATHSIG = 1
SCORER = "proof_of_concept"


class _Reporting:
    """Where the hook writes, and what it needs to name a sample: the task of each eval, the epoch."""

    stream: IO[str] | None = None
    task_of_eval: dict[str, str] = {}  # noqa: RUF012 (one process, one run)
    key_of_task: dict[str, str] = {}  # noqa: RUF012
    epoch = 1


@hooks(name="airlock_sample_reports", description="Reports each finished sample to Airlock's runner.")
class SampleReports(Hooks):
    def enabled(self) -> bool:
        return _Reporting.stream is not None

    async def on_task_start(self, data: TaskStart) -> None:
        _Reporting.task_of_eval[data.eval_id] = data.spec.task

    async def on_sample_end(self, data: SampleEnd) -> None:
        task = _Reporting.key_of_task.get(_Reporting.task_of_eval.get(data.eval_id, ""), "")
        report({"sample": outcome(task, _Reporting.epoch, data.sample).model_dump()})


def outcome(task: str, epoch: int, sample: EvalSample) -> SampleOutcome:
    """The runner's record of an Inspect sample: verdict from the scorer, cost from the transcript."""
    metadata = sample.metadata or {}
    score = (sample.scores or {}).get(SCORER)
    judged = score.metadata or {} if score is not None else {}
    if sample.error is not None or score is None:
        verdict, reason = "error", (sample.error.message if sample.error else "the sample was not scored")
    else:
        verdict, reason = str(judged.get("verdict", "not proven")), str(score.explanation or "")
        if sample.limit is not None and not succeeded(verdict):
            # Said first: a sample stopped by its budget is judged on what it had, and the reader should know why.
            bound = "" if sample.limit.limit is None else f" ({sample.limit.limit:g})"
            reason = f"stopped at its {sample.limit.type} limit{bound}; {reason}"
    usage = list((sample.model_usage or {}).values())
    return SampleOutcome(
        task=task,
        sample_id=str(sample.id),
        epoch=epoch,
        family=str(metadata.get("family", "")),
        variant=str(metadata.get("variant", "")),
        difficulty=int(metadata.get("difficulty", 0)),
        challenge_version=str(metadata.get("version", "")),
        verdict=verdict,
        reason=reason.splitlines()[0][:500] if reason else "",
        partial_credit=float(judged.get("partial_credit", 0.0)),
        model_calls=sum(1 for event in sample.events if event.event == "model"),
        input_tokens=sum(entry.input_tokens for entry in usage),
        output_tokens=sum(entry.output_tokens for entry in usage),
        seconds=float(sample.total_time or 0.0),
        transcript=sample.model_dump_json(),
    )


def report(message: dict[str, Any]) -> None:
    stream = _Reporting.stream
    assert stream is not None
    stream.write(json.dumps(message) + "\n")
    stream.flush()


def run(request: WorkerRequest) -> None:
    settings = request.settings
    model = get_model(
        request.model,
        base_url=request.base_url,
        api_key=request.api_key,
        memoize=False,
        config=generate_config(request.model, settings),
        **request.model_args,
    )
    budget = request.plan.suite.budget
    for epoch in sorted({key[2] for key in request.pending}):
        tasks: list[Task] = []
        for planned in request.plan.tasks:
            wanted = {sample for task, sample, at in request.pending if task == planned.task.key and at == epoch}
            if not wanted:
                continue
            spec = planned.task
            directory = suite_for(planned.challenge_plan())
            name = spec.key.replace("/", "-")
            _Reporting.key_of_task[name] = spec.key
            tasks.append(
                challenge_task(
                    directory,
                    mode=spec.mode,
                    source=spec.source,
                    message_limit=budget.message_limit,
                    only=wanted,
                    name=name,
                )
            )
        _Reporting.epoch = epoch
        eval_set(
            tasks,
            log_dir=str(Path(request.log_dir) / f"epoch-{epoch}"),
            model=model,
            max_tokens=budget.max_tokens,
            working_limit=budget.time_limit,
            time_limit=budget.time_limit * WALL_CLOCK_FACTOR,
            token_limit=budget.token_limit,
            max_samples=settings["max_samples"],
            max_connections=settings["max_connections"],
            max_sandboxes=settings["max_sandboxes"],
            retry_attempts=1,
            fail_on_error=False,
            display="none",
            log_level="error",
        )


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != int(os.environ.pop("AIRLOCK_WORKER_PARENT", os.getppid())):
        os._exit(1)  # the parent died before the line above took effect


def main() -> None:
    _die_with_parent()
    _Reporting.stream = os.fdopen(int(os.environ.pop("AIRLOCK_WORKER_REPORTS")), "w")
    request = WorkerRequest.model_validate_json(sys.stdin.read())
    try:
        run(request)
    except Exception as error:  # the parent turns this into one clear sentence
        report({"error": f"{type(error).__name__}: {error}".splitlines()[0]})
        sys.exit(1)


if __name__ == "__main__":
    main()
