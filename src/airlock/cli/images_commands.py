"""``airlock images``: root filesystems for sandboxes, carried in as files, built offline, listed and removed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from airlock.cli._common import JsonOption, reporting_errors, settings_for
from airlock.errors import InvalidInputError

if TYPE_CHECKING:
    from airlock.sandbox.images import Image, ImageStore

images_app = typer.Typer(
    help="Images for sandboxes: import, build, list and remove them.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

TOOLBOX_PACKAGES = [
    "python3",
    "python3-pip",
    "python-is-python3",
    "gdb",
    "binutils",
    "file",
    "xxd",
    "netcat-openbsd",
    "socat",
    "curl",
    "wget",
    "jq",
    "git",
    "tshark",
    "gcc",
    "libc6-dev",
]
"""The agent's toolbox, from Debian: what cyber suites expect at hand (with :data:`TOOLBOX_PIP`)."""
TOOLBOX_PIP = [
    "pwntools",
    "pycryptodome",
    "cryptography",
    "sympy",
    "z3-solver",
    "gmpy2",
    "capstone",
    "requests",
    "pyjwt",
    "jwcrypto",
    "ortools",
    "tqdm",
    "pickora",
]


def _store(ctx: typer.Context) -> ImageStore:
    from airlock.sandbox.images import ImageStore

    return ImageStore(settings_for(ctx).image_store)


def _view(image: Image) -> dict[str, object]:
    return {
        "digest": image.digest,
        "names": image.names,
        "size": image.size,
        "layers": len(image.layers),
        "rootfs": str(image.rootfs),
    }


@images_app.command("import")
def import_image(
    ctx: typer.Context,
    archive: Annotated[Path, typer.Argument(help="An OCI image layout archive, or what docker save wrote.")],
    name: Annotated[str | None, typer.Option(help="A name to give it (besides the names the archive carries).")] = None,
    json_output: JsonOption = False,
) -> None:
    """Import an image archive into the store, checking every layer against its digest.

    \b
    Example:
      airlock images import target.oci.tar --name target
    """
    with reporting_errors(ctx, json_output):
        if not archive.is_file():
            raise InvalidInputError(f"There is no file {archive}; give the path of an image archive.")
        from airlock.sandbox.images import ImageError

        try:
            image = _store(ctx).import_archive(archive, name=name)
        except ImageError as error:
            raise InvalidInputError(str(error)) from error
    _print(image, json_output, verb="Imported")


@images_app.command("list")
def list_images(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """List the images in the store.

    \b
    Example:
      airlock images list --json
    """
    with reporting_errors(ctx, json_output):
        images = _store(ctx).images()
    if json_output:
        typer.echo(json.dumps([_view(image) for image in images], indent=2))
        return
    for image in images:
        typer.echo(f"{image.short}  {image.size / 1e6:8.1f} MB  {', '.join(image.names) or '(no name)'}")
    if not images:
        typer.echo("No images yet: airlock images import FILE, or airlock images build NAME.")


@images_app.command("remove")
def remove_image(
    ctx: typer.Context,
    reference: Annotated[str, typer.Argument(metavar="IMAGE", help="A name, or a digest (or its first 6+ digits).")],
    json_output: JsonOption = False,
) -> None:
    """Remove an image from the store.

    \b
    Example:
      airlock images remove target
    """
    from airlock.sandbox.images import ImageError

    with reporting_errors(ctx, json_output):
        try:
            image = _store(ctx).remove(reference)
        except ImageError as error:
            raise InvalidInputError(str(error)) from error
    _print(image, json_output, verb="Removed")


@images_app.command("build")
def build_image(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The image's name; 'toolbox' builds the agent's toolbox.")],
    package: Annotated[
        list[str] | None, typer.Option("--package", help="A Debian package to install (repeat).")
    ] = None,
    pip: Annotated[
        list[str] | None, typer.Option("--pip", help="A Python package to install with pip (repeat).")
    ] = None,
    dockerfile: Annotated[
        Path | None,
        typer.Option(help="Build what this Dockerfile describes (its common subset, on Debian), not --package."),
    ] = None,
    context: Annotated[
        Path | None, typer.Option(help="The Dockerfile's build context (by default its folder).")
    ] = None,
    suite: Annotated[str, typer.Option(help="The Debian release.")] = "bookworm",
    out: Annotated[Path | None, typer.Option(help="Also keep the OCI archive here, to carry elsewhere.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Build an image from Debian packages (and PyPI), or from a Dockerfile, with mmdebstrap, and import it.

    A Dockerfile's base is substituted by Debian (python, debian, ubuntu, alpine, nginx, openjdk, php), its
    packages installed from Debian, its files copied and its RUN steps run in order; what needs a container engine
    (a base it cannot substitute, a file from another image) is refused, naming it (docs/sandbox.md). Building
    needs Debian's and PyPI's mirrors (or local copies of them); running never downloads anything. The archive
    (--out) carries the image to an air-gapped machine: airlock images import it there.

    \b
    Examples:
      airlock images build target --package socat
      airlock images build toolbox --out toolbox.oci.tar
      airlock images build avatar:1.0.1 --dockerfile avatar/victim/Dockerfile
    """
    from airlock.sandbox.building import build, recipe_from_dockerfile, recipe_from_packages
    from airlock.sandbox.images import ImageError

    packages = list(package or [])
    wheels = list(pip or [])
    if name == "toolbox" and not packages and not wheels and dockerfile is None:
        packages, wheels = list(TOOLBOX_PACKAGES), list(TOOLBOX_PIP)
    with reporting_errors(ctx, json_output):
        try:
            if dockerfile is not None:
                if packages or wheels:
                    raise InvalidInputError("Give either --dockerfile or --package/--pip, not both.")
                recipe = recipe_from_dockerfile(dockerfile, name, context=context, suite=suite)
            else:
                recipe = recipe_from_packages(name, packages, wheels, suite=suite)
            if not json_output:
                for note in recipe.notes:
                    typer.echo(note)
            image = build(recipe, _store(ctx), out=out)
        except ImageError as error:
            raise InvalidInputError(str(error)) from error
    _print(image, json_output, verb="Built")


@images_app.command("tag")
def tag_image(
    ctx: typer.Context,
    reference: Annotated[str, typer.Argument(metavar="IMAGE", help="A name, or a digest (or its first 6+ digits).")],
    name: Annotated[str, typer.Argument(help="Another name for it, as a suite's compose file names it.")],
    json_output: JsonOption = False,
) -> None:
    """Give an image in the store another name (a suite's name for the agent's image, say).

    \b
    Example:
      airlock images tag toolbox agent-environment:1.1.1
    """
    from airlock.sandbox.images import ImageError

    with reporting_errors(ctx, json_output):
        try:
            image = _store(ctx).tag(reference, name)
        except ImageError as error:
            raise InvalidInputError(str(error)) from error
    _print(image, json_output, verb="Tagged")


def _print(image: Image, json_output: bool, *, verb: str) -> None:
    if json_output:
        typer.echo(json.dumps(_view(image), indent=2))
    else:
        typer.echo(f"{verb} {', '.join(image.names) or image.digest} ({image.short}, {image.size / 1e6:.1f} MB).")
