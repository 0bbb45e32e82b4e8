"""Done-when of issue #4: init + label + propagate + export --predicted on shifted and rescaled
copies of a real photo. Classical lands on the true positions; DIFT and attention (tiny random
SD, CPU) complete and write valid predictions."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from labeler.store import Project

KEYPOINTS = ("ear_l", "ear_r", "eye_l", "eye_r", "nose", "chin", "p6", "p7")
#: (content scale, shift x, shift y as fractions of the side, canvas scale)
WARPS = [
    (1.0, 0.00, 0.00, 1.0),
    (1.0, 0.08, -0.06, 1.0),
    (0.85, 0.05, 0.08, 1.0),
    (1.2, -0.12, -0.08, 1.0),
    (1.0, 0.0, 0.0, 0.75),
    (1.0, 0.0, 0.0, 1.3),
    (0.9, 0.06, 0.02, 1.25),
    (1.15, -0.05, 0.05, 0.8),
]


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Small images and the tiny model gain nothing from torch's intra-op threads, and on a busy
    2-core machine their spin-waiting made these tests ten times slower; restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _warp(base: np.ndarray, s: float, fx: float, fy: float, canvas: float):
    """``c -> canvas * (s * c + t)`` in continuous pixels (centre of pixel i is i + 0.5)."""
    h, w = base.shape[:2]
    a = canvas * s
    tx, ty = canvas * fx * w, canvas * fy * h
    # OpenCV's pixel centres are integers: p = c - 0.5
    m = np.array([[a, 0, tx + 0.5 * a - 0.5], [0, a, ty + 0.5 * a - 0.5]], dtype=np.float64)
    size = (round(w * canvas), round(h * canvas))
    out = cv2.warpAffine(base, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return out, (lambda xy: xy * a + [tx, ty]), size


@pytest.fixture
def warped(tmp_path, photos):
    base = np.asarray(Image.fromarray(photos["chelsea"]).resize((300, 200), Image.Resampling.BICUBIC))
    root = tmp_path / "photos"
    root.mkdir()
    h, w = base.shape[:2]
    xs, ys = np.linspace(0.3 * w, 0.7 * w, 4), np.linspace(0.3 * h, 0.7 * h, 2)
    points = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2) + [[1.3, -0.7]]
    Image.fromarray(base).save(root / "reference.png")
    truth = {}
    for i, (s, fx, fy, canvas) in enumerate(WARPS):
        img, to_target, size = _warp(base, s, fx, fy, canvas)
        name = f"copy{i}.jpg"
        Image.fromarray(img).save(root / name, quality=92)
        truth[name] = (to_target(points), size)
    return root, points, truth


def _label_args(points):
    return [f"{k}={x:.2f},{y:.2f}" for k, (x, y) in zip(KEYPOINTS, points)]


def _init(cli, tmp_path, root):
    project = tmp_path / "cat.labeler"
    r = cli("init", project, "--images", root, "--keypoints", ",".join(KEYPOINTS), "--flip", "ear_l:ear_r,eye_l:eye_r")
    assert r.code == 0, r.err
    return project


def _exported(cli, project, tmp_path):
    out = tmp_path / "predicted.json"
    r = cli("export", project, "--coco", out, "--predicted")
    assert r.code == 0, r.err
    COCO(str(out))  # pycocotools reads it
    data = json.loads(out.read_text())
    names = data["categories"][0]["keypoints"]
    by_image = {img["id"]: img for img in data["images"]}
    return {by_image[a["image_id"]]["file_name"]: (a, by_image[a["image_id"]]) for a in data["annotations"]}, names


def test_classical_predictions_land_on_the_true_positions(cli, tmp_path, warped):
    root, points, truth = warped
    project = _init(cli, tmp_path, root)
    r = cli("label", project, "reference.png", *_label_args(points))
    assert r.code == 0, r.err
    r = cli("propagate", project, "--method", "classical", "--batch-size", "3")
    assert r.code == 0, r.err
    assert f"images predicted: {len(WARPS)} of {len(WARPS)}" in r.out and "kept confirmed: 0" in r.out
    assert "img/s" in r.err and "predicting: 100%" in r.err  # the tqdm bar (rate, ETA)
    annotations, names = _exported(cli, project, tmp_path)
    assert list(names) == list(KEYPOINTS)
    hits = total = 0
    for name, (xy, size) in truth.items():
        ann, img = annotations[name]
        assert (img["width"], img["height"]) == size
        kp = np.asarray(ann["keypoints"], dtype=float).reshape(-1, 3)
        assert set(ann["keypoint_status"]) == {"predicted"}
        assert all(0.0 <= c <= 1.0 for c in ann["keypoint_scores"])
        inside = np.all((xy >= 0.03 * max(size)) & (xy <= np.asarray(size) - 0.03 * max(size)), axis=1)
        err = np.linalg.norm(kp[:, :2] - xy, axis=1)[inside]
        hits += int(np.sum(err <= 0.05 * max(size)))
        total += int(inside.sum())
    assert total >= 0.9 * len(KEYPOINTS) * len(WARPS)
    pck = hits / total
    print(f"classical PCK@0.05 (max image side) on {len(WARPS)} warped copies: {pck:.3f} ({hits}/{total})")
    assert pck >= 0.9
    with Project.open(project) as p:
        assert sum(bool(r.pred_flipped) for r in p.list_images()) == 0  # the photo is never mirrored
    # Re-running has nothing to do; review lists the least confident first.
    r = cli("propagate", project, "--method", "classical")
    assert r.code == 0 and f"skipped, up to date: {len(WARPS)}" in r.out and "images predicted: 0 of 0" in r.out
    r = cli("review", project, "--limit", "5")
    assert r.code == 0
    confs = [float(line.split()[0]) for line in r.out.splitlines()[1:]]
    assert len(confs) == 5 and confs == sorted(confs)


@pytest.mark.parametrize(
    "method,settings",
    [
        ("dift", ["resolution=64", "match_side=64"]),
        ("attention", ["resolution=64", "steps=2", "num_embeddings=1", "inference_crops=4"]),
        ("fusion", ["sd_resolution=128", "dino_resolution=112"]),
    ],
)
def test_sd_methods_on_tiny_random_complete_and_write_valid_predictions(cli, tmp_path, warped, method, settings):
    root, points, truth = warped
    project = _init(cli, tmp_path, root)
    assert cli("label", project, "reference.png", *_label_args(points[:3])).code == 0
    extra = [a for s in settings for a in ("--setting", s)]
    r = cli("propagate", project, "--method", method, "--model", "tiny-random", "--device", "cpu",
            "--images", "copy[12].jpg", "--batch-size", "2", *extra)
    assert r.code == 0, r.err
    assert "images predicted: 2 of 2" in r.out and "on cpu" in r.out
    # a test model predicting: said once, as one warning line, and marked wherever predictions show
    warned = [line for line in r.err.splitlines() if "TEST MODEL" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: tiny-random is a TEST MODEL") and "TEST MODEL" not in r.out
    assert "[TEST MODEL]" in cli("status", project).out and "[TEST MODEL]" in cli("review", project).out
    assert "[TEST MODEL]" in cli("export", project, "--coco", tmp_path / "t.json", "--predicted").err
    annotations, _ = _exported(cli, project, tmp_path)
    assert set(annotations) == {"reference.png", "copy1.jpg", "copy2.jpg"}
    for name in ("copy1.jpg", "copy2.jpg"):
        ann, img = annotations[name]
        kp = np.asarray(ann["keypoints"], dtype=float).reshape(-1, 3)
        status = ann["keypoint_status"]
        predicted = [i for i, s in enumerate(status) if s == "predicted"]
        assert len(predicted) == 3  # the three keypoints that have a reference (or their flip counterparts)
        for i in predicted:
            x, y, v = kp[i]
            assert v == 2 and 0 <= x <= img["width"] and 0 <= y <= img["height"] and math.isfinite(x + y)
            assert 0.0 <= ann["keypoint_scores"][i] <= 1.0


def test_fusion_paper_presets_run_from_the_command_line_and_are_recorded(cli, tmp_path, warped):
    """``--preset geoaware-sc`` (FreeU on) and ``--preset sd-dino`` (no FreeU) each predict, and the
    second is a different prediction (its own signature), not a cache hit of the first."""
    root, points, _ = warped
    project = _init(cli, tmp_path, root)
    assert cli("label", project, "reference.png", *_label_args(points[:3])).code == 0
    sigs = []
    for preset in ("geoaware-sc", "sd-dino"):
        r = cli("propagate", project, "--method", "fusion", "--preset", preset, "--model", "tiny-random",
                "--device", "cpu", "--images", "copy1.jpg", "--no-flip",
                "--setting", "sd_resolution=128", "--setting", "dino_resolution=112")
        assert r.code == 0, r.err
        assert f"preset {preset}" in r.out and "images predicted: 1 of 1" in r.out
        with Project.open(project) as p:
            sigs.append({s for s in p.prediction_signatures().values() if s})
    assert len(sigs[0]) == len(sigs[1]) == 1 and sigs[0] != sigs[1]
    r = cli("propagate", project, "--method", "dift", "--preset", "sd-dino", "--model", "tiny-random")
    assert r.code == 2 and r.err.count("error:") == 1 and "Traceback" not in r.err and "for --method dift" in r.err
