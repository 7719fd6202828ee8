"""The scanner baseline: an automated injection scanner against the challenge's service, for service challenges.

What a defender already has against a web service: a DAST scanner pointed at it with the settings an
operator would give one. Here those settings are taken from what the model is given too: the routes and
parameter names in the service's source files (as a scanner reads an API description: which function answers
each route, and which parameters that function reads), the names the source gives its settings and template
context, the guest credentials in the prompt, and the proof the oracle wants (read the secret, create the
named file, make the privileged action happen). The scanner itself (:mod:`.scanner_probe`, standard library
only) is the proof of concept: it runs from the attacker's sandbox against a fresh service with a fresh
secret, within the challenge's own run time limit, and the challenge's own oracle judges what it did,
exactly as it judges a model's script. It knows nothing of how the challenge was generated.
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
PARAMETER = re.compile(r"""(?:\.(?:get|arg|param|field)\(\s*|\[\s*)["']([A-Za-z_]\w*)["']""")
FUNCTION = re.compile(r"^([ \t]*)(?:async[ \t]+)?def[ \t]+(\w+)[ \t]*\(", re.MULTILINE)
FORMAT_NAMES = re.compile(r"\.format\(\s*(\w+)\s*=")
DICT_KEYS = re.compile(r"""["']([A-Za-z_]\w*)["']\s*:""")
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
    # The sources the model is given: the service's Python files.
    texts = [
        challenge.read(path).decode("utf-8", "replace")
        for name, path in challenge.files.items()
        if name.endswith(".py")
    ]
    sources = "\n".join(texts)
    credentials = CREDENTIALS.search(challenge.prompt)
    routes = list(dict.fromkeys(ROUTE.findall(sources)))
    parameters = list(dict.fromkeys(PARAMETER.findall(sources)))
    return {
        "base": f"http://{SERVICE_HOST}:{service.port}",
        "routes": routes,
        "parameters": parameters,
        "surfaces": route_parameters(texts, routes, parameters),
        "names": list(dict.fromkeys(FORMAT_NAMES.findall(sources) + DICT_KEYS.findall(sources))),
        "files": list(dict.fromkeys(FILE_NAME.findall(sources))),
        "sources": [name for name in challenge.files if name.endswith(".py")],
        "credentials": list(credentials.groups()) if credentials else None,
        "goal": oracle.goal,
        "path": posixpath.join(SERVICE_ROOT, oracle.path) if oracle.path else None,
        "seconds": seconds,
    }


def route_parameters(texts: list[str], routes: list[str], parameters: list[str]) -> dict[str, list[str]]:
    """For each route, the parameters read by the function that answers it: the first function named on the
    route's line or the next one (a route table, an if-chain, a decorator); all parameters where none is."""
    bodies: dict[str, str] = {}
    for text in texts:
        lines = text.splitlines()
        for match in FUNCTION.finditer(text):
            start = text[: match.start()].count("\n")
            depth = len(match.group(1))
            end = start + 1
            while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > depth):
                end += 1
            bodies.setdefault(match.group(2), "\n".join(lines[start:end]))
    joined = "\n".join(texts).splitlines()
    surfaces: dict[str, list[str]] = {}
    for route in routes:
        read: list[str] = []
        answered = False
        for number, line in enumerate(joined):
            for quote in ('"', "'"):
                if f"{quote}{route}{quote}" not in line:
                    continue
                after = line.split(f"{quote}{route}{quote}", 1)[1]
                nearby = after + "\n" + (joined[number + 1] if number + 1 < len(joined) else "")
                handler = next((name for name in re.findall(r"\w+", nearby) if name in bodies), None)
                if handler is not None:
                    answered = True
                    read += [name for name in PARAMETER.findall(bodies[handler]) if name in parameters]
        surfaces[route] = list(dict.fromkeys(read)) if answered else list(parameters)
    return surfaces


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
