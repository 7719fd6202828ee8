"""How a model's requests are retried and timed out, by where the model runs."""

from __future__ import annotations

from typing import Any

from inspect_ai.model import GenerateConfig

from airlock.evals.models.gguf import LOCAL_PROVIDER


def generate_config(model: str, settings: dict[str, Any]) -> GenerateConfig:
    """The retries and attempt timeout of ``model``'s requests, from the run's settings."""
    if model.startswith(f"{LOCAL_PROVIDER}/"):
        # A local model computes on this machine's cores: a slow generation means a busy machine, not a stalled
        # connection, and a retry would only queue a second computation behind the first, which cannot be
        # cancelled. The sample's time limit bounds it.
        return GenerateConfig(max_retries=0)
    return GenerateConfig(max_retries=settings["model_retries"], attempt_timeout=settings["model_timeout"])
