"""Getting an engine for a run: built from the config, or reused from a small cache.

Loading a Stable Diffusion model takes seconds to minutes, so the GUI keeps the last engine in
a :class:`MatcherCache` and a run with the same (method, model, preset, device, dtype,
overrides) reuses it. The cache holds one engine: asking for another closes the old one first,
so two models never sit in GPU memory at once.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from typing import Any

from labeler.correspondence.base import Matcher
from labeler.correspondence.registry import create_matcher, default_model
from labeler.errors import LabelerError, ModelLoadError
from labeler.propagation.types import PropagationConfig

CacheKey = tuple[str, str | None, str, str, str, str]


def matcher_key(config: PropagationConfig) -> CacheKey:
    overrides = json.dumps(config.overrides_dict, sort_keys=True, default=repr)
    return (config.method, config.model, config.preset, config.device, config.dtype, overrides)


def model_name(config: PropagationConfig, method: str) -> str | None:
    """The model as recorded with each prediction: what was asked for, or the method's default."""
    if config.model:
        return config.model
    try:
        return default_model(method)
    except LabelerError:  # an injected engine of a method the registry does not know
        return None


def build_matcher(config: PropagationConfig) -> Matcher:
    """A new engine; any loading failure becomes a LabelerError with a message for the user."""
    try:
        return create_matcher(
            config.method,
            model=config.model,
            preset=config.preset,
            device=config.device,
            dtype=config.dtype,
            **config.overrides_dict,
        )
    except LabelerError:
        raise
    except MemoryError:
        raise ModelLoadError(f"not enough memory to load the {config.method} model {config.model or ''}".strip()) from None
    except Exception as exc:  # noqa: BLE001 - a broken checkpoint raises anything
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise ModelLoadError(
            f"cannot load the {config.method} engine (model {config.model or 'default'}): {type(exc).__name__}: {first}"
        ) from None


class MatcherCache:
    """Keeps the most recently used engine loaded. Thread-safe; :meth:`close` frees it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: CacheKey | None = None
        self._matcher: Matcher | None = None

    def peek(self, config: PropagationConfig) -> Matcher | None:
        """The loaded engine for ``config`` or None (never loads)."""
        with self._lock:
            return self._matcher if self._key == matcher_key(config) else None

    def get(self, config: PropagationConfig) -> Matcher:
        key = matcher_key(config)
        with self._lock:
            if self._key == key and self._matcher is not None:
                return self._matcher
            self._drop()
            self._matcher = build_matcher(config)
            self._key = key
            return self._matcher

    def evict(self, matcher: Matcher) -> None:
        """Forget ``matcher`` if it is the cached one (e.g. it fell back to the CPU)."""
        with self._lock:
            if self._matcher is matcher:
                self._drop()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        if self._matcher is not None:
            try:
                self._matcher.close()
            finally:
                self._matcher = None
                self._key = None


def shrink_engine_batch(matcher: Matcher) -> int | None:
    """Halve the engine's own batch (UNet elements per pass) if it has one; the new size or None.

    Engines keep it as ``config.batch_size`` (a frozen dataclass field that never changes
    predictions) and dense-feature engines also as ``batch_size``.
    """
    config: Any = getattr(matcher, "config", None)
    current = getattr(config, "batch_size", None)
    if not dataclasses.is_dataclass(config) or not isinstance(current, int) or current <= 1:
        return None
    new = current // 2
    matcher.config = dataclasses.replace(config, batch_size=new)  # type: ignore[attr-defined]
    if isinstance(getattr(matcher, "batch_size", None), int):
        matcher.batch_size = new  # type: ignore[attr-defined]
    return new
