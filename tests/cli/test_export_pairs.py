"""``labeler export --pairs``: confirmed labels -> SPair-71k layout -> read back by the eval loader."""

from __future__ import annotations

import numpy as np

from labeler.evaluation.datasets import load_dataset
from labeler.store.testing import write_image


def _project(cli, tmp_path):
    root = tmp_path / "imgs"
    for i in range(4):
        write_image(root / f"im {i}.png", size=(80, 60), seed=i)
    project = tmp_path / "p.labeler"
    assert cli("init", project, "--images", root, "--keypoints", "a,b,c").code == 0
    labels = {
        "im 0.png": ["a=10.5,20.5", "b=30.5,40.5", "c=absent"],
        "im 1.png": ["a=11.5,21.5", "b=31.5,41.5", "c=50.5,10.5"],
        "im 2.png": ["a=12.5,22.5", "c=51.5,11.5"],
    }
    for image, pts in labels.items():
        assert cli("label", project, image, *pts).code == 0
    return project, labels


def test_pairs_export_round_trips_through_the_loader(cli, tmp_path):
    project, _ = _project(cli, tmp_path)
    out = tmp_path / "pairs"
    res = cli("export", project, "--pairs", out, "--split-ratio", "1,0,0")
    assert res.code == 0, res.err
    assert "trn 3 pairs / 3 images" in res.out  # im 3 has no labels; every pair of the 3 shares 'a'

    data = load_dataset("spair", out, "trn")
    pairs = {(p.src_path.name, p.trg_path.name): p for p in data.pairs}
    p01 = pairs[("im_0.jpg", "im_1.jpg")]
    assert p01.names == ("0", "1")  # co-visible only: c is absent on im 0
    # integer pixel indices in the files; the loader puts them back at pixel centres
    np.testing.assert_allclose(p01.src_xy, [[10.5, 20.5], [30.5, 40.5]])
    np.testing.assert_allclose(p01.trg_xy, [[11.5, 21.5], [31.5, 41.5]])
    p12 = pairs[("im_1.jpg", "im_2.jpg")]
    assert p12.names == ("0", "2")


def test_predictions_are_never_training_data(cli, tmp_path):
    from labeler.store import Project

    project, _ = _project(cli, tmp_path)
    with Project.open(project) as p:
        im3 = p.find_image("im 3.png")
        p.write_predictions([(im3.id, {"a": (5.0, 5.0, 0.9), "b": (6.0, 6.0, 0.9)})], method="test", model="m")
    out = tmp_path / "pairs"
    assert cli("export", project, "--pairs", out, "--split-ratio", "1,0,0").code == 0
    names = {p.trg_path.name for p in load_dataset("spair", out, "trn").pairs}
    assert "im_3.jpg" not in names


def test_export_needs_a_target(cli, tmp_path):
    project, _ = _project(cli, tmp_path)
    res = cli("export", project)
    assert res.code == 2 and "--coco" in res.err and "--pairs" in res.err
