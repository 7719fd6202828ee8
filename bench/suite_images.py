"""Build a suite's target images from its Dockerfiles, without a container engine, before ``bench/suites.py`` runs it.

Run: ``.venv/bin/python bench/suite_images.py PATH [--images DIR] [--only NAME ...]``, where ``PATH`` is a folder of
inspect_cyber evaluations with compose files. For every image a compose file names that the store lacks, the
Dockerfile is looked for beside it: a folder named after the service, else (CAISI's layout, where the service
``target`` is built from ``victim/``, as each compose file's commented ``build:`` says) the evaluation's only folder
with a Dockerfile. Each is built with ``airlock images build NAME --dockerfile ...`` (Debian, mmdebstrap) and
imported under the name the compose file uses. Prints one line per image: built (seconds) or not built (why), then
the totals. The agent's image is not built here: tag Airlock's toolbox with the suite's name for it
(``airlock images tag toolbox agent-environment:1.1.1``).

Not a test: building needs Debian's and PyPI's mirrors and takes minutes.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from airlock.config import Settings
from airlock.sandbox.building import build, recipe_from_dockerfile
from airlock.sandbox.compose import self_contained
from airlock.sandbox.errors import SandboxConfigError
from airlock.sandbox.images import ImageError, ImageStore


def wanted_images(suite: Path) -> dict[str, tuple[Path, str]]:
    """Image name -> (evaluation folder, service) for every service image of every compose file under ``suite``."""
    wanted: dict[str, tuple[Path, str]] = {}
    for compose in sorted([*suite.rglob("compose.yml"), *suite.rglob("compose.yaml")]):
        try:
            services = self_contained(compose).get("services") or {}
        except (SandboxConfigError, OSError, ValueError):
            continue
        for service, definition in services.items():
            image = str((definition or {}).get("image") or "")
            image = re.sub(r"^\$\{[^}]*\}", "", image)
            if image and image not in wanted:
                wanted[image] = (compose.parent, service)
    return wanted


def dockerfile_for(evaluation: Path, service: str, image: str) -> Path | None:
    """The service's Dockerfile: in a folder named after the service, or after the image's name without its tag and
    the evaluation's prefix (``chunky-rcache:1.0.1`` in ``chunky/`` is ``rcache/``), else the only one there."""
    stem = image.split(":", 1)[0].rpartition("/")[2]
    names = [service, stem, stem.removeprefix(evaluation.name.replace("_", "-") + "-")]
    for name in names:
        if (evaluation / name / "Dockerfile").is_file():
            return evaluation / name / "Dockerfile"
    found = list(evaluation.glob("*/Dockerfile"))
    return found[0] if len(found) == 1 else None


def main(suite: Path, store: ImageStore, only: list[str]) -> int:
    built = failed = 0
    began = time.perf_counter()
    for image, (evaluation, service) in sorted(wanted_images(suite).items()):
        if only and image not in only:
            continue
        try:
            store.resolve(image)
            continue
        except ImageError:
            pass
        dockerfile = dockerfile_for(evaluation, service, image)
        if dockerfile is None:
            print(f"{image}: not built: no Dockerfile for the service {service!r} in {evaluation}")
            failed += 1
            continue
        started = time.perf_counter()
        try:
            recipe = recipe_from_dockerfile(dockerfile, image)
            build(recipe, store)
        except ImageError as error:
            print(f"{image}: not built: {error}")
            failed += 1
            continue
        built += 1
        print(f"{image}: built from {dockerfile.relative_to(suite)} in {time.perf_counter() - started:.0f} s")
    print(f"built: {built}; not built: {failed}; time: {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="a folder of inspect_cyber evaluations")
    parser.add_argument("--images", type=Path, help="the image store (default: AIRLOCK_IMAGES, else Airlock's own)")
    parser.add_argument("--only", nargs="*", default=[], help="build only these images")
    arguments = parser.parse_args()
    root = arguments.images or Settings().image_store  # Settings reads AIRLOCK_IMAGES
    sys.exit(main(arguments.path, ImageStore(root), arguments.only))
