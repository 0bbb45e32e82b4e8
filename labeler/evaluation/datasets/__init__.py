"""Loaders for the public correspondence benchmarks, one module per official layout.

Each returns an :class:`~labeler.evaluation.pairs.EvalDataset` whose pairs are in a fixed
order and in the project's coordinates; the module docstrings state each protocol.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labeler.errors import UserInputError
from labeler.evaluation.datasets import cub, pf_willow, spair
from labeler.evaluation.pairs import EvalDataset

DATASETS = {"spair": spair, "pf-willow": pf_willow, "cub": cub}


def load_dataset(name: str, root: Path, split: str = "test", **options: Any) -> EvalDataset:
    """``options``: ``layout`` (SPair: "large"/"small"), ``classes`` (CUB: classes 1..N)."""
    try:
        module = DATASETS[name]
    except KeyError:
        raise UserInputError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}") from None
    accepted = {"spair": ("layout",), "cub": ("classes",), "pf-willow": ()}[name]
    kwargs = {k: v for k, v in options.items() if k in accepted and v is not None}
    return module.load(Path(root), split, **kwargs)


__all__ = ["DATASETS", "load_dataset"]
