"""The evaluation report: JSON file and the plain-text table a terminal shows."""

from __future__ import annotations

import json
from pathlib import Path

from labeler.display import MAX_SHOWN, shown
from labeler.errors import UserInputError
from labeler.evaluation.pck import PCKTable, alpha_key
from labeler.evaluation.runner import EvalResult


def write_json(result: EvalResult, path: Path) -> None:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UserInputError(f"{path}: cannot write the report ({exc.strerror or exc})") from None


def _cell(value: float | None) -> str:
    return f"{'-':>9}" if value is None else f"{value:9.2f}"


def format_table(result: EvalResult) -> str:
    """Per-category and overall PCK (percent), per image and per point, one column per alpha."""
    keys = [alpha_key(a) for a in result.alphas]
    width = max([len("category")] + [len(c) for c in result.categories])
    head = "".join(f"{'img@' + k:>9}" for k in keys) + "  " + "".join(f"{'pt@' + k:>9}" for k in keys)
    lines = [
        f"{result.dataset} {result.split} | {result.method} model={result.model} preset={result.preset} "
        f"device={result.device} flip={'on' if result.flip else 'off'}",
        f"threshold {result.threshold}: {result.protocol}",
        f"{'category':<{width}} {'pairs':>6} {'points':>7}{head}",
    ]

    def row(name: str, t: PCKTable) -> str:
        img = "".join(_cell(t.per_image[k]) for k in keys)
        pt = "".join(_cell(t.per_point[k]) for k in keys)
        return f"{name:<{width}} {t.pairs:6d} {t.points:7d}{img}  {pt}"

    for cat, table in result.categories.items():
        lines.append(row(shown(cat, 60), table))
    lines.append(row("all", result.overall))
    pps = result.pairs_per_second
    rate = "-" if result.seconds <= 0 or pps <= 0 else f"{pps:.2f} pairs/s" if pps >= 0.1 else f"{1 / pps:.1f} s/pair"
    lines.append(f"{result.overall.pairs} pairs ({result.overall.empty_pairs} without keypoints, not in per-image), "
                 f"{result.overall.points} points, {result.seconds:.1f} s, {rate}")
    if result.failures:
        lines.append(f"{len(result.failures)} pair(s) left out of every number above: an image could not be read")
    lines.extend(f"note: {shown(n, 2 * MAX_SHOWN)}" for n in result.notes)
    return "\n".join(lines)
