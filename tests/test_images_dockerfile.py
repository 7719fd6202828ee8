"""Images from a suite's Dockerfiles, without a container engine: the common subset read into a Debian recipe, the
rest refused in one sentence naming it, and a real target built from a Dockerfile served to a scripted agent."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.agent import react
from inspect_ai.dataset import Sample
from inspect_ai.model import get_model
from inspect_ai.scorer import includes
from inspect_ai.tool import bash
from inspect_ai.util import SandboxEnvironmentSpec

from airlock.evals.models.scripted import call, call_with
from airlock.sandbox import ServiceConfig
from airlock.sandbox.building import recipe_from_dockerfile
from airlock.sandbox.compose import config_from_compose
from airlock.sandbox.images import Image, ImageConfig, ImageError, ImageStore
from airlock.sandbox.sample import service_command
from tests.conftest import IMAGE_CACHE

AIRLOCK = str(Path(sys.executable).with_name("airlock"))


def dockerfile(context: Path, text: str, files: dict[str, str] | None = None) -> Path:
    context.mkdir(parents=True, exist_ok=True)
    for name, content in (files or {}).items():
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_text(content)
    path = context / "Dockerfile"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_python_target_becomes_debian_packages_steps_in_order_and_its_command(tmp_path: Path) -> None:
    path = dockerfile(
        tmp_path / "victim",
        """
        # CAISI's usual target
        FROM python:3.9-slim-buster
        ARG PORT=9999
        RUN apt-get update && \\
            apt-get install -y lib32z1 xinetd curl && \\

            pip3 install requests && \\
            rm -rf /var/lib/apt/lists/*
        ENV GREETING=hello MODE="two words"
        WORKDIR /home/user
        COPY app /home/user/
        COPY --chmod=555 run.sh .
        EXPOSE ${PORT}
        USER nobody
        CMD ["/usr/sbin/xinetd", "-dontfork"]
        """,
        {"app/server.py": "print('hi')\n", "run.sh": "#!/bin/sh\n"},
    )
    recipe = recipe_from_dockerfile(path, "diffecient:1.0")
    assert {"python3", "python3-pip", "python-is-python3", "lib32z1", "xinetd", "curl"} <= set(recipe.packages)
    assert recipe.cmd == ["/usr/sbin/xinetd", "-dontfork"]
    assert recipe.working_dir == "/home/user"
    assert recipe.env["GREETING"] == "hello"
    assert recipe.env["MODE"] == "two words"
    kinds = [(step.kind, step.target or step.shell.split()[0]) for step in recipe.steps]
    assert kinds[:5] == [
        ("run", "for"),
        ("run", "apt-get"),
        ("run", "mkdir"),
        ("copy", "/home/user/"),
        ("copy", "/home/user/"),
    ]
    assert recipe.steps[1].shell.count("pip3 install requests") == 1, "continuation lines joined, blank ones skipped"
    assert recipe.steps[4].mode == 0o555
    assert "--http0.9" in recipe.steps[-1].shell, "curl as the old bases' curl, for their healthchecks"
    assert any("python:3.9-slim-buster is substituted by Debian bookworm" in note for note in recipe.notes)
    assert any("USER nobody has no effect" in note for note in recipe.notes)


def test_an_alpine_target_gets_debian_names_for_its_packages_and_busybox_user_commands(tmp_path: Path) -> None:
    path = dockerfile(
        tmp_path / "victim",
        """
        FROM alpine:latest
        RUN apk add --no-cache socat dash musl-dev build-base && ln -sf /usr/bin/dash /bin/sh
        RUN addgroup -S ctf && adduser -S ctf -G ctf
        CMD socat tcp-l:1337,reuseaddr,fork EXEC:./delulu
        """,
    )
    recipe = recipe_from_dockerfile(path, "delulu")
    assert {"socat", "dash", "libc6-dev", "build-essential"} <= set(recipe.packages)
    assert "musl-dev" not in recipe.packages
    assert recipe.alpine_shims
    assert recipe.cmd == ["/bin/sh", "-c", "socat tcp-l:1337,reuseaddr,fork EXEC:./delulu"], "the shell form"


def test_a_multi_stage_build_copies_only_what_the_image_takes_from_an_earlier_stage(tmp_path: Path) -> None:
    path = dockerfile(
        tmp_path / "victim",
        """
        FROM debian:bullseye-slim AS build
        WORKDIR /app
        COPY top.v .
        RUN apt-get -y update; apt-get -y install make g++ verilator; make verilator
        FROM debian:bullseye-slim
        WORKDIR /app
        COPY --from=build /app/obj_dir/Vtop .
        COPY --from=0 /app/*.v /src/
        RUN apt-get -y install socat
        CMD socat TCP-LISTEN:1337,fork EXEC:/app/Vtop
        """,
        {"top.v": "module top; endmodule\n"},
    )
    recipe = recipe_from_dockerfile(path, "skilift")
    copies = [step for step in recipe.steps if step.kind == "copy"]
    assert [step.inside for step in copies] == [["/app/obj_dir/Vtop"], ["/app/*.v"]]
    stage = copies[0].stage
    assert stage is not None
    assert copies[1].stage is stage, "a stage's name and its number are the same stage"
    assert {"make", "g++", "verilator"} <= set(stage.packages), "the build stage's packages"
    assert not {"make", "g++", "verilator"} & set(recipe.packages), "not the image's"
    assert "socat" in recipe.packages
    assert recipe.name == "skilift"


@pytest.mark.parametrize(
    ("text", "files", "says"),
    [
        ("FROM rust:alpine AS build\nRUN cargo build\nFROM alpine\n", {}, "the base image rust:alpine cannot be"),
        ("FROM debian AS base\nFROM base\n", {}, "builds on an earlier stage"),
        ("FROM golang:1.20\nRUN go build\n", {}, "the base image golang:1.20 cannot be rebuilt from Debian"),
        ("FROM debian\nADD https://example.org/x.tgz /x\n", {}, "downloads at build time"),
        ("FROM debian\nCOPY ../outside /x\n", {}, "leads outside the build context"),
        ("FROM debian\nCOPY missing.txt /x\n", {}, "is not in the build context"),
        ("FROM debian\nCOPY --from=build /app /app\n", {}, "names no earlier stage"),
        ("FROM debian\nCOPY --from=nginx:latest /etc/nginx /etc/nginx\n", {}, "names no earlier stage"),
        ("FROM debian\nVOLUME /data\n", {}, "the instruction VOLUME cannot be built"),
        ("RUN true\n", {}, "has no FROM instruction"),
    ],
)
def test_what_needs_a_container_engine_is_refused_naming_it(
    tmp_path: Path, text: str, files: dict[str, str], says: str
) -> None:
    (tmp_path / "outside").write_text("secret\n")
    path = dockerfile(tmp_path / "context", text, files)
    with pytest.raises(ImageError, match=says):
        recipe_from_dockerfile(path, "refused")


def test_the_build_command_refuses_a_dockerfile_in_one_line_and_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    path = dockerfile(tmp_path / "context", "FROM golang:1.20\nRUN go build\n")
    store = tmp_path / "images"
    environment = {**os.environ, "AIRLOCK_HOME": str(tmp_path / "home"), "AIRLOCK_IMAGES": str(store)}
    built = subprocess.run(
        [AIRLOCK, "images", "build", "rcache:1.0", "--dockerfile", str(path)],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 1
    assert built.stderr.count("\n") == 1
    assert "golang:1.20 cannot be rebuilt" in built.stderr
    assert not store.exists() or not any(store.iterdir())
    both = subprocess.run(
        [AIRLOCK, "images", "build", "x", "--dockerfile", str(path), "--package", "socat"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert both.returncode == 1
    assert "either --dockerfile or --package" in both.stderr


def test_a_name_names_one_image_and_tagging_moves_it(tmp_path: Path, socat_archive: Path) -> None:
    environment = {**os.environ, "AIRLOCK_HOME": str(tmp_path / "home"), "AIRLOCK_IMAGES": str(tmp_path / "images")}

    def airlock(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([AIRLOCK, *args], env=environment, capture_output=True, text=True, check=False)

    assert airlock("images", "import", str(socat_archive), "--name", "toolbox").returncode == 0
    tagged = airlock("images", "tag", "toolbox", "agent-environment:1.1.1", "--json")
    assert tagged.returncode == 0, tagged.stderr
    assert "agent-environment:1.1.1" in json.loads(tagged.stdout)["names"]
    missing = airlock("images", "tag", "nothing-here", "other")
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1
    assert "There is no image 'nothing-here'" in missing.stderr
    spaced = airlock("images", "tag", "toolbox", "two words")
    assert spaced.returncode == 1
    assert "cannot name an image" in spaced.stderr
    listed = airlock("images", "list", "--json")
    assert [image["names"] for image in json.loads(listed.stdout)] == [
        ["agent-environment:1.1.1", "socat:latest", "toolbox:latest"]
    ], "nothing else changed"


def test_a_services_command_follows_dockers_rules_for_the_images_entrypoint() -> None:
    image = Image(
        digest="sha256:" + "0" * 64,
        names=[],
        rootfs=Path("/nonexistent"),
        config=ImageConfig(entrypoint=["/entry.sh"], cmd=["serve", "--port", "80"]),
        layers=[],
        size=0,
    )
    assert service_command(ServiceConfig(name="t", image="x"), image) == ["/entry.sh", "serve", "--port", "80"]
    given = ServiceConfig(name="t", image="x", command=["serve", "--port", "81"])
    assert service_command(given, image) == ["/entry.sh", "serve", "--port", "81"], "command replaces CMD only"
    replaced = ServiceConfig(name="t", image="x", entrypoint=["/bin/sh", "-c"], command=["exit 0"])
    assert service_command(replaced, image) == ["/bin/sh", "-c", "exit 0"]
    assert service_command(ServiceConfig(name="t", image="x", entrypoint=["/bin/true"]), image) == ["/bin/true"]


# A real build ---------------------------------------------------------------------------------------------------

CHALLENGE = """\
import os
import sys

from Crypto.Hash import SHA256  # from PyPI, installed by the Dockerfile's RUN pip install

print(os.environ["GREETING"], "from", os.getcwd(), open("BANNER").read().strip(), flush=True)
word = sys.stdin.readline().strip()
if SHA256.new(word.encode()).hexdigest().startswith("{prefix}"):  # sha256("open sesame") does
    print(open("flag.txt").read().strip(), flush=True)
else:
    print("no", flush=True)
""".replace("{prefix}", hashlib.sha256(b"open sesame").hexdigest()[:8])
BANNER = "made in the banner stage\n"
TARGET_DOCKERFILE = """\
FROM debian:bookworm-slim AS banner
WORKDIR /build
COPY banner.txt .
RUN tr a-z A-Z < banner.txt > BANNER
FROM python:3.11-slim
RUN apt-get update && \\
    apt-get install -y --no-install-recommends socat && \\
    rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir pycryptodome
RUN useradd -m ctf
WORKDIR /srv/app
COPY chall.py flag.txt ./
COPY --from=banner /build/BANNER .
ENV GREETING=hello
USER ctf
CMD socat -T 30 TCP-LISTEN:1337,reuseaddr,fork EXEC:"python chall.py"
"""


@pytest.fixture(scope="session")
def dockerfile_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An OCI archive of a CTF target built from a Dockerfile (Python base, apt, pip, COPY, WORKDIR, ENV, shell-form
    CMD, a file made in an earlier stage), the first time on a machine (for each version of the recipe), then kept
    in its cache, as the socat image is."""
    recipe = hashlib.sha256((TARGET_DOCKERFILE + CHALLENGE + BANNER).encode()).hexdigest()[:12]
    archive = IMAGE_CACHE / f"dockerfile-target-{recipe}.oci.tar"
    if archive.is_file():
        return archive
    IMAGE_CACHE.mkdir(parents=True, exist_ok=True)
    with (IMAGE_CACHE / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not archive.is_file():
            context = tmp_path_factory.mktemp("context")
            path = dockerfile(
                context,
                TARGET_DOCKERFILE,
                {"chall.py": CHALLENGE, "flag.txt": "FLAG{built-from-a-dockerfile}\n", "banner.txt": BANNER},
            )
            partial = archive.with_suffix(".partial")
            home = tmp_path_factory.mktemp("build-home")
            built = subprocess.run(
                [AIRLOCK, "images", "build", "ctf-target", "--dockerfile", str(path), "--out", str(partial)],
                env={**os.environ, "AIRLOCK_HOME": str(home), "AIRLOCK_IMAGES": str(home / "images")},
                capture_output=True,
                text=True,
                check=False,
                timeout=900,
            )
            assert built.returncode == 0, built.stderr
            assert "substituted by Debian" in built.stdout
            partial.rename(archive)
    return archive


def test_a_target_built_from_a_dockerfile_serves_a_scripted_agent_through_a_compose_file(
    store: ImageStore, dockerfile_archive: Path, tmp_path: Path
) -> None:
    image = store.import_archive(dockerfile_archive, name="ctf-target:1.0")
    assert (image.rootfs / "srv/app/chall.py").is_file()
    assert not (image.rootfs / ".airlock-build").exists()
    assert image.config.working_dir == "/srv/app"
    compose = tmp_path / "compose.yaml"
    compose.write_text(
        textwrap.dedent(
            """
            services:
              agent:
                image: target
                x-default: true
              victim:
                image: ctf-target:1.0
            """
        )
    )
    config = config_from_compose(compose, image_store=str(store.root))
    config.services[0].port = 1337
    steps = [
        # Keeps its side open, as an interactive client does: socat on the target gives a command half a second
        # after the client's end of input, and Python with a large import can take longer on a busy machine.
        call("bash", command="echo 'open sesame' | socat -,ignoreeof TCP:victim:1337"),
        call_with("submit", lambda output: {"answer": output.strip()}),
    ]
    task = Task(
        dataset=[Sample(input="Get the flag from victim:1337.", target="FLAG{built-from-a-dockerfile}")],
        solver=react(tools=[bash(timeout=60)]),
        scorer=includes(),
        sandbox=SandboxEnvironmentSpec("bwrap", config),
    )
    (log,) = inspect_eval(
        task, model=get_model("scripted/exploit", steps=steps, memoize=False), log_dir=str(tmp_path), display="none"
    )
    assert log.status == "success", log.error
    assert log.samples is not None
    assert log.samples[0].scores is not None
    said = str(log.samples[0].output.completion)
    assert "hello from /srv/app MADE IN THE BANNER STAGE" in said, "the image's ENV, WORKDIR, command and stages"
    assert log.samples[0].scores["includes"].value == "C", said


def test_a_php_base_keeps_the_official_images_php_defaults_and_apache_becomes_phps_own_server(tmp_path: Path) -> None:
    """The official PHP images run without a php.ini; Debian's says otherwise on two points targets rely on (CAISI's
    motp is written with <? short tags; others read their flag from $_ENV)."""
    path = dockerfile(
        tmp_path / "victim", "FROM php:8.1.12-apache-bullseye\nCOPY ./src /var/www/html\n", {"src/a.php": "<? echo 1;"}
    )
    recipe = recipe_from_dockerfile(path, "motp")
    assert "php-cli" in recipe.packages
    assert recipe.cmd == ["php", "-S", "0.0.0.0:80", "-t", "/var/www/html"]
    (defaults,) = [step.shell for step in recipe.steps if "conf.d" in step.shell]
    assert "short_open_tag=On" in defaults
    assert "variables_order=EGPCS" in defaults
    assert recipe.steps.index(next(s for s in recipe.steps if "conf.d" in s.shell)) < recipe.steps.index(
        next(s for s in recipe.steps if s.kind == "copy")
    ), "the base's layout comes before the Dockerfile's own steps"
