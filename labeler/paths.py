"""Where the data that ships beside the package lives (model cards, resources)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _shipped_dir(name: str) -> Path:
    # Source checkout / editable install: the folder sits next to the package.
    candidate = _PACKAGE_DIR.parent / name
    if candidate.is_dir():
        return candidate
    # Wheel install: data-files land under <prefix>/share/labeler.
    candidate = Path(sys.prefix) / "share" / "labeler" / name
    if candidate.is_dir():
        return candidate
    raise FileNotFoundError(f"labeler's {name}/ folder was not found next to {_PACKAGE_DIR}")


def models_dir() -> Path:
    return _shipped_dir("models")


def resources_dir() -> Path:
    return _shipped_dir("resources")


def cache_dir() -> Path:
    """Per-user cache (tiny random model, thumbnails). LABELER_CACHE overrides it."""
    env = os.environ.get("LABELER_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "labeler"
