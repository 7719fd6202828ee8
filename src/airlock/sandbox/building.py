"""Building images offline-friendly: from Debian packages and PyPI, or from a Dockerfile's common subset.

A lab without a container engine still receives suites whose targets are described by Dockerfiles. Most of them
are small: a Python, Debian, Ubuntu or Alpine base, packages from the distribution and from PyPI, files copied from
the build context, a few shell commands (``useradd``, ``chmod``), and a command line (socat or xinetd in front of a
script). :func:`recipe_from_dockerfile` reads that subset into a :class:`Recipe`, and :func:`build` makes the image
with ``mmdebstrap`` on **Debian** (the release given, bookworm by default), whatever the Dockerfile's base was:

* the base is *substituted*, never fetched: ``python:3.9-slim`` becomes Debian's Python 3 with pip and ``python``
  as an alias, ``nginx:1.23`` Debian's nginx, ``alpine`` Debian with shims for Alpine's ``adduser``/``addgroup``
  flags, and so on (:data:`BASES`); each substitution is written in the recipe's ``notes``, which ``airlock images
  build`` prints, because a target on another Python or nginx than its authors' may behave differently;
* packages named to ``apt-get``/``apt``/``apk`` anywhere in a ``RUN`` are installed by mmdebstrap first (Alpine
  names mapped to Debian's, :data:`ALPINE_PACKAGES`), and inside the ``RUN`` those commands do nothing; every other
  command runs as written, in order, in the image being built (``pip install`` from PyPI included);
* what cannot be reproduced without a registry or an engine is refused in one sentence naming it: a base this
  module does not know (a Go, Rust, Java build image), a stage built ``FROM`` an earlier one, ``COPY --from`` an
  image, ``ADD`` of a URL. Several stages are built each as a root filesystem, the image copying from them.

``USER`` is recorded but has no effect (a compose file says who a service runs as), ``EXPOSE`` is the network's
business and ``HEALTHCHECK`` the compose file's. Building needs Debian's and PyPI's mirrors, or local copies of them (an
air-gapped lab points apt and pip at its own); running an image never downloads anything.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import ssl
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from airlock.sandbox.images import DEFAULT_PATH, Image, ImageError, ImageStore, write_oci_archive

BUILD_DIR = "/.airlock-build"
"""What a build puts in the image for its own steps, removed before the image is written."""
SHIMS = f"{BUILD_DIR}/bin"
"""Where the commands a Dockerfile's ``RUN`` must not really run are shadowed."""
BUILD_CA = f"{BUILD_DIR}/ca-certificates.crt"
"""The building host's trusted certificates, for the steps' downloads only: a lab whose mirrors or proxy use its
own certificate authority builds as its hosts already download (the image keeps its own Debian store)."""
PASSED_THROUGH = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "PIP_INDEX_URL")
"""The building host's settings that a step's downloads follow too."""


@dataclass(frozen=True)
class Base:
    """What a Dockerfile's base image becomes on Debian."""

    packages: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    cmd: tuple[str, ...] = ()
    alpine: bool = False
    """Alpine's busybox ``adduser``/``addgroup`` flags are translated."""
    setup: str = ""
    """A shell step run before the Dockerfile's own, to give the base's layout (where its programs are)."""


ALPINE_TOOLS = ("busybox", "wget", "unzip")
"""What Alpine's busybox gives every Alpine image and Debian's minimal system lacks."""
_PYTHON = Base(
    packages=("python3", "python3-pip", "python3-venv", "python-is-python3"),
    env=(("PIP_BREAK_SYSTEM_PACKAGES", "1"),),
    cmd=("python3",),
    # The official Python images keep their Python in /usr/local/bin, and targets name it there (xinetd's
    # ``server = /usr/local/bin/python``).
    setup="for name in python python3 pip pip3; do ln -sf /usr/bin/$name /usr/local/bin/$name; done",
)
BASES: dict[str, Base] = {
    "python": _PYTHON,
    "debian": Base(),
    "ubuntu": Base(),
    "alpine": Base(packages=ALPINE_TOOLS, alpine=True),
    "nginx": Base(packages=("nginx", "curl"), cmd=("nginx", "-g", "daemon off;")),
    "openjdk": Base(packages=("default-jre-headless",)),
    "php": Base(
        packages=("php-cli", "curl"),
        cmd=("php", "-a"),
        # The official images run PHP without a php.ini, so PHP's own defaults hold where Debian's php.ini says
        # otherwise: $_ENV filled (targets read their flag from it) and <? short tags read as PHP.
        setup="for d in /etc/php/*/cli/conf.d; do printf 'short_open_tag=On\\nvariables_order=EGPCS\\n' "
        '> "$d/00-official-image.ini"; done',
    ),
}
"""Base image repositories (the name before ``:``, without a registry or ``library/``) and what they become.
A ``-alpine`` tag of any of them adds Alpine's shims too."""
ALPINE_PACKAGES = {
    "build-base": "build-essential",
    "musl-dev": "libc6-dev",
    "linux-headers": "linux-libc-dev",
    "py3-pip": "python3-pip",
    "pcre": "libpcre3",
    "pcre-dev": "libpcre3-dev",
    "libffi-dev": "libffi-dev",
    "openssl-dev": "libssl-dev",
    "zlib-dev": "zlib1g-dev",
    "gmp-dev": "libgmp-dev",
    "g++": "g++",
    "python3": "python3",
}
"""Alpine package names whose Debian package is named otherwise (others are taken as Debian names)."""
PACKAGE_MANAGERS = ("apt-get", "apt", "apk")
BASE_PACKAGES = ("passwd", "adduser", "ca-certificates")
"""What every Dockerfile build gets, as container base images have them (``useradd``, ``adduser``)."""


@dataclass
class Step:
    """One thing done to the image being built, in the Dockerfile's order."""

    kind: str
    """``copy`` (``sources`` on the host into ``target``, or extracted where ``extract``), ``run`` (``shell``)."""
    target: str = ""
    sources: list[Path] = field(default_factory=list)
    extract: bool = False
    mode: int | None = None
    stage: Recipe | None = None
    """A ``copy`` from an earlier stage: ``sources`` are then paths (or patterns) inside that stage's root."""
    inside: list[str] = field(default_factory=list)
    shell: str = ""
    """The ``run`` step's command line (``/bin/sh -c``, in the image being built)."""
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"


@dataclass
class Recipe:
    """An image to build with mmdebstrap: packages, then steps, then how to run it."""

    name: str
    suite: str = "bookworm"
    packages: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=lambda: {"PATH": DEFAULT_PATH})
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    working_dir: str = ""
    alpine_shims: bool = False
    notes: list[str] = field(default_factory=list)
    """What was substituted or ignored, in sentences, for the person building it."""


def recipe_from_packages(name: str, packages: list[str], pip: list[str], suite: str = "bookworm") -> Recipe:
    """An image of Debian ``packages`` (and ``pip`` from PyPI)."""
    if not packages:
        raise ImageError("Name at least one Debian package to build from (--package).")
    wanted = [*packages, *(["python3-pip"] if pip and "python3-pip" not in packages else [])]
    env = {"PATH": DEFAULT_PATH, **({"PIP_BREAK_SYSTEM_PACKAGES": "1"} if pip else {})}
    steps = [Step("run", shell="python3 -m pip install --no-cache-dir " + shlex.join(pip), env=env)] if pip else []
    return Recipe(name=name, suite=suite, packages=wanted, steps=steps, env=env)


# Reading a Dockerfile -----------------------------------------------------------------------------------------


def recipe_from_dockerfile(
    dockerfile: Path, name: str, *, context: Path | None = None, suite: str = "bookworm"
) -> Recipe:
    """The recipe for the image ``dockerfile`` describes, its ``COPY`` sources read from ``context`` (by default the
    Dockerfile's folder). Raises :class:`ImageError`, naming the instruction, for what cannot be built here.

    Each stage of a multi-stage Dockerfile is a recipe of its own; the last is the image, and the stages it copies
    from (``COPY --from=NAME``, or the stage's number) are built first, as root filesystems only."""
    context = (context or dockerfile.parent).resolve()
    try:
        text = dockerfile.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ImageError(f"{dockerfile} cannot be read ({error}).") from error
    instructions = _instructions(text)
    if not any(keyword == "FROM" for keyword, _ in instructions):
        raise ImageError(f"{dockerfile} has no FROM instruction; it does not describe an image.")
    stages: list[Recipe] = []
    names: dict[str, int] = {}
    arguments: dict[str, str] = {}
    recipe: Recipe | None = None
    workdir = "/"
    for keyword, rest in instructions:
        rest = _substitute(rest, {**arguments, **(recipe.env if recipe else {})})
        if keyword == "ARG":
            key, _, default = rest.partition("=")
            arguments[key.strip()] = default.strip().strip("\"'")
            continue
        if keyword == "FROM":
            words = rest.split()
            if len(words) >= 3 and words[1].upper() == "AS":
                names[words[2]] = len(stages)
            if words[0] in names:
                raise ImageError(f"{dockerfile}: FROM {words[0]} builds on an earlier stage, which is not supported.")
            recipe = Recipe(name=f"{name} (stage {len(stages)})", suite=suite, packages=list(BASE_PACKAGES))
            stages.append(recipe)
            workdir = "/"
            _apply_base(recipe, words[0], dockerfile)
            continue
        if recipe is None:
            raise ImageError(f"{dockerfile}: {keyword} comes before FROM.")
        if keyword == "ENV":
            recipe.env.update(_pairs(rest))
        elif keyword == "WORKDIR":
            workdir = str(PurePosixPath(workdir) / rest.strip())
            recipe.working_dir = workdir
            recipe.steps.append(Step("run", shell=f"mkdir -p {shlex.quote(workdir)}"))  # noqa: S604 (a build step)
        elif keyword in ("COPY", "ADD"):
            recipe.steps.append(_copy_step(keyword, rest, workdir, context, dockerfile, names, stages[:-1]))
        elif keyword == "RUN":
            shell = _json_or_shell(rest)
            recipe.packages += [p for p in _installed_packages(shell, recipe.alpine_shims) if p not in recipe.packages]
            recipe.steps.append(Step("run", shell=shell, env=dict(recipe.env), workdir=workdir))
        elif keyword == "CMD":
            recipe.cmd = _command(rest)
        elif keyword == "ENTRYPOINT":
            recipe.entrypoint = _command(rest)
            recipe.cmd = []
        elif keyword == "USER":
            recipe.notes.append(
                f"USER {rest.strip()} has no effect: a service runs as root, or as the user its compose file names."
            )
        elif keyword in ("EXPOSE", "LABEL", "HEALTHCHECK", "STOPSIGNAL", "MAINTAINER"):
            continue
        else:
            raise ImageError(f"{dockerfile}: the instruction {keyword} cannot be built without a container engine.")
    final = stages[-1]
    final.name = name
    for stage in stages:
        if "curl" in stage.packages:
            # The suites' bases carry curl before 7.66, which took an answer without HTTP headers (HTTP/0.9) as a
            # success, and their healthchecks rely on it against plain TCP services; Debian's curl refuses them.
            stage.steps.append(Step("run", shell=CURL_AS_BEFORE))
    if "curl" in final.packages:
        final.notes.append("curl accepts HTTP/0.9 answers, as the curl of older bases did (healthchecks use it).")
    final.notes = [note for stage in stages[:-1] for note in stage.notes] + final.notes
    return final


CURL_AS_BEFORE = (
    "printf '#!/bin/sh\\nexec /usr/bin/curl --http0.9 \"$@\"\\n' > /usr/local/bin/curl && chmod 755 /usr/local/bin/curl"
)


def _instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, the rest) for each instruction, continuation lines joined and comment lines dropped."""
    instructions: list[tuple[str, str]] = []
    pending: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.strip().startswith("#") or (pending and not line.strip()):
            continue
        if line.rstrip().endswith("\\"):
            pending.append(line.rstrip()[:-1])
            continue
        whole = " ".join([*pending, line]).strip()
        pending = []
        if whole:
            keyword, _, rest = whole.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def _substitute(text: str, variables: dict[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` of the Dockerfile's ARG and ENV (others left for the shell)."""

    def value(found: re.Match[str]) -> str:
        key = found.group(1) or found.group(2)
        return variables.get(key, found.group(0))

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, text)


def _apply_base(recipe: Recipe, reference: str, dockerfile: Path) -> None:
    image = reference.split("@", 1)[0]
    repository, _, tag = image.rpartition("/")[2].partition(":")
    base = BASES.get(repository)
    if base is None:
        raise ImageError(
            f"{dockerfile}: the base image {reference} cannot be rebuilt from Debian packages here (known bases: "
            f"{', '.join(sorted(BASES))}); build it where a container engine is, then airlock images import it."
        )
    recipe.packages += [p for p in base.packages if p not in recipe.packages]
    recipe.env.update(dict(base.env))
    recipe.cmd = list(base.cmd)
    if repository == "php" and "apache" in tag:
        # Apache would switch to its own user, which a one-user sandbox cannot; PHP's own server serves the same
        # document root on the same port.
        recipe.cmd = ["php", "-S", "0.0.0.0:80", "-t", "/var/www/html"]
        recipe.notes.append("Apache is substituted by PHP's built-in server on port 80, serving /var/www/html.")
    recipe.alpine_shims = base.alpine or "alpine" in tag
    if recipe.alpine_shims:
        recipe.packages += [p for p in ALPINE_TOOLS if p not in recipe.packages]
    if base.setup:
        recipe.steps.append(Step("run", shell=base.setup, env=dict(recipe.env)))
    recipe.notes.append(
        f"The base {reference} is substituted by Debian {recipe.suite}"
        + (f" with {', '.join(base.packages)}" if base.packages else "")
        + "."
    )


def _pairs(text: str) -> dict[str, str]:
    """``ENV`` in both its forms: ``KEY=value KEY2="two words"`` and ``KEY value``."""
    words = shlex.split(text)
    if words and "=" not in words[0]:
        return {words[0]: text.split(None, 1)[1].strip() if len(words) > 1 else ""}
    return dict(word.split("=", 1) for word in words if "=" in word)


def _json_or_shell(text: str) -> str:
    if text.startswith("["):
        try:
            words = json.loads(text)
        except json.JSONDecodeError:
            return text
        return shlex.join(str(word) for word in words)
    return text


def _command(text: str) -> list[str]:
    """``CMD``/``ENTRYPOINT``: the JSON form as it is; the shell form through ``/bin/sh -c``, as Docker runs it."""
    if text.startswith("["):
        try:
            return [str(word) for word in json.loads(text)]
        except json.JSONDecodeError:
            pass
    return ["/bin/sh", "-c", text]


def _copy_step(
    keyword: str,
    text: str,
    workdir: str,
    context: Path,
    dockerfile: Path,
    names: dict[str, int],
    earlier: list[Recipe],
) -> Step:
    words = shlex.split(text) if not text.startswith("[") else [str(word) for word in json.loads(text)]
    mode = None
    stage: Recipe | None = None
    paths = []
    for word in words:
        if word.startswith("--from="):
            reference = word.split("=", 1)[1]
            index = names.get(reference, int(reference) if reference.isdigit() else len(earlier))
            if index >= len(earlier):
                raise ImageError(
                    f"{dockerfile}: {keyword} {word} names no earlier stage (another image is not fetched)."
                )
            stage = earlier[index]
        elif word.startswith("--chmod="):
            mode = int(word.split("=", 1)[1], 8)
        elif not word.startswith("--"):
            paths.append(word)
    if len(paths) < 2:
        raise ImageError(f"{dockerfile}: {keyword} {text} names no source and destination.")
    *sources, target = paths
    if not target.startswith("/"):
        target = str(PurePosixPath(workdir) / target) + ("/" if target.endswith("/") or target == "." else "")
    if stage is not None:
        inside = [source if source.startswith("/") else f"{stage.working_dir or '/'}/{source}" for source in sources]
        return Step("copy", target=target, stage=stage, inside=inside, mode=mode)
    found: list[Path] = []
    for source in sources:
        if re.match(r"^[a-z]+://", source):
            raise ImageError(f"{dockerfile}: {keyword} {source} downloads at build time; put the file in the context.")
        matches = sorted(context.glob(source)) if any(c in source for c in "*?[") else [context / source]
        for match in matches:
            resolved = match.resolve()
            if resolved != context and context not in resolved.parents:
                raise ImageError(f"{dockerfile}: {keyword} {source} leads outside the build context {context}.")
            if not resolved.exists():
                raise ImageError(f"{dockerfile}: {keyword} {source} is not in the build context {context}.")
            found.append(resolved)
    extract = keyword == "ADD" and len(found) == 1 and found[0].is_file() and _is_archive(found[0])
    return Step("copy", target=target, sources=found, extract=extract, mode=mode)


def _is_archive(path: Path) -> bool:
    return path.name.endswith((".tar", ".tgz", ".tar.gz", ".tar.bz2", ".tar.xz"))


def _installed_packages(shell: str, alpine: bool) -> list[str]:
    """The packages a ``RUN`` installs with apt or apk (options and shell substitutions left out)."""
    packages: list[str] = []
    for command in re.split(r"&&|\|\||;|\||\n", shell):
        words = command.replace("\\", " ").split()
        while words and "=" in words[0]:
            words = words[1:]
        if len(words) < 2 or words[0] not in PACKAGE_MANAGERS:
            continue
        verbs = [word for word in words[1:] if not word.startswith("-")]
        if not verbs or verbs[0] not in ("install", "add"):
            continue
        is_apk = words[0] == "apk"
        for word in verbs[1:]:
            if word.startswith("$") or "(" in word:
                continue
            name = word.split(":", 1)[0] if word.endswith((":amd64", ":any")) else word
            name = ALPINE_PACKAGES.get(name, name) if is_apk or alpine else name
            if re.fullmatch(r"[a-z0-9][a-z0-9+.:-]*", name) and name not in packages:
                packages.append(name)
    return packages


# Building -----------------------------------------------------------------------------------------------------


def build(recipe: Recipe, store: ImageStore, *, out: Path | None = None) -> Image:
    """Build ``recipe`` with mmdebstrap (after the stages it copies from), write it as an OCI archive (kept at
    ``out`` if given) and import it."""
    if shutil.which("mmdebstrap") is None:
        raise ImageError(
            "Building images needs mmdebstrap, which is not installed; install it (apt-get install mmdebstrap)."
        )
    with tempfile.TemporaryDirectory(prefix="airlock-image-") as scratch:
        roots: dict[int, Path] = {}
        for number, stage in enumerate(_stages_of(recipe)):
            roots[id(stage)] = Path(scratch) / f"stage-{number}.tar"
            _root_filesystem(stage, roots[id(stage)], roots)
        rootfs = Path(scratch) / "rootfs.tar"
        _root_filesystem(recipe, rootfs, roots)
        archive = out or Path(scratch) / "image.oci.tar"
        write_oci_archive(
            rootfs,
            archive,
            name=recipe.name,
            env=recipe.env,
            entrypoint=recipe.entrypoint,
            cmd=recipe.cmd,
            working_dir=recipe.working_dir,
        )
        return store.import_archive(archive)


def _stages_of(recipe: Recipe) -> list[Recipe]:
    """The earlier stages ``recipe`` copies from, each after those it copies from in turn."""
    ordered: list[Recipe] = []
    for step in recipe.steps:
        if step.stage is not None and all(step.stage is not seen for seen in ordered):
            ordered += [stage for stage in _stages_of(step.stage) if all(stage is not seen for seen in ordered)]
            ordered.append(step.stage)
    return ordered


def _root_filesystem(recipe: Recipe, tarball: Path, roots: dict[int, Path]) -> None:
    command = [
        "mmdebstrap",
        "--quiet",
        "--variant=apt",
        f"--include={','.join(recipe.packages)}",
        f"--customize-hook={_shim_hook(recipe)}",
        *(f"--customize-hook={_hook(step, roots)}" for step in recipe.steps),
        f'--customize-hook=rm -rf "$1{BUILD_DIR}"',
        recipe.suite,
        str(tarball),
    ]
    built = subprocess.run(command, capture_output=True, text=True, check=False)
    if built.returncode != 0:
        raise ImageError(f"mmdebstrap could not build {recipe.name}: {_failure(built.stderr)}")


def _failure(stderr: str) -> str:
    """The line of mmdebstrap's output that says what failed: the last error before its own closing lines."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith("I:")]
    ending = next((i for i, line in enumerate(lines) if line.startswith("E: setup failed")), len(lines))
    before = lines[:ending]
    errors = [line for line in before if line.startswith("E:") or "ERROR" in line or line.startswith("error")]
    return (errors or before or lines or ["no message"])[-1][:300]


def _shim_hook(recipe: Recipe) -> str:
    """Shadow the package managers (their packages are installed already) and, for Alpine bases, translate busybox's
    ``adduser``/``addgroup`` flags, for the ``RUN`` steps only."""
    scripts = dict.fromkeys(PACKAGE_MANAGERS, "#!/bin/sh\nexit 0\n")
    if recipe.alpine_shims:
        scripts["addgroup"] = ALPINE_ADDGROUP
        scripts["adduser"] = ALPINE_ADDUSER
    lines = [f'mkdir -p "$1{SHIMS}"']
    authorities = _host_authorities()
    if authorities is not None:
        lines.append(f'cp {shlex.quote(str(authorities))} "$1{BUILD_CA}"')
    for name, script in scripts.items():
        lines.append(f'printf %s {shlex.quote(script)} > "$1{SHIMS}/{name}" && chmod 755 "$1{SHIMS}/{name}"')
    return " && ".join(lines)


ALPINE_ADDGROUP = """#!/bin/sh
# busybox addgroup [-S] [-g GID] GROUP (options anywhere, as busybox takes them)
gid=""; group=""
while [ $# -gt 0 ]; do case "$1" in -g) gid="$2"; shift 2;; -*) shift;; *) group="${group:-$1}"; shift;; esac; done
exec groupadd -f ${gid:+-g "$gid"} "$group"
"""
ALPINE_ADDUSER = """#!/bin/sh
# busybox adduser [-S] [-D] [-H] [-h HOME] [-s SHELL] [-G GROUP] [-u UID] USER (options anywhere)
opts="-m"; user=""
while [ $# -gt 0 ]; do case "$1" in
  -h) opts="$opts -d $2"; shift 2;; -s) opts="$opts -s $2"; shift 2;; -G) opts="$opts -g $2"; shift 2;;
  -u) opts="$opts -u $2"; shift 2;; -H) opts="${opts#-m} -M"; shift;; -*) shift;; *) user="${user:-$1}"; shift;; esac
done
exec useradd $opts "$user"
"""


def _copy_from_stage(step: Step, root: Path) -> str:
    """Take ``step.inside`` (paths or patterns) out of an earlier stage's root filesystem into the image."""
    for path in step.inside:
        if not re.fullmatch(r"[\w./*?\[\]+@=-]+", path) or ".." in PurePosixPath(path).parts:
            raise ImageError(f"COPY --from names {path!r}; give a plain path inside the stage.")
    members = " ".join(shlex.quote("." + str(PurePosixPath(path))) for path in step.inside)
    patterns = " ".join('"$taken"' + str(PurePosixPath(path)) for path in step.inside)
    target = shlex.quote(step.target)
    into = step.target.endswith("/") or len(step.inside) > 1 or any(c in "".join(step.inside) for c in "*?[")
    made = target if into else shlex.quote(str(PurePosixPath(step.target).parent))
    return " && ".join(
        [
            "taken=$(mktemp -d)",
            f'tar -xf {shlex.quote(str(root))} -C "$taken" --wildcards {members}',
            f'mkdir -p "$1"{made}',
            f'for found in {patterns}; do if [ -d "$found" ]; then cp -a "$found"/. "$1"{target}; '
            f'else cp -a "$found" "$1"{target}; fi; done',
            *([f'chmod -R {step.mode:o} "$1"{target}'] if step.mode is not None else []),
            'rm -rf "$taken"',
        ]
    )


def _host_authorities() -> Path | None:
    """The certificate bundle this host's own TLS clients trust (Python's default), if there is one."""
    named = os.environ.get("SSL_CERT_FILE") or ssl.get_default_verify_paths().cafile
    return Path(named) if named and Path(named).is_file() else None


def _hook(step: Step, roots: dict[int, Path]) -> str:
    """One mmdebstrap customize hook (run on the host, the image's root as ``$1``)."""
    if step.kind == "copy" and step.stage is not None:
        return _copy_from_stage(step, roots[id(step.stage)])
    if step.kind == "copy":
        target = step.target
        into = target.endswith("/") or len(step.sources) > 1 or any(source.is_dir() for source in step.sources)
        destination = f'"$1"{shlex.quote(target)}'
        parts = [f'mkdir -p "$1"{shlex.quote(target if into else str(PurePosixPath(target).parent))}']
        for source in step.sources:
            if step.extract:
                parts.append(f"tar -xf {shlex.quote(str(source))} -C {destination}")
            elif source.is_dir():
                parts.append(f"cp -a {shlex.quote(str(source))}/. {destination}")
            else:
                parts.append(f"cp -a {shlex.quote(str(source))} {destination}")
        if step.mode is not None:
            parts.append(f"chmod -R {step.mode:o} {destination}")
        return " && ".join(parts)
    environment = {
        **{key: os.environ[key] for key in PASSED_THROUGH if os.environ.get(key, "").startswith("http")},
        **step.env,
        "PATH": f"{SHIMS}:{step.env.get('PATH', DEFAULT_PATH)}",
        "HOME": "/root",
        # Debian's Python refuses pip outside a virtual environment; an image is its own environment (as the
        # Dockerfile's authors' base images, which have no such marker, are).
        "PIP_BREAK_SYSTEM_PACKAGES": "1",
    }
    if _host_authorities() is not None:
        environment.update(
            dict.fromkeys(("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"), BUILD_CA)
        )
    assignments = " ".join(f"{key}={shlex.quote(value)}" for key, value in environment.items())
    script = f"cd {shlex.quote(step.workdir)} && {step.shell}"
    return f'chroot "$1" /usr/bin/env -i {assignments} /bin/sh -c {shlex.quote(script)}'
