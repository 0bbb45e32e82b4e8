"""Benchmarks for the correspondence engines: dataset loaders, PCK, the runner and its report.

No Qt, no database. Engines are reached only through the registry and the Matcher interface;
matplotlib only when a plot is asked for. Names below load on first use, so ``labeler --help``
does not pay for the loaders.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DATASETS": "labeler.evaluation.datasets",
    "load_dataset": "labeler.evaluation.datasets",
    "EvalDataset": "labeler.evaluation.pairs",
    "EvalPair": "labeler.evaluation.pairs",
    "DEFAULT_ALPHAS": "labeler.evaluation.pck",
    "PairScore": "labeler.evaluation.pck",
    "PCKTable": "labeler.evaluation.pck",
    "score_pair": "labeler.evaluation.pck",
    "summarize": "labeler.evaluation.pck",
    "EvalOptions": "labeler.evaluation.runner",
    "EvalResult": "labeler.evaluation.runner",
    "evaluate": "labeler.evaluation.runner",
    "run": "labeler.evaluation.runner",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'labeler.evaluation' has no attribute {name!r}") from None
    return getattr(importlib.import_module(module), name)
