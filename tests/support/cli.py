"""Running the ``airlock`` command in-process, with the test's settings and clock."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from typer.testing import CliRunner

from airlock.cli._common import Overrides
from airlock.cli.main import app
from airlock.clock import ManualClock
from airlock.config import Settings


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


class Cli:
    """``airlock`` bound to one deployment and one movable clock."""

    def __init__(self, settings: Settings | None, clock: ManualClock) -> None:
        self.settings = settings
        self.clock = clock
        self._runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Outcome:
        result = self._runner.invoke(
            app, list(args), obj=Overrides(clock=self.clock, settings=self.settings), input=input, env=env
        )
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Outcome(result.exit_code, result.stdout, result.stderr)
