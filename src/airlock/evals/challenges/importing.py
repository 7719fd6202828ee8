"""Import challenges written for inspect_cyber (``eval.yaml``) as Airlock challenges with a flag oracle.

inspect_cyber describes an evaluation as a name, a prompt, files copied into the sandbox, an optional setup
script, a flag and free metadata, with variants that override any of these; the sandbox itself is a
docker-compose file. Airlock's manifest expresses all of that except the compose file: Airlock runs the
model in its own ``bwrap`` sandbox, so an evaluation whose compose file defines other services (a target
to attack over the network) is refused rather than imported as a challenge that cannot be solved.

Every variant becomes one challenge directory. Files land in the model's ``/work`` (the sandbox's only
writable place), keeping their layout below the directory they shared in ``eval.yaml``; the prompt's
mentions of that directory are rewritten to ``/work``. The import is deterministic: the same ``eval.yaml``
and files give byte-identical challenges, canary included.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import shutil
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from airlock.errors import yaml_problem
from airlock.evals.challenges.manifest import Challenge, ChallengeError, load_challenge
from airlock.evals.challenges.validation import check_flag

EVAL_FILES = ("eval.yaml", "eval.yml")
FAMILY = "imported"
DEFAULT_DIFFICULTY = 5
CANARY_NAMESPACE = uuid.UUID("5b0f6c8e-6f1d-4d8e-9a57-2f1c3b7e4a10")
UNSUPPORTED = {
    "message_history": "a scripted message history",
}


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


def import_inspect_cyber(source: Path, out: Path, *, difficulty: int = DEFAULT_DIFFICULTY) -> list[Challenge]:
    """Import every variant of every ``eval.yaml`` in or below ``source`` into ``out`` (new or empty).

    Nothing is written unless every variant imports and passes its check.
    """
    from airlock.evals.challenges import generation  # the generators: only when importing (not for the CLI's help)

    found = _eval_files(source)
    if not found:
        raise ChallengeError(f"There is no eval.yaml in or below {source}; give an inspect_cyber evaluation directory.")
    if not 1 <= difficulty <= 10:
        raise ChallengeError(f"The difficulty must be from 1 to 10, not {difficulty}.")
    if out.exists() and any(out.iterdir()):
        raise ChallengeError(f"{out} is not empty; give a new directory so no earlier challenge is overwritten.")
    drafts = [draft for path in found for draft in _drafts(path, source, difficulty)]
    names = [str(manifest["name"]) for manifest, _ in drafts]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ChallengeError(f"Two evaluations would both be imported as {repeated[0]}; rename one of them.")
    staging = out.with_name(out.name + ".importing")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        challenges = []
        for manifest, files in drafts:
            written = generation.write_challenge(staging / str(manifest["name"]), manifest, files)
            report = check_flag(load_challenge(written.directory))
            if not report.passed:
                raise ChallengeError(f"{written.name} does not pass its check: {report.summary()}.")
            challenges.append(written)
        out.mkdir(parents=True, exist_ok=True)
        for challenge in challenges:
            (staging / challenge.name).rename(out / challenge.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    imported = [load_challenge(out / challenge.name) for challenge in challenges]
    generation.suite_index(out, imported)
    return imported


def _eval_files(source: Path) -> list[Path]:
    direct = [source / name for name in EVAL_FILES if (source / name).is_file()]
    if direct:
        return direct[:1]
    return sorted(path for name in EVAL_FILES for path in source.rglob(name))


def _drafts(path: Path, root: Path, difficulty: int) -> list[tuple[dict[str, object], dict[str, bytes]]]:
    where = path.relative_to(root) if path.is_relative_to(root) else path
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ChallengeError(f"Cannot read {path}: {error}.") from error
    except yaml.YAMLError as error:
        raise ChallengeError(f"{path} is not valid YAML ({yaml_problem(error)}).") from error
    if not isinstance(data, dict):
        raise ChallengeError(f"{path} does not hold a mapping of fields; is it an inspect_cyber eval.yaml?")
    for field, what in UNSUPPORTED.items():
        if field in data or any(isinstance(v, dict) and field in v for v in (data.get("variants") or {}).values()):
            raise ChallengeError(f"{path} uses {field} ({what}), which Airlock's challenges cannot express.")
    try:
        evaluation = _CyberEval.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        at = ".".join(str(part) for part in first["loc"]) or "the file"
        raise ChallengeError(f"{path} is invalid at {at}: {first['msg']}.") from error
    variants = evaluation.variants or {"": _CyberVariant()}
    return [
        _draft(evaluation, name, variant, path.parent, str(where), difficulty) for name, variant in variants.items()
    ]


def _draft(
    evaluation: _CyberEval, variant_name: str, variant: _CyberVariant, folder: Path, where: str, difficulty: int
) -> tuple[dict[str, object], dict[str, bytes]]:
    label = f"{evaluation.name} variant {variant_name}" if variant_name else evaluation.name
    prompt = variant.prompt or evaluation.prompt
    flag = variant.flag or evaluation.flag
    if not prompt:
        raise ChallengeError(f"{label} in {where} has no prompt; give the evaluation or the variant one.")
    if not flag:
        raise ChallengeError(f"{label} in {where} has no flag, and a flag is how an imported challenge is judged.")
    _refuse_other_services(variant.sandbox or evaluation.sandbox, folder, label)
    given = _given_files({**evaluation.files, **variant.files}, folder, label)
    prompt, placed = _placed_in_work(prompt, given)
    name = _challenge_name(evaluation.name, variant_name)
    metadata = {**evaluation.metadata, **variant.metadata}
    files = {f"files/{target}": content for target, content in placed.items()}
    answers = {
        "solution/answer.txt": f"{flag}\n".encode(),
        "controls/empty.txt": b"",
        "controls/no_flag.txt": b"I could not find the flag.\n",
        "controls/wrong_flag.txt": f"{_one_character_changed(flag)}\n".encode(),
    }
    files |= answers
    digest = hashlib.sha256(name.encode() + b"\0" + flag.encode())
    for target in sorted(placed):
        digest.update(f"\0{target}\0".encode() + placed[target])
    manifest: dict[str, object] = {
        "name": name,
        "family": FAMILY,
        "variant": variant_name,
        "difficulty": _difficulty(metadata, difficulty),
        "canary": f"AIRLOCK-CANARY {uuid.uuid5(CANARY_NAMESPACE, digest.hexdigest())}",
        "generator": {"module": __name__, "from": "inspect_cyber", "eval": where, "variant": variant_name},
        "prompt": prompt,
        "files": {target: f"files/{target}" for target in sorted(placed)},
        "setup": variant.setup or evaluation.setup,
        "oracle": {"type": "flag", "flag": flag},
        "solution": "solution/answer.txt",
        "negative_controls": {
            "empty": "controls/empty.txt",
            "no_flag": "controls/no_flag.txt",
            "wrong_flag": "controls/wrong_flag.txt",
        },
        "metadata": metadata,
    }
    return manifest, files


def _refuse_other_services(sandbox: _CyberSandbox | None, folder: Path, label: str) -> None:
    """An evaluation whose compose file runs more than the model's own container needs those services."""
    if sandbox is None or sandbox.config is None:
        return
    compose = folder / sandbox.config
    try:
        data = yaml.safe_load(compose.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ChallengeError(f"{label}: cannot read its sandbox file {compose}: {error}.") from error
    except yaml.YAMLError as error:
        problem = yaml_problem(error)
        raise ChallengeError(f"{label}: its sandbox file {compose} is not valid YAML ({problem}).") from error
    services = sorted((data or {}).get("services") or {}) if isinstance(data, dict) else []
    others = [service for service in services if service != "default"]
    if others:
        raise ChallengeError(
            f"{label} needs the services {', '.join(others)} of {sandbox.config}, which Airlock's sandbox "
            "does not run; describe its target as a service in a hand-written manifest (docs/challenges.md)."
        )


def _given_files(files: dict[str, str], folder: Path, label: str) -> dict[str, bytes]:
    """The files for the model's sandbox: destination path -> content; directories are taken whole."""
    given: dict[str, bytes] = {}
    for destination, local in files.items():
        service, colon, path = destination.partition(":")
        if colon and not service.startswith("/"):
            if service != "default":
                raise ChallengeError(
                    f"{label} copies {local} to the service {service}, which Airlock's sandbox does not run."
                )
            destination = path
        source = (folder / local).resolve()
        if not source.is_relative_to(folder.resolve()):
            raise ChallengeError(f"{label}: the file {local} is outside the evaluation's directory.")
        if source.is_dir():
            for inner in sorted(p for p in source.rglob("*") if p.is_file()):
                given[posixpath.join(destination, inner.relative_to(source).as_posix())] = inner.read_bytes()
        elif source.is_file():
            given[destination] = source.read_bytes()
        else:
            raise ChallengeError(f"{label} names the file {local}, which is not in {folder}.")
    return given


def _placed_in_work(prompt: str, given: dict[str, bytes]) -> tuple[str, dict[str, bytes]]:
    """The files relative to the directory they share, and the prompt with that directory read as /work."""
    if not given:
        return prompt, {}
    destinations = [PurePosixPath(posixpath.normpath(d if d.startswith("/") else "/work/" + d)) for d in given]
    shared = PurePosixPath(posixpath.commonpath([str(d.parent) for d in destinations]))
    placed = {
        d.relative_to(shared).as_posix(): content for d, content in zip(destinations, given.values(), strict=True)
    }
    for relative in placed:
        if relative.startswith("..") or relative.startswith("/"):
            raise ChallengeError(f"Cannot place {relative} below /work.")
    if str(shared) not in ("/", "/work"):
        prompt = re.sub(rf"{re.escape(str(shared))}(?=/|\b)", "/work", prompt)
    return prompt, placed


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
