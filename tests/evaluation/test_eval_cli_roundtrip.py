"""A project labelled through the command line, exported with ``export --pairs``, evaluated with
``eval --dataset spair``: the whole path a user takes to benchmark a method on their own labels.
Two photos carry an EXIF orientation: the export writes them upright, so reading benchmark
images as stored (as eval does) sees what the annotator saw."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from labeler.cli import main

#: Real photo shifted by these offsets (np.roll: pixel content moves, nothing is resampled).
SHIFTS = [(0, 0), (12, 5), (30, -8), (-20, 14), (8, 22), (-15, -10)]
POINTS = {"nose": (150.5, 120.5), "left_eye": (120.5, 90.5), "right_eye": (190.5, 92.5)}


@pytest.fixture
def exported(tmp_path, photos, capsys):
    shots = tmp_path / "photos"
    shots.mkdir()
    base = photos["chelsea"]
    for i, (dx, dy) in enumerate(SHIFTS):
        shown = np.roll(base, (dy, dx), axis=(0, 1))
        if i in (1, 4):  # a phone photo: stored on its side with EXIF orientation 6, labelled as shown
            exif = Image.Exif()
            exif[0x0112] = 6
            Image.fromarray(np.ascontiguousarray(np.rot90(shown))).save(
                shots / f"cat_{i}.jpg", quality=95, exif=exif.tobytes())
        else:
            Image.fromarray(shown).save(shots / f"cat_{i}.jpg", quality=95)
    project = tmp_path / "cats.labeler"
    assert main(["init", str(project), "--images", str(shots), "--keypoints", ",".join(POINTS),
                 "--flip", "left_eye:right_eye"]) == 0
    for i, (dx, dy) in enumerate(SHIFTS):
        marks = [f"{k}={x + dx},{y + dy}" for k, (x, y) in POINTS.items()]
        if i == 5:
            marks[2] = "right_eye=absent"  # not co-visible: left out of that image's pairs
        assert main(["label", str(project), f"cat_{i}.jpg", *marks]) == 0
    out = tmp_path / "pairs"
    assert main(["export", str(project), "--pairs", str(out), "--split-ratio", "0.34,0.33,0.33"]) == 0
    capsys.readouterr()
    return out


@pytest.mark.parametrize("split", ["trn", "val", "test"])
def test_export_pairs_read_back_by_eval(exported, tmp_path, capsys, split):
    report = tmp_path / f"{split}.json"
    code = main(["eval", "--dataset", "spair", "--root", str(exported), "--split", split, "--method", "classical",
                 "--device", "cpu", "--quiet", "--alphas", "0.02,0.05", "--json", str(report)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(report.read_text())
    listed = (exported / "Layout" / "large" / f"{split}.txt").read_text().split()
    assert data["split"] == split and data["pairs"] == len(listed) > 0
    assert 2 * len(listed) <= data["points"] <= 3 * len(listed)  # right_eye is absent in one image
    assert list(data["per_category"]) == ["cats"]
    # shifted copies of one photo, labelled exactly: the classical engine finds them to a pixel or two
    assert data["per_point"]["0.05"] == 100.0
    assert any("labeler export" in n for n in data["notes"])


@pytest.mark.slow
def test_dift_tiny_random_bookkeeping_through_the_command_line(exported, tmp_path, capsys, tiny_model_dir):
    """Random weights: shapes and bookkeeping only (one pair per split here), never accuracy."""
    report, plot = tmp_path / "d.json", tmp_path / "d.png"
    code = main(["eval", "--dataset", "spair", "--root", str(exported), "--split", "trn", "--method", "dift",
                 "--model", "tiny-random", "--device", "cpu", "--quiet", "--json", str(report), "--plot", str(plot)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(report.read_text())
    assert (data["method"], data["model"], data["preset"], data["device"]) == ("dift", "tiny-random", "fast", "cpu")
    listed = (exported / "Layout" / "large" / "trn.txt").read_text().split()
    assert data["pairs"] == len(listed) and 2 * len(listed) <= data["points"] <= 3 * len(listed)
    assert all(0.0 <= v <= 100.0 for v in (*data["per_point"].values(), *data["per_image"].values()))
    assert data["failed_pairs"] == [] and "dift" in captured.out
    with Image.open(plot) as im:
        assert im.format == "PNG"


def test_an_empty_split_of_a_small_export_says_what_to_do(exported, tmp_path, capsys):
    project = tmp_path / "cats.labeler"
    out = tmp_path / "all_trn"
    assert main(["export", str(project), "--pairs", str(out), "--split-ratio", "1,0,0"]) == 0
    capsys.readouterr()
    code = main(["eval", "--dataset", "spair", "--root", str(out), "--split", "test", "--method", "classical"])
    err = capsys.readouterr().err
    assert code == 2 and "the test split lists no pairs" in err and "--split trn" in err


@pytest.mark.parametrize("preset", ["geoaware-sc", "sd-dino"])
def test_fusion_tiny_random_through_the_command_line(exported, tmp_path, capsys, preset):
    """`labeler eval --method fusion` with each paper's preset on the tiny random SD + DINOv2:
    bookkeeping only, never accuracy."""
    report = tmp_path / "f.json"
    code = main(["eval", "--dataset", "spair", "--root", str(exported), "--split", "trn", "--method", "fusion",
                 "--preset", preset,
                 "--model", "tiny-random", "--device", "cpu", "--quiet", "--json", str(report),
                 "--setting", "sd_resolution=128", "--setting", "dino_resolution=112"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(report.read_text())
    assert (data["method"], data["model"], data["preset"]) == ("fusion", "tiny-random", preset)
    assert data["flip"] is (preset == "geoaware-sc")  # --flip auto: sd-dino's paper had no pose alignment
    listed = (exported / "Layout" / "large" / "trn.txt").read_text().split()
    assert data["pairs"] == len(listed) and data["failed_pairs"] == []
    assert all(0.0 <= v <= 100.0 for v in (*data["per_point"].values(), *data["per_image"].values()))
