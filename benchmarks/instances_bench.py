"""Several objects per image on a CPU (issue #24): cost per instance and accuracy, numbers not tests.

    python -m benchmarks.instances_bench                  # the scene of labeler.evaluation.instance_scene
    python -m benchmarks.instances_bench --copies 4       # more pasted copies per image

One real object (chelsea's face) pasted at known places, sizes and flips; one copy labelled,
every copy boxed; the classical matcher (no weights) predicts each box in its own crop. Printed:
propagation wall time, seconds per instance, per-instance PCK@0.1 (of the box's longer side) and
COCO keypoint AP (OKS 0.50:0.95, pycocotools), and the same scene without boxes (one prediction
per image, whole-image matching) for comparison.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

from labeler.evaluation import instance_scene
from labeler.evaluation.instance_scene import run_scene


def _layout(copies: int, seed: int = 0) -> dict[str, list[tuple[int, int, int, bool]]]:
    """``copies`` non-overlapping objects on each of 3 images (sizes 70..130 px, random flips)."""
    rng = random.Random(seed)
    w, h = instance_scene.SIZE
    out: dict[str, list[tuple[int, int, int, bool]]] = {}
    for name in ("ref.png", "t1.png", "t2.png"):
        placed: list[tuple[int, int, int, bool]] = []
        tries = 0
        while len(placed) < copies and tries < 2000:
            tries += 1
            side = rng.randint(70, 130)
            x, y = rng.randint(0, w - side), rng.randint(0, h - side)
            if all(x + side <= a or a + s <= x or y + side <= b or b + s <= y for a, b, s, _ in placed):
                placed.append((x, y, side, bool(rng.random() < 0.5) and bool(placed or name != "ref.png")))
        out[name] = placed
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=0, help="objects per image (default: the fixed scene)")
    args = parser.parse_args(argv)
    if args.copies:
        instance_scene.LAYOUT = _layout(args.copies)
    print("| boxes | objects scored | propagation s | s per prediction | mean PCK@0.1 | min PCK | COCO AP (OKS) |")
    print("|---|---|---|---|---|---|---|")
    for boxes in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            result, project = run_scene(Path(tmp), with_boxes=boxes)
            project.close()
        n = len(result.pck)
        print(f"| {'each object' if boxes else 'none (whole image)'} | {n} | {result.seconds:.2f} | "
              f"{result.seconds / max(result.instances, 1):.3f} | {sum(result.pck) / n:.3f} | {min(result.pck):.2f} | {result.ap:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
