"""Labels exported as SPair-71k pairs read back through the benchmark loader, and scored."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from eval_fixtures import BASE_POINTS, Warp, WarpOracle, apply
from labeler.evaluation import EvalOptions, evaluate, load_dataset
from labeler.formats import spair
from labeler.formats.spair import LabelledImage, SPairExportConfig, write_spair

ORDER = ["ear", "eye", "nose", "paw"]  # ids "0".."3" = BASE_POINTS keys in this order
WARPS = [Warp("id"), Warp("flip"), Warp("rot90"), Warp("pad", (20, 10)), Warp("pad", (3, 40)),
         Warp("pad", (1, 2)), Warp("pad", (5, 0)), Warp("pad", (0, 7))]


def _labelled(tmp_path, photos):
    base = photos["chelsea"]
    images, matrices = [], {}
    for i, warp in enumerate(WARPS):
        rel = f"shoot/frame_{i}.jpg"
        path = tmp_path / "project" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        img = warp.image(base)
        Image.fromarray(img).save(path, quality=95)
        m = warp.matrix(base.shape)
        xy = apply(m, list(BASE_POINTS["chelsea"].values()))
        vis = [2, 2, 2 if i % 3 else 1, 2 if i % 2 else 0]  # some hidden, some unlabelled
        kps = {n: (float(x), float(y), v) for n, (x, y), v in zip(ORDER, xy, vis)}
        images.append(LabelledImage(rel, path, img.shape[1], img.shape[0], "cat", kps))
        matrices[rel] = m
    return images, matrices


def test_export_round_trips_through_the_loader_and_scores_perfectly(tmp_path, photos):
    images, matrices = _labelled(tmp_path, photos)
    out = tmp_path / "pairs"
    summary = write_spair(images, ORDER, out, SPairExportConfig(split_ratio=(0.5, 0.25, 0.25), seed=7))
    assert summary.images == {"trn": 4, "val": 2, "test": 2}
    by_rel = {im.relative_path: im for im in images}
    by_file = {f"{v}": by_rel[k] for k, v in summary.image_names.items()}
    warps = {out / "JPEGImages" / name: matrices[im.relative_path] for name, im in by_file.items()}
    total_pairs = 0
    for split in spair.SPLITS:
        ds = load_dataset("spair", out, split)
        assert len(ds.pairs) == summary.pairs[split] > 0
        total_pairs += len(ds.pairs)
        for p in ds.pairs:
            src = by_file[f"cat/{p.src_path.name}"]
            trg = by_file[f"cat/{p.trg_path.name}"]
            names = [ORDER[int(k)] for k in p.names]
            # co-visible keypoints, at exactly the labelled (pixel-centre) positions
            assert names == [n for n in ORDER if src.keypoints[n][2] == 2 and trg.keypoints[n][2] == 2]
            assert np.array_equal(p.src_xy, [src.keypoints[n][:2] for n in names])
            assert np.array_equal(p.trg_xy, [trg.keypoints[n][:2] for n in names])
            assert p.trg_size == (trg.width, trg.height)
        result = evaluate(ds, WarpOracle(warps, errors={}), EvalOptions())
        assert result.overall.per_point == {"0.05": 100.0, "0.1": 100.0, "0.15": 100.0}
        assert max(d for r in result.pair_results for d in r.score.distances) == 0.0
    assert total_pairs == sum(summary.pairs.values())
    # the mapping back to the project is kept beside the data
    meta = json.loads((out / spair.EXPORT_META).read_text())
    assert {v["relative_path"] for v in meta["images"].values()} == set(by_rel)


def _scaled_set(tmp_path, photos):
    """Real photo at several scales and offsets (a known similarity warp each), labelled exactly."""
    base = photos["astronaut"]
    h, w = base.shape[:2]
    images, warps = [], {}
    pts = np.array([[180.5, 90.5], [260.5, 140.5], [300.5, 250.5], [220.5, 330.5], [120.5, 400.5],
                    [380.5, 200.5], [256.0, 470.0], [60.0, 260.0]])
    names = [f"k{i}" for i in range(len(pts))]
    for i, (s, dx, dy) in enumerate([(1.0, 0, 0), (0.85, 30, 12), (1.15, -40, -25)]):
        m = np.array([[s, 0, dx], [0, s, dy]], dtype=np.float64)
        img = cv2.warpAffine(base, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        # cv2 maps pixel centres (index coordinates); continuous x -> s*x + dx + 0.5*(1 - s)
        cont = np.array([[s, 0, dx + 0.5 * (1 - s)], [0, s, dy + 0.5 * (1 - s)], [0, 0, 1]])
        xy = apply(cont, pts)
        rel = f"astro_{i}.png"
        path = tmp_path / "src" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(path)
        kps = {n: (float(x), float(y), 2 if 0 <= x < w and 0 <= y < h else 0) for n, (x, y) in zip(names, xy)}
        images.append(LabelledImage(rel, path, w, h, "person", kps))
        warps[rel] = cont
    return images, names


@pytest.mark.slow
def test_classical_engine_on_exported_real_photos(tmp_path, photos):
    """The real weight-free engine, through the registry, on an export of known similarity warps."""
    images, names = _scaled_set(tmp_path, photos)
    out = tmp_path / "pairs"
    write_spair(images, names, out, SPairExportConfig(split_ratio=(1, 0, 0)))
    from labeler.evaluation import run

    ds = load_dataset("spair", out, "trn")
    assert len(ds.pairs) == 3
    result = run(ds, "classical", preset="fast", device="cpu", options=EvalOptions(alphas=(0.02, 0.05, 0.1)))
    assert result.method == "classical" and result.overall.pairs == 3 and result.overall.points >= 20
    # labels are integer-rounded by the export (<= 0.7 px); the same photo rescaled by 0.85-1.15
    # must match within a few pixels (T is about 350 px here: 0.02 * T is about 7 px)
    assert result.overall.per_point["0.05"] == 100.0, result.to_json()
    assert result.overall.per_point["0.02"] >= 90.0, result.to_json()
    assert result.seconds > 0 and result.pairs_per_second > 0


def test_export_carries_the_schemas_flip_pairs_as_ids(tmp_path, photos):
    images, _ = _labelled(tmp_path, photos)
    out = tmp_path / "pairs"
    write_spair(images, ORDER, out, SPairExportConfig(split_ratio=(1, 0, 0)),
                flip_pairs=[(ORDER[1], ORDER[2]), ("absent", ORDER[0])])
    assert load_dataset("spair", out, "trn").flip_pairs == {"cat": (("1", "2"),)}
    meta = json.loads((out / "labeler_export.json").read_text())
    del meta["categories"]["cat"]["flip_pairs"]  # an export from before flip pairs were written
    (out / "labeler_export.json").write_text(json.dumps(meta))
    assert load_dataset("spair", out, "trn").flip_pairs == {}
