"""PCK-versus-alpha curves per category and a few qualitative pairs, in one PNG.

matplotlib is imported only here and only when a plot is asked for; the figure is drawn with
the Agg canvas directly (no pyplot, no display, no global backend switch).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from labeler.errors import UserInputError
from labeler.evaluation.images import load_stored_rgb
from labeler.evaluation.pck import pck_curve
from labeler.evaluation.runner import EvalResult, PairResult

CURVE_ALPHAS = np.round(np.linspace(0.0, 0.2, 41), 4)


def _reference_alpha(result: EvalResult) -> float:
    return 0.1 if 0.1 in result.alphas else result.alphas[len(result.alphas) // 2]


def choose_examples(result: EvalResult, count: int) -> list[PairResult]:
    """Pairs spread from worst to best PCK at the reference alpha (deterministic)."""
    alpha = _reference_alpha(result)
    scored = [r for r in result.pair_results if r.score.num_points > 0]
    if not scored or count <= 0:
        return []
    ranked = sorted(scored, key=lambda r: (r.score.pck(alpha), r.pair.pair_id))
    picks = np.unique(np.round(np.linspace(0, len(ranked) - 1, min(count, len(ranked)))).astype(int))
    return [ranked[i] for i in picks]


def _show(ax, path: Path, max_side: int) -> None:
    from PIL import Image

    image = load_stored_rgb(path)
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale < 1:
        image = np.asarray(Image.fromarray(image).resize((max(1, round(w * scale)), max(1, round(h * scale)))))
    # extent in original pixels: continuous coordinates plot where the annotator sees them
    ax.imshow(image, extent=(0, w, h, 0), interpolation="bilinear")
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_result(result: EvalResult, path: Path, *, examples: int = 4, max_side: int = 384) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    picked = choose_examples(result, examples)
    rows = 1 + len(picked)
    fig = Figure(figsize=(11, 4.2 + 3.4 * len(picked)), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(rows, 2, height_ratios=[1.25] + [1.0] * len(picked))

    ax = fig.add_subplot(grid[0, :])
    by_cat: dict[str, list] = {}
    for r in result.pair_results:
        by_cat.setdefault(r.score.category, []).append(r.score)
    for cat, scores in by_cat.items():
        _, per_image = pck_curve(scores, CURVE_ALPHAS)
        ax.plot(CURVE_ALPHAS, per_image, linewidth=1.0, alpha=0.8, label=cat)
    _, overall = pck_curve([r.score for r in result.pair_results], CURVE_ALPHAS)
    ax.plot(CURVE_ALPHAS, overall, color="black", linewidth=2.5, label="all")
    for a in result.alphas:
        ax.axvline(a, color="0.8", linewidth=0.8, zorder=0)
    ax.set_xlim(0, CURVE_ALPHAS[-1])
    ax.set_ylim(0, 100)
    ax.set_xlabel(f"alpha (threshold: {result.threshold})")
    ax.set_ylabel("PCK per image (%)")
    ax.set_title(f"{result.dataset} {result.split}: {result.method}, model {result.model}, preset {result.preset}")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, ncols=1 + len(by_cat) // 16)

    alpha = _reference_alpha(result)
    for row, pr in enumerate(picked, start=1):
        pair, score = pr.pair, pr.score
        src_ax = fig.add_subplot(grid[row, 0])
        trg_ax = fig.add_subplot(grid[row, 1])
        _show(src_ax, pair.src_path, max_side)
        _show(trg_ax, pair.trg_path, max_side)
        src_ax.scatter(pair.src_xy[:, 0], pair.src_xy[:, 1], s=22, c="yellow", edgecolors="black", linewidths=0.6)
        radius = alpha * score.threshold
        ok = (np.isfinite(score.distances) & (score.distances <= radius + 1e-9 * max(radius, 1.0)))
        for k in range(pair.num_points):
            tx, ty = pair.trg_xy[k]
            px, py = pr.predicted[k] if pr.predicted.shape[0] else (np.nan, np.nan)
            color = "lime" if ok[k] else "red"
            trg_ax.scatter([tx], [ty], s=22, c="yellow", edgecolors="black", linewidths=0.6, zorder=3)
            if np.isfinite(px) and np.isfinite(py):
                trg_ax.plot([tx, px], [ty, py], color=color, linewidth=1.0, zorder=2)
                trg_ax.scatter([px], [py], s=30, marker="x", c=color, linewidths=1.5, zorder=4)
        src_ax.set_title(f"{pair.category} | source", fontsize=8)
        pck = score.pck(alpha)
        trg_ax.set_title(
            f"target: PCK@{alpha:g} = {100 * pck:.0f}% ({score.correct(alpha)}/{score.num_points}); "
            "yellow = truth, x = prediction", fontsize=8)
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise UserInputError(f"{path}: cannot write the plot ({exc.strerror or exc})") from None
    return path
