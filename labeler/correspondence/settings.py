"""What every engine's settings dataclass needs: checked overrides and a stable fingerprint."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, Protocol, TypeVar


class _Validated(Protocol):
    def validate(self) -> None: ...


S = TypeVar("S", bound=_Validated)


def replace_settings(config: S, overrides: dict[str, Any], engine: str) -> S:
    """``config`` with fields replaced and validated; unknown names give a message listing the valid ones."""
    names = {f.name for f in dataclasses.fields(config)}  # type: ignore[arg-type]
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise_unknown(unknown, names, engine)
    new = dataclasses.replace(config, **overrides)  # type: ignore[type-var]
    new.validate()
    return new


def raise_unknown(unknown: list[str], names: set[str], engine: str) -> None:
    from labeler.errors import UserInputError

    raise UserInputError(
        f"unknown setting(s) {', '.join(unknown)} for the {engine} engine; valid: {', '.join(sorted(names))}"
    )


def check_refinement(refine: str, soft_window: int, soft_temperature: float) -> None:
    """The peak-refinement settings every engine shares (see :mod:`labeler.correspondence.peaks`)."""
    from labeler.errors import UserInputError

    if refine not in ("argmax", "soft_argmax"):
        raise UserInputError(f"refine must be 'argmax' or 'soft_argmax' (got {refine!r})")
    if soft_window < 1 or soft_window % 2 == 0:
        raise UserInputError(f"soft_window must be a positive odd number (got {soft_window})")
    if soft_temperature <= 0:
        raise UserInputError(f"soft_temperature must be positive (got {soft_temperature})")


def stable_hash(payload: dict[str, Any]) -> str:
    """Short hash of a canonical JSON rendering: stable across runs, machines and dict orders."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:16]
