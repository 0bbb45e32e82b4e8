"""labeler eval --flip: the source also mirrored with left/right ids swapped, the better pose kept
per pair (GeoAware-SC's adaptive pose alignment), on flip tables from each dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labeler.errors import UserInputError
from labeler.evaluation.datasets import load_dataset
from labeler.evaluation.datasets.cub import _part_flip_pairs
from labeler.evaluation.datasets.spair_flips import SPAIR_FLIP_PAIRS
from labeler.evaluation.runner import EvalOptions, run

W, H = 120, 80
# cat ids 0/1 are a left/right pair, 8 lies on the symmetry plane (SPair's cat table)
SRC = {"0": (30.0, 25.0), "1": (50.0, 55.0), "8": (60.0, 40.0)}


def _mirror(points):
    """The same cat seen mirrored: each id where its counterpart was, x -> W - x."""
    swap = {"0": "1", "1": "0", "8": "8"}
    return {swap[k]: (W - x, y) for k, (x, y) in points.items()}


def _spair(root: Path, photo: np.ndarray) -> Path:
    """Two test pairs: a -> b (b is a mirrored, annotated as SPair would) and a -> c (c is a)."""
    images = {"a.png": photo, "b.png": np.ascontiguousarray(photo[:, ::-1]), "c.png": photo}
    for name, image in images.items():
        (root / "JPEGImages" / "cat").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / "JPEGImages" / "cat" / name)
    (root / "PairAnnotation" / "test").mkdir(parents=True)
    for pid, (trg, kps) in enumerate((("b.png", _mirror(SRC)), ("c.png", SRC)), start=1):
        ids = sorted(SRC)
        stem = f"{pid:06d}-a-{trg[0]}:cat"
        (root / "PairAnnotation" / "test" / f"{stem}.json").write_text(json.dumps({
            "pair_id": pid, "filename": stem, "src_imname": "a.png", "trg_imname": trg,
            "src_imsize": [W, H, 3], "trg_imsize": [W, H, 3],
            "src_bndbox": [0, 0, W - 1, H - 1], "trg_bndbox": [0, 0, W, H - 1], "category": "cat",
            "src_kps": [[int(SRC[k][0]), int(SRC[k][1])] for k in ids],
            "trg_kps": [[int(kps[k][0]), int(kps[k][1])] for k in ids], "kps_ids": ids,
        }))
    return root


@pytest.fixture(scope="module")
def mirrored_pairs(tmp_path_factory, photos):
    photo = np.asarray(Image.fromarray(photos["chelsea"]).resize((W, H), Image.Resampling.BICUBIC))
    return load_dataset("spair", _spair(tmp_path_factory.mktemp("flip") / "SPair-71k", photo))


def test_fusion_keeps_the_mirrored_pose_where_the_target_is_seen_mirrored(mirrored_pairs):
    on = run(mirrored_pairs, "fusion", model="tiny-random", device="cpu", options=EvalOptions(alphas=(0.1,)))
    assert on.flip is True  # fusion's published protocol: on by default
    flipped = {r.pair.trg_path.name: r.flipped for r in on.pair_results}
    assert flipped == {"b.png": True, "c.png": False} and on.flipped_pairs == 1
    assert on.overall.per_point["0.1"] == 100.0
    assert any("mirrored source was kept for 1 of 2" in n for n in on.notes)
    assert on.to_json()["flip"] is True and on.to_json()["flipped_pairs"] == 1

    off = run(mirrored_pairs, "fusion", model="tiny-random", device="cpu",
              options=EvalOptions(alphas=(0.1,), flip=False))
    assert off.flip is False and off.flipped_pairs == 0
    by_target = {r.pair.trg_path.name: r.score for r in off.pair_results}
    # without pose alignment the swapped side points of the mirrored cat are missed
    assert by_target["c.png"].correct(0.1) == 3 and by_target["b.png"].correct(0.1) < 3


def test_flip_needs_each_categorys_left_right_pairs(mirrored_pairs, pf_willow_fixture):
    willow = load_dataset("pf-willow", pf_willow_fixture.root)
    with pytest.raises(UserInputError, match="no names or sides"):
        run(willow, "classical", device="cpu", options=EvalOptions(flip=True))
    assert mirrored_pairs.flip_pairs["cat"] == SPAIR_FLIP_PAIRS["cat"]


def test_spair_table_is_disjoint_pairs_per_category():
    assert len(SPAIR_FLIP_PAIRS) == 18
    for cat, pairs in SPAIR_FLIP_PAIRS.items():
        ids = [int(i) for pair in pairs for i in pair]
        assert len(ids) == len(set(ids)) and all(0 <= i < 30 for i in ids), cat
    assert ("10", "20") in SPAIR_FLIP_PAIRS["car"] and ("4", "5") in SPAIR_FLIP_PAIRS["cat"]


def test_cub_pairs_come_from_part_names(tmp_path):
    parts = tmp_path / "parts.txt"
    parts.write_text("1 back\n2 beak\n7 left eye\n8 left leg\n9 left wing\n11 right eye\n12 right leg\n"
                     "13 right wing\n14 tail\n")
    assert _part_flip_pairs(parts) == (("7", "11"), ("8", "12"), ("9", "13"))
    assert _part_flip_pairs(tmp_path / "absent.txt") == ()


def test_command_line_flip_switch(mirrored_pairs, pf_willow_fixture, tmp_path, capsys):
    from labeler.cli import main

    out = tmp_path / "r.json"
    argv = ["eval", "--dataset", "spair", "--root", str(mirrored_pairs.root), "--method", "fusion", "--model",
            "tiny-random", "--device", "cpu", "--quiet", "--json", str(out)]
    assert main(argv + ["--flip", "off"]) == 0
    assert "flip=off" in capsys.readouterr().out and json.loads(out.read_text())["flip"] is False
    assert main(argv) == 0
    assert "flip=on" in capsys.readouterr().out and json.loads(out.read_text())["flipped_pairs"] == 1
    code = main(["eval", "--dataset", "pf-willow", "--root", str(pf_willow_fixture.root), "--method", "classical",
                 "--flip", "on", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("error:") == 1 and "--flip off" in err
