"""Loaders for the public correspondence benchmarks, one module per official layout.

Each returns an :class:`~labeler.evaluation.pairs.EvalDataset` whose pairs are in a fixed
order and in the project's coordinates; the module docstrings state each protocol.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labeler.errors import UserInputError
from labeler.evaluation.datasets import cub, pf_willow, spair
from labeler.evaluation.pairs import EvalDataset, with_usable_keypoints

DATASETS = {"spair": spair, "pf-willow": pf_willow, "cub": cub}


ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip", ".gz", ".7z", ".rar", ".bz2", ".xz")


def check_root(root: Path) -> None:
    """A --root that is missing or a file (often the downloaded archive itself) is named as such."""
    if not root.exists():
        raise UserInputError(f"{root}: folder does not exist (check the path)")
    if not root.is_dir():
        hint = ("it looks like the downloaded archive: extract it first and point --root at the extracted folder"
                if str(root).lower().endswith(ARCHIVE_SUFFIXES)
                else "point --root at the extracted dataset folder")
        raise UserInputError(f"{root}: is a file, not a folder; {hint}")


def load_dataset(name: str, root: Path, split: str = "test", **options: Any) -> EvalDataset:
    """``options``: ``layout`` (SPair: "large"/"small"), ``classes`` (CUB: classes 1..N)."""
    try:
        module = DATASETS[name]
    except KeyError:
        raise UserInputError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}") from None
    check_root(Path(root))
    accepted = {"spair": ("layout",), "cub": ("classes",), "pf-willow": ()}[name]
    kwargs = {k: v for k, v in options.items() if k in accepted and v is not None}
    return with_usable_keypoints(module.load(Path(root), split, **kwargs))


__all__ = ["DATASETS", "load_dataset"]
