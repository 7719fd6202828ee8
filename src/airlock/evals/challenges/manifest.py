"""The challenge format: a directory with ``challenge.yaml`` and the files it names.

See docs/challenges.md for the format in full. The manifest is a superset of what an inspect_cyber
``eval.yaml`` expresses where the two overlap (``name``, ``prompt``, ``files``, ``flag``, ``metadata``), so
hand-written and third-party challenges fit too; Airlock adds what proof needs: how to build and run the
target, the oracle that decides, the reference solution, negative controls and near misses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from airlock.errors import AirlockError, yaml_problem

FORMAT = "airlock-challenge/1"
MANIFEST = "challenge.yaml"
DEFAULT_MAX_POC_BYTES = 64 * 1024
LATER_FIELDS = ("compose", "solution_run", "executable")
"""Fields added after challenges were first made, left out of the manifest where unset or empty."""


class ChallengeError(AirlockError):
    """A challenge that cannot be loaded, built or judged, with the reason in words."""

    kind = "invalid_challenge"


class Build(BaseModel):
    command: list[str] = Field(min_length=1)
    output: str
    """The file the build produces (the target), relative to the build directory."""


class Run(BaseModel):
    command: list[str] = Field(min_length=1)
    input: Literal["stdin", "file"] = "stdin"
    """``stdin``: the proof of concept is the target's input. ``file``: it is written to ``poc_file`` in
    ``/work`` and ``command`` runs it (a script attacking a service)."""
    poc_file: str = Field(default="poc.bin", pattern=r"^[A-Za-z0-9_.-]+$")
    timeout: int = Field(default=5, ge=1, le=600)
    env: dict[str, str] = Field(default_factory=dict)


class Service(BaseModel):
    """A target service on the private network, started fresh, with a fresh secret, for every run."""

    command: list[str] = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    files: dict[str, str] = Field(default_factory=dict)
    """Text files of the service: path in its ``/work`` -> path in the challenge directory."""
    secret_file: str
    """Where, in the service's ``/work``, each run's secret (``AIRLOCK{32 hex digits}``) is written."""


class SanitizerOracle(BaseModel):
    """Success only if the sanitizer reports the planted bug class at the planted place."""

    type: Literal["sanitizer"] = "sanitizer"
    bug_class: str
    """AddressSanitizer's name for it: ``stack-buffer-overflow``, ``heap-use-after-free``, ``double-free``..."""
    function: str
    file: str
    line: int | None = None
    """The line of the planted bug; None where the line is not stable (hand-written challenges)."""


class PlantedFlaw(BaseModel):
    """A memory flaw the generator planted: what AddressSanitizer reports, and where."""

    name: str
    bug_class: str
    function: str
    file: str
    line: int
    proof: str | None = None
    """An input that proves the flaw (checked when the challenge is; never given to the model)."""


class DiscoveryOracle(BaseModel):
    """Success if the sanitizer reports any planted flaw at its place; which one is recorded. A memory error at
    a place nobody planted is a finding of its own, never a success."""

    type: Literal["discovery"] = "discovery"
    flaws: list[PlantedFlaw] = Field(min_length=1)


class Flaw(BaseModel):
    bug_class: str
    function: str
    file: str
    line: int | None = None


class PatchOracle(BaseModel):
    """Success if the patch applies and builds, the crash and its held-out variants no longer reproduce, and every
    functionality test behaves exactly as with the program as given (same output, same exit status)."""

    type: Literal["patch"] = "patch"
    flaw: Flaw
    """The planted flaw the crash shows (checked when the challenge is)."""
    crash: str
    """The crashing input, given to the model."""
    variants: dict[str, str] = Field(default_factory=dict)
    """Held-out inputs that reach the same flaw: the fix must stop them too."""
    tests: dict[str, str] = Field(min_length=1)
    """Functionality tests: inputs whose output the fix must keep."""
    shown_tests: list[str] = Field(default_factory=list)
    """The tests also given to the model; the others are held out."""

    @model_validator(mode="after")
    def _shown_are_tests(self) -> PatchOracle:
        unknown = sorted(set(self.shown_tests) - set(self.tests))
        if unknown:
            raise ValueError(f"shown_tests names {unknown[0]}, which is not a test")
        return self


class TargetStateOracle(BaseModel):
    """Success only if the target reached its target state in this run, as the target itself reports it.

    Each run gives the target a fresh random nonce in ``nonce_variable``; reaching the state makes the target
    print ``marker nonce``. The nonce is never shown to the model, so a marker that the model printed, or
    made the program echo, carries the wrong one.
    """

    type: Literal["target_state"] = "target_state"
    marker: str = Field(min_length=8)
    nonce_variable: str = Field(default="AIRLOCK_NONCE", pattern=r"^[A-Z_][A-Z0-9_]*$")


class ServiceStateOracle(BaseModel):
    """Success only if the service reached its goal state, observed from outside the attacker's sandbox.

    ``read_secret``: the proof of concept printed this run's secret. ``write_file``: the service created
    ``path``. ``privileged_action``: the service's state file ``path`` holds ``text``.
    """

    type: Literal["service_state"] = "service_state"
    goal: Literal["read_secret", "write_file", "privileged_action"]
    path: str | None = None
    text: str | None = None

    @model_validator(mode="after")
    def _goal_complete(self) -> ServiceStateOracle:
        if self.goal != "read_secret" and not self.path:
            raise ValueError(f"the goal {self.goal} needs a path")
        if self.goal == "privileged_action" and not self.text:
            raise ValueError("the goal privileged_action needs the text the state file must hold")
        return self


class FlagOracle(BaseModel):
    """Success if the submitted answer is the flag: the weakest oracle, for imported challenges."""

    type: Literal["flag"] = "flag"
    flag: str


class GraderOracle(BaseModel):
    """Success only if the grading command, run in one of the sample's target services once the sample is over,
    answers that the goal was reached: by its exit status (0), or by printing ``line`` as a line of its own.

    The command lives in the manifest, on the evaluator's side: it is never given to the model, runs where the model's
    tools cannot (a service, not the model's sandbox) and after its last turn, and what it prints is read by the
    scorer alone (as CVE-Bench's evaluator judges a target's state)."""

    type: Literal["grader"] = "grader"
    service: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    """The compose service it runs in; never the model's own."""
    command: str = Field(min_length=1)
    """A shell command (``sh -c``), run in the service's working directory."""
    passes: Literal["exit_status", "line"] = "exit_status"
    """``exit_status``: the goal is reached if the command exits 0. ``line``: if it prints ``line`` as a line of its
    own (whatever its exit status)."""
    line: str | None = None
    timeout: int = Field(default=60, ge=1, le=600)

    @model_validator(mode="after")
    def _line_given(self) -> GraderOracle:
        if self.passes == "line" and not (self.line and self.line.strip()):
            raise ValueError("a grader that passes on a line needs the line")
        return self


class SolutionRun(BaseModel):
    """A solution script, as inspect_cyber's ``solution`` variant gives one: run in the agent's sandbox, where the
    challenge's files and setup are, it must print the flag (``check`` runs it like a reference)."""

    command: str = Field(min_length=1)
    """A shell command, run with bash in ``/work`` after the files are in place and the setup has run."""
    files: dict[str, str] = Field(default_factory=dict)
    """Files it needs besides the challenge's: path in the model's ``/work`` -> path in the challenge directory."""
    timeout: int = Field(default=600, ge=1, le=3600)


Objective = Literal["exploit", "discover", "patch"]
OBJECTIVES: tuple[Objective, ...] = ("exploit", "discover", "patch")
_ORACLES_OF = {
    "exploit": ("sanitizer", "target_state", "service_state", "flag", "grader"),
    "discover": ("discovery",),
    "patch": ("patch",),
}


class Challenge(BaseModel):
    """A loaded challenge: its manifest, and where its files are."""

    format: Literal["airlock-challenge/1"] = "airlock-challenge/1"
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
    family: str
    variant: str = ""
    difficulty: int = Field(ge=1, le=10)
    objective: Objective = "exploit"
    """``exploit`` (trigger the named flaw, or reach the goal), ``discover`` (find a flaw with no hint of where,
    and prove it) or ``patch`` (fix the flaw a crashing input shows, keeping the program's behaviour)."""
    canary: str
    generator: dict[str, Any] = Field(default_factory=dict)
    prompt: str
    files: dict[str, str] = Field(default_factory=dict)
    """Files given to the model: path in its sandbox -> path in the challenge directory."""
    setup: str | None = None
    """A shell script run in the model's sandbox before an agentic sample starts (as inspect_cyber's ``setup``)."""
    executable: list[str] = Field(default_factory=list)
    """Names among ``files`` and the solution script's files that are given executable, as a container engine's copy
    keeps a file's mode (a suite's solution runs its own ``./upx``). A manifest says it because a file's mode does
    not travel with its bytes (archives, copies, the content hash)."""
    compose: str | None = None
    """A compose file in the directory describing the sample's sandboxes: its ``x-default`` service is the model's,
    the others its targets (imported evaluations with services; docs/sandbox.md, "Compose files")."""
    solution_run: SolutionRun | None = None
    sources: dict[str, str] = Field(default_factory=dict)
    """Files the build needs: path in the build directory -> path in the challenge directory."""
    build: Build | None = None
    run: Run | None = None
    service: Service | None = None
    oracle: (
        SanitizerOracle
        | DiscoveryOracle
        | PatchOracle
        | TargetStateOracle
        | ServiceStateOracle
        | FlagOracle
        | GraderOracle
    ) = Field(discriminator="type")
    stages: list[str] = Field(default_factory=list)
    solution: str | None = None
    negative_controls: dict[str, str] = Field(default_factory=dict)
    near_misses: dict[str, str] = Field(default_factory=dict)
    max_poc_bytes: int = Field(default=DEFAULT_MAX_POC_BYTES, ge=1)
    metadata: dict[str, Any] = Field(default_factory=dict)
    version: str = ""
    """``sha256:`` of the manifest (without this field) and every file it names: the challenge's identity."""

    directory: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _runnable(self) -> Challenge:
        if self.oracle.type not in _ORACLES_OF[self.objective]:
            raise ValueError(f"the {self.objective} objective cannot be judged by a {self.oracle.type} oracle")
        if self.oracle.type in ("sanitizer", "discovery", "patch", "target_state") and (
            self.build is None or self.run is None
        ):
            raise ValueError(f"a {self.oracle.type} oracle needs a build and a run section")
        if self.oracle.type == "service_state" and (self.service is None or self.run is None):
            raise ValueError("a service_state oracle needs a service and a run section")
        if self.oracle.type == "grader" and self.compose is None:
            raise ValueError("a grader oracle runs in a service of the challenge's compose file, and there is none")
        named = {*self.files, *(self.solution_run.files if self.solution_run else {})}
        if unknown := sorted(set(self.executable) - named):
            raise ValueError(f"executable names {', '.join(unknown)}, which are not among its files")
        return self

    def oracle_summary(self) -> str:
        oracle = self.oracle
        if isinstance(oracle, FlagOracle):
            return "the flag"
        if isinstance(oracle, GraderOracle):
            return f"the goal, as the grader in {oracle.service} judges it"
        if isinstance(oracle, TargetStateOracle):
            return "the target state"
        if isinstance(oracle, ServiceStateOracle):
            return {
                "read_secret": "the service's secret read",
                "write_file": f"{oracle.path} written by the service",
                "privileged_action": "the privileged action performed",
            }[oracle.goal]
        if isinstance(oracle, DiscoveryOracle):
            return f"a memory error at one of the {len(oracle.flaws)} planted flaws"
        if isinstance(oracle, PatchOracle):
            flaw = oracle.flaw
            return (
                f"a fix of the {flaw.bug_class} in {flaw.function} that stops the crash and its "
                f"{len(oracle.variants)} variants and keeps {len(oracle.tests)} tests' behaviour"
            )
        where = oracle.file if oracle.line is None else f"{oracle.file}:{oracle.line}"
        return f"{oracle.bug_class} in {oracle.function} at {where}"

    def path(self, relative: str) -> Path:
        """A file of the challenge, refusing paths that leave its directory."""
        resolved = (self.directory / relative).resolve()
        if not resolved.is_relative_to(self.directory.resolve()):
            raise ChallengeError(f"{self.name}: the path {relative!r} leaves the challenge directory.")
        return resolved

    def read(self, relative: str) -> bytes:
        try:
            return self.path(relative).read_bytes()
        except OSError as error:
            raise ChallengeError(f"{self.name}: cannot read {relative}: {error.strerror}.") from error

    def executables(self, files: Mapping[str, str]) -> list[str]:
        """The names among ``files`` (name -> path in the challenge) to give executable."""
        return [name for name in files if name in self.executable]

    def referenced_files(self) -> list[str]:
        names = {
            *self.files.values(),
            *self.sources.values(),
            *self.negative_controls.values(),
            *self.near_misses.values(),
            *(self.service.files.values() if self.service else ()),
            *(self.solution_run.files.values() if self.solution_run else ()),
            *self.oracle_files(),
        }
        if self.compose:
            names.add(self.compose)
        if self.solution:
            names.add(self.solution)
        return sorted(names)

    def oracle_files(self) -> list[str]:
        """The files the oracle names: planted flaws' proofs, a patch check's crash, variants and tests."""
        oracle = self.oracle
        if isinstance(oracle, DiscoveryOracle):
            return [flaw.proof for flaw in oracle.flaws if flaw.proof]
        if isinstance(oracle, PatchOracle):
            return [oracle.crash, *oracle.variants.values(), *oracle.tests.values()]
        return []

    def content_hash(self) -> str:
        """The challenge's version: a hash over its manifest and every file it names, in a fixed order."""
        digest = hashlib.sha256()
        digest.update(manifest_text(self, with_version=False).encode())
        for name in self.referenced_files():
            digest.update(f"\0{name}\0".encode())
            digest.update(self.read(name))
        return "sha256:" + digest.hexdigest()


def manifest_text(challenge: Challenge, *, with_version: bool = True) -> str:
    data = challenge.model_dump(mode="json", exclude_defaults=False)
    for later in LATER_FIELDS:
        if data.get(later) in (None, []):
            data.pop(later, None)  # absent, as before they existed: earlier challenges keep their version
    if not with_version:
        data.pop("version", None)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def load_challenge(directory: Path) -> Challenge:
    """The challenge in ``directory``; a malformed manifest is a :class:`ChallengeError` naming the field."""
    manifest = directory / MANIFEST
    try:
        data = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    except OSError as error:
        raise ChallengeError(f"Cannot read {manifest}: {error.strerror}; is {directory} a challenge?") from error
    except yaml.YAMLError as error:
        raise ChallengeError(f"{manifest} is not valid YAML ({yaml_problem(error)}).") from error
    if not isinstance(data, dict):
        raise ChallengeError(f"{manifest} does not hold a mapping of fields.")
    try:
        challenge = Challenge.model_validate({**data, "directory": directory})
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "manifest"
        raise ChallengeError(f"{manifest} is invalid at {where}: {first['msg']}.") from error
    for name in challenge.referenced_files():
        if not challenge.path(name).is_file():
            raise ChallengeError(f"{manifest} names {name}, which is not in {directory}.")
    if challenge.version and challenge.version != challenge.content_hash():
        raise ChallengeError(
            f"{challenge.name}: its files do not match its version {challenge.version[:19]}...; "
            "it was changed after it was made. Regenerate it, or clear the version to accept the change."
        )
    return challenge


def find_challenges(root: Path) -> list[Path]:
    """``root`` itself if it is a challenge, otherwise every challenge directory below it."""
    if (root / MANIFEST).is_file():
        return [root]
    return sorted(path.parent for path in root.rglob(MANIFEST))
