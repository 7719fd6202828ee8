"""Import challenges written for inspect_cyber (``eval.yaml``) as Airlock challenges with a flag oracle.

inspect_cyber describes an evaluation as a name, a prompt, files copied into the sandbox, an optional setup
script, a flag and free metadata, with variants that override any of these; the sandbox itself is a
docker-compose file. Every variant becomes one challenge directory; a variant named ``solution`` (inspect_cyber's
convention) is not a task for the model but a solution script, kept with each challenge and run by ``check``. Without
one, ``solution/solution.sh`` beside the evaluation (CAISI's convention) is that script.

Files land in the model's ``/work`` (the sandbox's only writable place), keeping their layout below the directory
they shared in ``eval.yaml``; mentions of that directory in the prompt, the setup script and the solution are
rewritten to ``/work``. An evaluation whose compose file runs services besides the model's keeps that compose file
(its ``include:`` entries merged in, so it needs nothing outside the challenge): the sample then runs on Airlock's
compose support, every service on its image from the image store. The import is deterministic: the same
``eval.yaml`` and files give byte-identical challenges, canary included.

A folder is imported evaluation by evaluation: one that cannot be imported is refused with its reason and the others
go on; ``import-report.json`` in the output says what was imported and what was refused, and why.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import posixpath
import re
import shutil
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from airlock.errors import yaml_problem
from airlock.evals.challenges.manifest import Challenge, ChallengeError, load_challenge
from airlock.evals.challenges.validation import check_flag

EVAL_FILES = ("eval.yaml", "eval.yml", "samples.yaml", "samples.yml")
"""inspect_cyber's name for an evaluation's file, and the one its earlier releases (and CAISI's suites) use."""
FAMILY = "imported"
DEFAULT_DIFFICULTY = 5
CANARY_NAMESPACE = uuid.UUID("5b0f6c8e-6f1d-4d8e-9a57-2f1c3b7e4a10")
UNSUPPORTED = {
    "message_history": "a scripted message history",
}
SOLUTION_VARIANT = "solution"
SOLUTION_DIRECTORY = "solution"
SOLUTION_SCRIPT = "solution.sh"
SOLUTION_SETTINGS = "solution.yaml"
"""CAISI's convention: ``solution/solution.sh`` beside the evaluation, ``solution/solution.yaml`` its timeout."""
MAX_SOLUTION_TIMEOUT = 3600
COMPOSE_FILE = "compose.yaml"
REPORT_FILE = "import-report.json"
AGENT_KEY = "x-default"


class _CyberSandbox(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = "docker"
    config: str | None = None


class _CyberVariant(BaseModel):
    """One variant: every field overrides the evaluation's."""

    model_config = ConfigDict(extra="allow")

    prompt: str | None = None
    files: dict[str, str] = Field(default_factory=dict)
    setup: str | None = None
    flag: str | None = None
    sandbox: _CyberSandbox | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class _CyberEval(_CyberVariant):
    name: str
    variants: dict[str, _CyberVariant] = Field(default_factory=dict)


@dataclass(frozen=True)
class Refusal:
    """An evaluation (or one variant of it) that was not imported, and why, in one sentence."""

    eval: str
    """The evaluation's file, relative to the folder imported."""
    name: str
    reason: str


@dataclass
class ImportReport:
    """What an import made, and what it refused."""

    source: Path
    imported: list[Challenge] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "source": str(self.source),
            "imported": [
                {
                    "name": challenge.name,
                    "eval": challenge.generator.get("eval"),
                    "variant": challenge.variant,
                    "files": len(challenge.files),
                    "services": services_of(challenge),
                    "solution_script": challenge.solution_run is not None,
                    "version": challenge.version,
                }
                for challenge in self.imported
            ],
            "refused": [{"eval": r.eval, "name": r.name, "reason": r.reason} for r in self.refused],
        }


@dataclass(frozen=True)
class _Draft:
    eval: str
    manifest: dict[str, object]
    files: dict[str, bytes]
    compose_source: str | None = None
    """The evaluation's compose file, as ``eval.yaml`` names it, where the challenge keeps one."""

    @property
    def name(self) -> str:
        return str(self.manifest["name"])


def import_inspect_cyber(source: Path, out: Path, *, difficulty: int = DEFAULT_DIFFICULTY) -> ImportReport:
    """Import every variant of every ``eval.yaml`` in or below ``source`` into ``out`` (new or empty).

    Each variant is imported on its own: one that cannot be is refused, with its reason in the report, and the others
    go on. Challenges are written to a staging directory beside ``out`` and moved into it only once each has passed
    its check; with nothing imported, nothing is written.
    """
    from airlock.evals.challenges import generation  # the generators: only when importing (not for the CLI's help)

    found = _eval_files(source)
    if not found:
        raise ChallengeError(f"There is no eval.yaml in or below {source}; give an inspect_cyber evaluation directory.")
    if not 1 <= difficulty <= 10:
        raise ChallengeError(f"The difficulty must be from 1 to 10, not {difficulty}.")
    if out.exists() and any(out.iterdir()):
        raise ChallengeError(f"{out} is not empty; give a new directory so no earlier challenge is overwritten.")
    report = ImportReport(source)
    drafts: list[_Draft] = []
    for path in found:
        where = str(path.relative_to(source) if path.is_relative_to(source) else path)
        try:
            outcomes = _drafts(path, where, difficulty)
        except ChallengeError as error:
            report.refused.append(Refusal(where, where, str(error)))
            continue
        for outcome in outcomes:
            if isinstance(outcome, Refusal):
                report.refused.append(outcome)
            elif any(draft.name == outcome.name for draft in drafts):
                reason = f"Another evaluation is already imported as {outcome.name}; rename one of them."
                report.refused.append(Refusal(where, outcome.name, reason))
            else:
                drafts.append(outcome)
    staging = out.with_name(out.name + ".importing")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for draft in drafts:
            problem = _written_and_checked(generation.write_challenge, staging, draft)
            if problem is not None:
                shutil.rmtree(staging / draft.name, ignore_errors=True)
                report.refused.append(Refusal(draft.eval, draft.name, problem))
                continue
            report.imported.append(load_challenge(staging / draft.name))
        if not report.imported:
            return report
        out.mkdir(parents=True, exist_ok=True)
        for challenge in report.imported:
            (staging / challenge.name).rename(out / challenge.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report.imported = [load_challenge(out / challenge.name) for challenge in report.imported]
    generation.suite_index(out, report.imported)
    (out / REPORT_FILE).write_text(json.dumps(report.as_json(), indent=2) + "\n", encoding="utf-8")
    return report


def services_of(challenge: Challenge) -> list[str]:
    """The services a challenge's compose file runs besides the model's own sandbox (none without one)."""
    if challenge.compose is None:
        return []
    document = yaml.safe_load(challenge.read(challenge.compose)) or {}
    services = document.get("services") or {}
    agent = _agent_service(services)
    return sorted(name for name in services if name != agent)


def _written_and_checked(write: Any, staging: Path, draft: _Draft) -> str | None:
    """Write the draft into ``staging`` and check it; what is wrong with it, in one sentence, or None."""
    from airlock.sandbox import SandboxConfigError
    from airlock.sandbox.compose import config_from_compose

    try:
        written = write(staging / draft.name, draft.manifest, draft.files)
        if written.compose is not None:
            compose = written.path(written.compose)
            try:
                config_from_compose(compose)
            except SandboxConfigError as error:
                return f"{draft.name}: {str(error).replace(str(compose), str(draft.compose_source))}"
        report = check_flag(load_challenge(written.directory))
    except ChallengeError as error:
        return str(error)
    if not report.passed:
        return f"{draft.name} does not pass its check: {report.summary()}."
    return None


def _eval_files(source: Path) -> list[Path]:
    direct = [source / name for name in EVAL_FILES if (source / name).is_file()]
    if direct:
        return direct[:1]
    found = sorted(path for name in EVAL_FILES for path in source.rglob(name))
    # One evaluation per directory: eval.yaml before the older samples.yaml where a directory holds both.
    firsts: dict[Path, Path] = {}
    for path in sorted(found, key=lambda p: EVAL_FILES.index(p.name)):
        firsts.setdefault(path.parent, path)
    return sorted(firsts.values())


def _drafts(path: Path, where: str, difficulty: int) -> list[_Draft | Refusal]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ChallengeError(f"Cannot read {path}: {error}.") from error
    except yaml.YAMLError as error:
        raise ChallengeError(f"{path} is not valid YAML ({yaml_problem(error)}).") from error
    if not isinstance(data, dict):
        raise ChallengeError(f"{path} does not hold a mapping of fields; is it an inspect_cyber eval.yaml?")
    for name, what in UNSUPPORTED.items():
        if name in data or any(isinstance(v, dict) and name in v for v in (data.get("variants") or {}).values()):
            raise ChallengeError(f"{path} uses {name} ({what}), which Airlock's challenges cannot express.")
    try:
        evaluation = _CyberEval.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        at = ".".join(str(part) for part in first["loc"]) or "the file"
        raise ChallengeError(f"{path} is invalid at {at}: {first['msg']}.") from error
    variants = dict(evaluation.variants) or {"": _CyberVariant()}
    solution = variants.pop(SOLUTION_VARIANT, None)
    if not variants:
        raise ChallengeError(f"{path} has only a solution variant; give it a variant with the task for the model.")
    outcomes: list[_Draft | Refusal] = []
    for name, variant in variants.items():
        try:
            outcomes.append(_draft(evaluation, name, variant, solution, path.parent, where, difficulty))
        except ChallengeError as error:
            label = f"{evaluation.name} variant {name}" if name else evaluation.name
            outcomes.append(Refusal(where, _challenge_name(evaluation.name, name) or label, str(error)))
    return outcomes


def _draft(
    evaluation: _CyberEval,
    variant_name: str,
    variant: _CyberVariant,
    solution: _CyberVariant | None,
    folder: Path,
    where: str,
    difficulty: int,
) -> _Draft:
    label = f"{evaluation.name} variant {variant_name}" if variant_name else evaluation.name
    prompt = variant.prompt or evaluation.prompt
    flag = variant.flag or evaluation.flag
    if not prompt:
        raise ChallengeError(f"{label} in {where} has no prompt; give the evaluation or the variant one.")
    if not flag:
        raise ChallengeError(f"{label} in {where} has no flag, and a flag is how an imported challenge is judged.")
    sandbox = variant.sandbox or evaluation.sandbox
    agent, compose = _compose(sandbox, folder, label)
    metadata = {**evaluation.metadata, **variant.metadata}
    modes: set[str] = set()  # destinations whose source is executable
    given = _given_files({**evaluation.files, **variant.files}, folder, label, agent, modes)
    solution_given = (
        _given_files(solution.files, folder, f"{label} (its solution variant)", agent, modes) if solution else {}
    )
    shared = _shared_directory([*given, *solution_given])
    placed, solution_placed = _in_work(given, shared), _in_work(solution_given, shared)
    executable = {_absolute(destination).relative_to(shared).as_posix() for destination in modes}
    setup = variant.setup or evaluation.setup or _setup_in(metadata)
    name = _challenge_name(evaluation.name, variant_name)
    files = {f"files/{target}": content for target, content in placed.items()}
    files |= {
        "solution/answer.txt": f"{flag}\n".encode(),
        "controls/empty.txt": b"",
        "controls/no_flag.txt": b"I could not find the flag.\n",
        "controls/wrong_flag.txt": f"{_one_character_changed(flag)}\n".encode(),
    }
    digest = hashlib.sha256(name.encode() + b"\0" + flag.encode())
    for target in sorted(placed):
        digest.update(f"\0{target}\0".encode() + placed[target])
    manifest: dict[str, object] = {
        "name": name,
        "family": FAMILY,
        "variant": variant_name,
        "difficulty": _difficulty(metadata, difficulty),
        "canary": "",
        "generator": {"module": __name__, "from": "inspect_cyber", "eval": where, "variant": variant_name},
        "prompt": _rewritten(prompt, shared),
        "files": {target: f"files/{target}" for target in sorted(placed)},
        "setup": None if setup is None else _rewritten(setup, shared),
        "oracle": {"type": "flag", "flag": flag},
        "solution": "solution/answer.txt",
        "negative_controls": {
            "empty": "controls/empty.txt",
            "no_flag": "controls/no_flag.txt",
            "wrong_flag": "controls/wrong_flag.txt",
        },
        "metadata": metadata,
    }
    if compose is not None:
        text = yaml.safe_dump(compose, sort_keys=False, allow_unicode=True).encode()
        files[COMPOSE_FILE] = text
        manifest["compose"] = COMPOSE_FILE
        digest.update(b"\0compose\0" + text)
    # The solution script: inspect_cyber's solution variant (its prompt is the command), or, where there is none,
    # CAISI's solution/solution.sh beside the challenge. Either is recorded the same way.
    run: tuple[str, dict[str, bytes], int | None] | None
    if solution is not None:
        if not solution.prompt:
            raise ChallengeError(
                f"{label}: its solution variant has no prompt, which is the command that runs the solution "
                "(inspect_cyber's convention); give it one, such as ./solution.sh."
            )
        run = (_rewritten(solution.prompt, shared), solution_placed, None)
    else:
        run = _solution_beside(folder, label, executable)
    if run is not None:
        command, placed, timeout = run
        files |= {f"solution/run/{target}": content for target, content in placed.items()}
        manifest["solution_run"] = {
            "command": command,
            "files": {target: f"solution/run/{target}" for target in sorted(placed)},
            **({} if timeout is None else {"timeout": timeout}),
        }
        digest.update(b"\0solution\0" + command.encode())
        for target in sorted(placed):
            digest.update(f"\0{target}\0".encode() + placed[target])
    if executable:
        manifest["executable"] = sorted(executable)
    manifest["canary"] = f"AIRLOCK-CANARY {uuid.uuid5(CANARY_NAMESPACE, digest.hexdigest())}"
    return _Draft(where, manifest, files, None if compose is None or sandbox is None else sandbox.config)


def _solution_beside(folder: Path, label: str, executable: set[str]) -> tuple[str, dict[str, bytes], int | None] | None:
    """CAISI's convention where there is no ``solution`` variant: ``solution/solution.sh`` beside the evaluation,
    run from a directory holding the challenge's files and every file of ``solution/`` (its ``solve.py`` and the
    like), with the timeout its ``solution/solution.yaml`` may give. None where the evaluation has no such script."""
    directory = folder / SOLUTION_DIRECTORY
    if not (directory / SOLUTION_SCRIPT).is_file():
        return None
    files: dict[str, bytes] = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = path.relative_to(directory).as_posix()
        _inside(path, folder, f"{SOLUTION_DIRECTORY}/{relative}", label)
        if relative != SOLUTION_SETTINGS:
            files[relative] = path.read_bytes()
            if _is_executable(path):
                executable.add(relative)
    timeout = None
    if (directory / SOLUTION_SETTINGS).is_file():
        try:
            settings = yaml.safe_load((directory / SOLUTION_SETTINGS).read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            raise ChallengeError(
                f"{label}: its {SOLUTION_DIRECTORY}/{SOLUTION_SETTINGS} is not valid YAML; correct or remove it."
            ) from error
        given = settings.get("timeout") if isinstance(settings, dict) else None
        if isinstance(given, int) and 1 <= given <= MAX_SOLUTION_TIMEOUT:
            timeout = given
    return f"bash {SOLUTION_SCRIPT}", files, timeout


def _setup_in(metadata: dict[str, Any]) -> str | None:
    """CAISI's suites give the setup script as ``metadata.setup``, which their task runs like inspect_cyber's."""
    given = metadata.get("setup")
    return given if isinstance(given, str) and given.strip() else None


def _compose(sandbox: _CyberSandbox | None, folder: Path, label: str) -> tuple[str, dict[str, Any] | None]:
    """The agent's service name, and the compose document to keep with the challenge: None where the compose file
    runs nothing besides the model's own container (the challenge then runs in Airlock's agent sandbox)."""
    from airlock.sandbox import SandboxConfigError
    from airlock.sandbox.compose import self_contained

    if sandbox is None or sandbox.config is None:
        return "default", None
    if sandbox.type not in ("docker", "bwrap"):
        raise ChallengeError(
            f"{label} runs in a {sandbox.type} sandbox; only docker compose files can be imported, so give it one."
        )
    compose = (folder / sandbox.config).resolve()
    if not compose.is_relative_to(folder.resolve()):
        raise ChallengeError(f"{label}: its sandbox file {sandbox.config} is outside the evaluation's directory.")
    try:
        document = self_contained(compose)
    except SandboxConfigError as error:
        raise ChallengeError(f"{label}: {error}") from error
    services = document.get("services")
    if not isinstance(services, dict) or not services:
        raise ChallengeError(f"{label}: its sandbox file {sandbox.config} has no services; give it the agent's.")
    agent = _agent_service(services)
    for service in services.values():
        if isinstance(service, dict):
            _drop_placeholder_volumes(service)
    if len(services) == 1:
        return agent, None
    return agent, document


def _agent_service(services: dict[str, Any]) -> str:
    """The service the model works in: the one marked ``x-default``, else ``default``, else the first (as Inspect's
    docker provider, and :mod:`airlock.sandbox.compose`, choose it)."""
    marked = [name for name, service in services.items() if isinstance(service, dict) and service.get(AGENT_KEY)]
    if marked:
        return str(marked[0])
    return "default" if "default" in services else str(next(iter(services)))


def _drop_placeholder_volumes(service: dict[str, Any]) -> None:
    """A volume from ``/dev/null`` binds nothing (CAISI's agent service mounts one where its runner could put files):
    dropped, so that the volumes a sandbox cannot honour are the only ones refused."""
    volumes = service.get("volumes")
    if not isinstance(volumes, list):
        return
    kept = [v for v in volumes if not (isinstance(v, str) and v.split(":", 1)[0] == "/dev/null")]
    if kept:
        service["volumes"] = kept
    else:
        del service["volumes"]


def _given_files(files: dict[str, str], folder: Path, label: str, agent: str, executable: set[str]) -> dict[str, bytes]:
    """The files for the model's sandbox: destination path -> content; directories are taken whole. The destinations
    of executable files are added to ``executable``.

    A value is a path in the evaluation's directory, a ``data:`` URI (base64 or percent-encoded text), or the file's
    contents written inline (any value holding a line break or a space that names no file, as Inspect reads it).
    """
    given: dict[str, bytes] = {}
    for destination, local in files.items():
        service, colon, path = destination.partition(":")
        if colon and not service.startswith("/"):
            if service not in ("default", agent):
                raise ChallengeError(
                    f"{label} copies {_shown(local)} to the service {service}; only the model's sandbox takes files, "
                    "so put the file in that service's image."
                )
            destination = path
        if local.startswith("data:"):
            given[destination] = _data_uri(local, label)
            continue
        if "\n" in local:
            given[destination] = local.encode()
            continue
        source = (folder / local).resolve()
        if source.is_dir():
            for inner in sorted(p for p in source.rglob("*") if p.is_file()):
                _inside(inner, folder, local, label)
                inner_destination = posixpath.join(destination, inner.relative_to(source).as_posix())
                given[inner_destination] = inner.read_bytes()
                if _is_executable(inner):
                    executable.add(inner_destination)
        elif source.is_file():
            _inside(source, folder, local, label)
            given[destination] = source.read_bytes()
            if _is_executable(source):
                executable.add(destination)
        elif any(character.isspace() for character in local):
            given[destination] = local.encode()
        else:
            _inside(source, folder, local, label)
            raise ChallengeError(
                f"{label} names the file {local}, which is not in {folder}; to give the contents themselves, write "
                "them over several lines or as a data: URI."
            )
    return given


def _is_executable(path: Path) -> bool:
    return bool(path.stat().st_mode & 0o111)


def _inside(path: Path, folder: Path, local: str, label: str) -> None:
    if not path.resolve().is_relative_to(folder.resolve()):
        raise ChallengeError(
            f"{label}: the file {local} is outside the evaluation's directory; copy it into the directory."
        )


def _shown(local: str) -> str:
    return local if len(local) <= 60 and "\n" not in local else "inline contents"


def _data_uri(uri: str, label: str) -> bytes:
    """The bytes of a ``data:`` URI (RFC 2397): base64 with ``;base64``, percent-encoded text without."""
    header, comma, payload = uri.partition(",")
    if not comma:
        raise ChallengeError(f"{label} gives a data: URI without a comma before its data; write data:[type],DATA.")
    if header.endswith(";base64"):
        try:
            return base64.b64decode("".join(payload.split()), validate=True)
        except (binascii.Error, ValueError) as error:
            raise ChallengeError(
                f"{label} gives a data: URI whose base64 data is not valid; encode it again."
            ) from error
    return urllib.parse.unquote_to_bytes(payload)


def _shared_directory(destinations: list[str]) -> PurePosixPath:
    """The directory the destinations share, which becomes the model's /work."""
    if not destinations:
        return PurePosixPath("/work")
    paths = [_absolute(destination) for destination in destinations]
    return PurePosixPath(posixpath.commonpath([str(path.parent) for path in paths]))


def _absolute(destination: str) -> PurePosixPath:
    return PurePosixPath(posixpath.normpath(destination if destination.startswith("/") else "/work/" + destination))


def _in_work(given: dict[str, bytes], shared: PurePosixPath) -> dict[str, bytes]:
    """The files by their path below the shared directory, which is the model's /work."""
    placed = {_absolute(destination).relative_to(shared).as_posix(): content for destination, content in given.items()}
    for relative in placed:
        if relative.startswith("..") or relative.startswith("/"):
            raise ChallengeError(f"Cannot place {relative} below /work.")
    return placed


def _rewritten(text: str, shared: PurePosixPath) -> str:
    """``text`` with its mentions of the shared directory read as /work."""
    if str(shared) in ("/", "/work"):
        return text
    return re.sub(rf"{re.escape(str(shared))}(?=/|\b)", "/work", text)


def _challenge_name(evaluation: str, variant: str) -> str:
    joined = f"{evaluation}-{variant}" if variant else evaluation
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", joined).strip("-.")[:128]
    return name or "imported"


def _difficulty(metadata: dict[str, Any], default: int) -> int:
    given = metadata.get("difficulty")
    if isinstance(given, int) and 1 <= given <= 10:
        return given
    return default


def _one_character_changed(flag: str) -> str:
    """The flag with its last letter or digit changed: a near guess must not pass."""
    for index in range(len(flag) - 1, -1, -1):
        if flag[index].isalnum():
            replacement = "0" if flag[index] != "0" else "1"
            return flag[:index] + replacement + flag[index + 1 :]
    return flag + "x"
