"""Method name -> engine, so front ends create engines without importing them directly.

Every engine module defines ``build(model, preset, device, dtype, **overrides) -> Matcher`` and
``DEFAULT_MODEL`` (a model-card key, or None for weight-free engines).
"""

from __future__ import annotations

import importlib
from typing import Any

from labeler.correspondence.base import Matcher
from labeler.errors import UserInputError

METHODS = {
    "dift": "labeler.correspondence.dift",
    "attention": "labeler.correspondence.attention",
    "classical": "labeler.correspondence.classical",
    "fusion": "labeler.correspondence.fusion",
}
PRESETS = ("fast", "paper")
DEFAULT_METHOD = "dift"
DEFAULT_PRESET = "fast"


def engine_module(method: str):
    try:
        return importlib.import_module(METHODS[method])
    except KeyError:
        raise UserInputError(
            f"unknown method {method!r}; choose one of {', '.join(METHODS)}"
        ) from None


def default_model(method: str) -> str | None:
    return engine_module(method).DEFAULT_MODEL


def create_matcher(
    method: str = DEFAULT_METHOD,
    *,
    model: str | None = None,
    preset: str = DEFAULT_PRESET,
    device: str = "auto",
    dtype: str = "auto",
    **overrides: Any,
) -> Matcher:
    """Build an engine; ``overrides`` replace fields of the preset's config dataclass."""
    if preset not in PRESETS:
        raise UserInputError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    module = engine_module(method)
    return module.build(
        model=model if model is not None else module.DEFAULT_MODEL,
        preset=preset,
        device=device,
        dtype=dtype,
        **overrides,
    )
