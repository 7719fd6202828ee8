"""The scanner baseline: an automated injection scanner against the challenge's service, for service challenges.

What a defender already has against a web service: a DAST scanner pointed at it with the settings an
operator would give one. Here those settings are taken from what the model is given too: the routes and
parameter names in the service's source (as a scanner reads an API description), the guest credentials
in the prompt, and the proof the oracle wants (read the secret, create the named file, make the
privileged action happen). The scanner itself (:mod:`.scanner_probe`, standard library only) is the proof
of concept: it runs from the attacker's sandbox against a fresh service with a fresh secret, within the
challenge's own run time limit, and the challenge's own oracle judges what it did, exactly as it judges a
model's script. It knows nothing of how the challenge was generated.
"""

from __future__ import annotations

import posixpath
import re
import time
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

from airlock.evals.challenges import Challenge, Verdict, verify
from airlock.evals.challenges.execution import SERVICE_HOST
from airlock.evals.challenges.manifest import ServiceStateOracle

CONFIG_LINE = re.compile(r"^CONFIG: .* = \{\}  # replaced by the scanner baseline .*$", re.MULTILINE)
SERVICE_ROOT = "/work"
"""Where a service runs on its own machine (the prompt says so too)."""
MARGIN_SECONDS = 4
"""Kept back from the run's time limit, so that the scanner reports before it is stopped."""
ROUTE = re.compile(r"""["'](/[A-Za-z0-9_./-]*)["']""")
PARAMETER = re.compile(r"""(?:\.get\(\s*|\[\s*)["']([A-Za-z_]\w*)["']""")
FILE_NAME = re.compile(r"""["']([\w.-]+\.(?:txt|key|db|cfg|conf|ini|json|secret|log))["']""")
CREDENTIALS = re.compile(r"user(?:name)?\s*:?\s+(\S+?),?\s+password\s*:?\s+(\S+?)[.,;]?(?:\s|$)", re.IGNORECASE)


@dataclass(frozen=True)
class ScanResult:
    verdict: Verdict
    seconds: float


def scannable(challenge: Challenge) -> bool:
    """Whether the scanner applies: a service attacked by a Python script and judged by its state."""
    return (
        challenge.service is not None
        and challenge.run is not None
        and challenge.run.input == "file"
        and challenge.run.poc_file.endswith(".py")
        and isinstance(challenge.oracle, ServiceStateOracle)
    )


def scan_settings(challenge: Challenge, seconds: float) -> dict[str, Any]:
    """What an operator would give the scanner for ``challenge``, read from what the model is given."""
    service, oracle = challenge.service, challenge.oracle
    assert service is not None
    assert isinstance(oracle, ServiceStateOracle)
    sources = "\n".join(
        challenge.read(path).decode("utf-8", "replace") for name, path in service.files.items() if name.endswith(".py")
    )
    credentials = CREDENTIALS.search(challenge.prompt)
    return {
        "base": f"http://{SERVICE_HOST}:{service.port}",
        "routes": list(dict.fromkeys(ROUTE.findall(sources))),
        "parameters": list(dict.fromkeys(PARAMETER.findall(sources))),
        "files": list(dict.fromkeys(FILE_NAME.findall(sources))),
        "credentials": list(credentials.groups()) if credentials else None,
        "goal": oracle.goal,
        "path": posixpath.join(SERVICE_ROOT, oracle.path) if oracle.path else None,
        "seconds": seconds,
    }


def scanner_script(settings: dict[str, Any]) -> str:
    """The scanner, with ``settings`` filled in: a standalone Python script."""
    template = resources.files("airlock.evals.baselines").joinpath("scanner_probe.py").read_text()
    script, replaced = CONFIG_LINE.subn(lambda _: f"CONFIG = {settings!r}", template, count=1)
    if replaced != 1:
        raise RuntimeError("the scanner script has lost its CONFIG line")
    return script


async def scan(challenge: Challenge, budget_seconds: int) -> ScanResult:
    """Scan ``challenge``'s service for at most ``budget_seconds`` (and its run time limit) and judge it."""
    assert challenge.run is not None
    started = time.perf_counter()
    seconds = max(1, min(budget_seconds, challenge.run.timeout) - MARGIN_SECONDS)
    script = scanner_script(scan_settings(challenge, seconds))
    verdict = await verify(challenge, script.encode(), None)
    elapsed = time.perf_counter() - started
    if verdict.success:
        return ScanResult(replace(verdict, reason=f"exploited by the injection scanner in {elapsed:.0f} s"), elapsed)
    return ScanResult(
        replace(verdict, reason=f"the injection scanner found nothing that counts: {verdict.reason}"), elapsed
    )
