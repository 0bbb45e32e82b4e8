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
#: Presets only some engines offer, each named after the paper whose pipeline it reproduces.
METHOD_PRESETS: dict[str, tuple[str, ...]] = {"fusion": ("geoaware-sc", "sd-dino")}
ALL_PRESETS = PRESETS + tuple(p for names in METHOD_PRESETS.values() for p in names)
DEFAULT_METHOD = "dift"
DEFAULT_PRESET = "fast"


def engine_module(method: str):
    try:
        return importlib.import_module(METHODS[method])
    except KeyError:
        raise UserInputError(
            f"unknown method {method!r}; choose one of {', '.join(METHODS)}"
        ) from None


def presets_for(method: str) -> tuple[str, ...]:
    """The presets ``method`` offers: ``fast``, ``paper`` and its own paper-named ones."""
    return PRESETS + METHOD_PRESETS.get(method, ())


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
    module = engine_module(method)
    if preset not in presets_for(method):
        raise UserInputError(f"unknown preset {preset!r} for --method {method}; choose one of "
                             f"{', '.join(presets_for(method))}")
    return module.build(
        model=model if model is not None else module.DEFAULT_MODEL,
        preset=preset,
        device=device,
        dtype=dtype,
        **overrides,
    )
