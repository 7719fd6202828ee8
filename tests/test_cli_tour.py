"""README.md's "A short tour", run line by line as a reader would type it, against a fresh deployment.

The block is read from README.md itself, so a tour that drifts from what the command line does fails here.
Each command runs in its own ``bash`` in a scratch directory (holding a link to this test's virtual
environment, so that ``source .venv/bin/activate`` works as it stands), with the environment the previous
line left behind, so ``export`` and ``source`` carry over as in one shell session. The review identifiers
are the ones the tour's ``airlock submit`` lines print, put in place of the README's placeholders.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.served import free_port

README = Path(__file__).parent.parent / "README.md"
PLACEHOLDERS = ("R-XXXXXXXX", "R-YYYYYYYY")
"""The tour's review identifiers, in the order of the submissions that create them."""
SINGLE = Path(__file__).parent / "support" / "suites" / "single.yaml"
BASH = shutil.which("bash") or "/bin/bash"

# Where the test runs a cheaper command than the README shows, and why. Nothing else is changed.
CHEAPER = {
    # The smoke suite runs the bundled model on three instances with five baselines (the fuzzer alone spends
    # 10 s on each C instance): minutes on two cores. The tour's subject is the command line around a run,
    # so one instance judged against its reference stands in for it: the same model, the same commands,
    # the same pipeline (instance, sandbox, verdict, report). The smoke suite's content is checked by
    # tests/test_suites.py, its baselines by tests/test_baselines.py, and `make demo` runs it whole.
    "--suite smoke": f"--suite {SINGLE}",
}

# What some lines must print besides exiting 0: the tour shows these things, so they must happen.
SHOWS = {
    "airlock init": "Initialised Airlock",
    "airlock review show": "Frontier-1: a general-purpose model.",
    "airlock review pause": "Paused the clock",
    "airlock review withdraw": "its confidential content was destroyed",
    "airlock audit verify": "The audit log is intact",
    "airlock sandbox exec": "uid=1000(sandbox)",
    "airlock eval run": ": completed",
    "airlock report build": "Built the draft report",
    "airlock report verify": "Valid: R-YYYYYYYY-draft-full.pdf is the draft full report of review R-YYYYYYYY",
    "airlock challenges verify": "mc-t1-stack-overflow-s2026-i0: NOT PROVEN: wrong bug class",
}


def tour() -> list[str]:
    """The tour's commands, continuation lines joined; comment-only and blank lines left out."""
    section = README.read_text(encoding="utf-8").split("## A short tour", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    commands: list[str] = []
    pending = ""
    for line in block.splitlines():
        line = pending + line
        if line.endswith("\\"):
            pending = line + "\n"
            continue
        pending = ""
        if line.strip() and not line.lstrip().startswith("#"):
            commands.append(line)
    assert not pending, "the tour's last command ends with a line continuation"
    return commands


@dataclass
class Shell:
    """One reader's shell session: a working directory and the environment the last command left."""

    directory: Path
    environment: dict[str, str]

    def run(self, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run ``command`` as bash would from this session, and keep the environment it leaves."""
        saved = self.directory / ".tour-environment"
        script = f"{command}\nstatus=$?\nenv -0 > {shlex.quote(str(saved))}\nexit $status\n"
        finished = subprocess.run(
            [BASH, "-c", script],
            cwd=self.directory,
            env=self.environment,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        if saved.exists():
            pairs = (entry.split("=", 1) for entry in saved.read_text().split("\0") if "=" in entry)
            self.environment = dict(pairs)
            saved.unlink()
        return finished

    def serve(self, command: str) -> None:
        """``airlock serve`` runs until interrupted: start it, see the portal answer, then press Ctrl-C."""
        port = free_port()
        # Port 8000, the default, may be taken on the machine running the tests; the tour's line is otherwise
        # run as it stands.
        command = command.replace("airlock serve", f"airlock serve --port {port}", 1)
        server = subprocess.Popen(
            [BASH, "-c", command],
            cwd=self.directory,
            env=self.environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/sign-in", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None, server.communicate()[0]
                assert time.monotonic() < deadline, "airlock serve did not answer within 60 s"
                time.sleep(0.2)
        finally:
            os.killpg(server.pid, signal.SIGINT)
            output = server.communicate(timeout=30)[0].decode()
        assert "Serving the Airlock portal" in output, output


@pytest.mark.timeout(900)
def test_every_command_of_the_readme_tour_works_on_a_fresh_deployment(tmp_path: Path) -> None:
    venv = Path(sys.prefix)
    assert (venv / "bin" / "activate").is_file(), "the tests run from the virtual environment `make` creates"
    (tmp_path / ".venv").symlink_to(venv)
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AIRLOCK_")}
    environment["PATH"] = os.defpath  # `airlock` comes from `source .venv/bin/activate`, as in the tour
    shell = Shell(tmp_path, environment)

    commands = tour()
    for placeholder in PLACEHOLDERS:
        assert any(placeholder in command for command in commands), placeholder
    submissions = [command for command in commands if re.search(r"\bairlock submit\b", command)]
    assert len(submissions) == len(PLACEHOLDERS)
    for cheaper in CHEAPER:
        assert any(cheaper in command for command in commands), f"the tour no longer has {cheaper!r}"

    reviews: dict[str, str] = {}
    for command in commands:
        written = command
        for placeholder, review in reviews.items():
            command = command.replace(placeholder, review)
        assert not any(placeholder in command for placeholder in PLACEHOLDERS), f"no review yet for: {written}"
        for expensive, cheaper in CHEAPER.items():
            command = command.replace(expensive, cheaper)
        if re.search(r"\bairlock serve\b", command):
            shell.serve(command)
            continue
        finished = shell.run(command, timeout=600)
        output = finished.stdout + finished.stderr
        assert finished.returncode == 0, f"{written}\n{output}"
        if re.search(r"\bairlock submit\b", command):
            reviews[PLACEHOLDERS[len(reviews)]] = re.findall(r"\bR-[0-9A-Z]{8}\b", finished.stdout)[0]
        for start, shown in SHOWS.items():
            if start in command:
                expected = shown
                for placeholder, review in reviews.items():
                    expected = expected.replace(placeholder, review)
                assert expected in output, f"{written}\n{output}"

    assert len(reviews) == len(PLACEHOLDERS)
