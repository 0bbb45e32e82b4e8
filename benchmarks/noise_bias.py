"""How much shared DIFT noise pulls matches toward the reference point's own position (issue #12).

    python -m benchmarks.noise_bias [--targets 24] [--model tiny-random] [--json out.json]

For every cell of the reference's feature map (16 x 16 on tiny-random at 256 px) the best-matching
cell of each UNRELATED image (smooth random colour fields with shapes: nothing in them corresponds
to the reference) is found by cosine similarity on the feature grid. Chance of landing on the
reference point's own cell is 1 / cells (0.4%). With the same draws for every image ("shared", the
engine before this fix) the noise adds a same-position term to every similarity and the own cell
wins far more often; with each image's own draws ("independent", the engine now) the rate falls
toward what the model's positional signal alone gives (random weights carry position, not content).

Rows: ensemble 1 and 8 (reference and targets alike), and the engine's own setting (reference 8,
targets per preset).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.synthetic import photo
from labeler.correspondence import dift


def own_cell_rate(ref_maps: torch.Tensor, target_maps: torch.Tensor) -> float:
    """Share of (reference cell, target) pairs whose best target cell is the reference cell itself."""
    c, h, w = ref_maps.shape
    desc = F.normalize(ref_maps.reshape(c, h * w).T, dim=1)  # (cells, C)
    hits = 0
    for t in target_maps:
        grid = F.normalize(t.reshape(c, h * w), dim=0)  # (C, cells)
        best = (desc @ grid).argmax(dim=1)
        hits += int((best == torch.arange(h * w)).sum())
    return hits / (len(target_maps) * h * w)


class SharedDraws:
    """The old behaviour: every image gets the draws of a generator seeded with ``seed`` alone."""

    def __init__(self, featurizer: dift.DiftFeaturizer) -> None:
        self.featurizer = featurizer

    def __call__(self, pixels: torch.Tensor, latent_shape: tuple[int, ...], ensemble: int):
        gen = torch.Generator().manual_seed(self.featurizer.config.seed)
        return torch.randn((ensemble, *latent_shape), generator=gen), torch.randn((ensemble, *latent_shape), generator=gen)


def features(matcher: dift.DiftMatcher, images: Sequence[np.ndarray], ensemble: int, shared: bool) -> torch.Tensor:
    featurizer = matcher.featurizer
    if shared:
        featurizer.image_draws = SharedDraws(featurizer)  # type: ignore[method-assign]
    try:
        return torch.cat([featurizer(images[i : i + 4], ensemble=ensemble) for i in range(0, len(images), 4)])
    finally:
        featurizer.__dict__.pop("image_draws", None)


def measure(model: str, targets: int, seed: int = 0) -> list[dict]:
    matcher = dift.build(model, "fast", "cpu")
    reference = photo(320, 240, seed)
    others = [photo(320, 240, seed + 1000 + i) for i in range(targets)]
    rows = []
    settings = [("ensemble 1", 1, 1, (True, False)), ("ensemble 8", 8, 8, (True, False)),
                # Different ensemble sizes never drew the same noise: only the engine's draws here.
                ("engine: reference 8, targets 1 (fast)", 8, 1, (False,))]
    for label, ref_e, tgt_e, modes in settings:
        for shared in modes:
            ref_maps = features(matcher, [reference], ref_e, shared)[0]
            target_maps = features(matcher, others, tgt_e, shared)
            cells = ref_maps.shape[-1] * ref_maps.shape[-2]
            rows.append(
                {
                    "setting": label,
                    "draws": "shared" if shared else "independent",
                    "own_cell_rate": own_cell_rate(ref_maps, target_maps),
                    "chance": 1.0 / cells,
                    "pairs": cells * len(others),
                }
            )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-random")
    parser.add_argument("--targets", type=int, default=24, help="unrelated target images")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    started = time.monotonic()
    rows = measure(args.model, args.targets)
    print(f"Best match on the reference point's own cell, {args.model}, {args.targets} unrelated images, CPU")
    print("| setting | draws | own-cell rate | chance | pairs |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['setting']} | {r['draws']} | {r['own_cell_rate']:.1%} | {r['chance']:.1%} | {r['pairs']} |")
    print(f"({time.monotonic() - started:.0f} s)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"model": args.model, "targets": args.targets, "rows": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
