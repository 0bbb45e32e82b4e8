"""``labeler eval`` end to end on the benchmarks as their archives unpack, with the real
weight-free engine (classical) on photos with known warps: every number is known by hand."""

from __future__ import annotations

import json

import pytest
import real_layouts as rl
from PIL import Image

from labeler.cli import main


def _eval(capsys, *argv):
    code = main(["eval", "--method", "classical", "--device", "cpu", "--quiet", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def spair_root(tmp_path, photos):
    return rl.build_spair(tmp_path / "SPair-71k", photos)


def test_spair_official_layout_hand_computed(spair_root, tmp_path, capsys):
    report, plot = tmp_path / "r.json", tmp_path / "r.png"
    code, out, err = _eval(capsys, "--dataset", "spair", "--root", spair_root, "--json", report, "--plot", plot)
    assert code == 0, err
    data = json.loads(report.read_text())
    assert (data["pairs"], data["points"], data["threshold"], data["split"]) == (3, 9, "bbox", "test")
    assert data["per_point"] == pytest.approx(rl.SPAIR_EXPECTED["per_point"])
    assert data["per_image"] == pytest.approx(rl.SPAIR_EXPECTED["per_image"])
    assert data["per_category"]["cat"]["per_image"] == pytest.approx(rl.SPAIR_EXPECTED["cat_per_image"])
    assert list(data["per_category"]) == ["cat", "person"]
    # the printed table carries the same numbers
    all_row = next(line for line in out.splitlines() if line.startswith("all "))
    assert all_row.split()[1:4] == ["3", "9", f"{rl.SPAIR_EXPECTED['per_image']['0.05']:.2f}"]
    with Image.open(plot) as im:
        assert im.format == "PNG" and im.size[0] > 500


def test_spair_source_box_threshold_and_image_threshold(spair_root, tmp_path, capsys):
    report = tmp_path / "r.json"
    # source boxes are 100 px (5, 10, 30 px): the 15 and 24 px offsets fail twice, then pass
    code, _, err = _eval(capsys, "--dataset", "spair", "--root", spair_root, "--threshold", "bbox-src",
                         "--alphas", "0.05,0.1,0.3", "--json", report)
    assert code == 0, err
    assert json.loads(report.read_text())["per_point"] == pytest.approx(
        {"0.05": 100 * 6 / 9, "0.1": 100 * 6 / 9, "0.3": 100.0})
    # --alphas: 0.2 of the 200 px target box (40 px) takes every point
    code, _, err = _eval(capsys, "--dataset", "spair", "--root", spair_root, "--alphas", "0.2,0.01",
                         "--json", report)
    data = json.loads(report.read_text())
    assert code == 0 and data["alphas"] == ["0.01", "0.2"] and data["per_point"]["0.2"] == 100.0


@pytest.mark.parametrize(("split", "pairs", "points"), [("trn", 1, 2), ("val", 1, 3), ("test", 3, 9)])
def test_spair_splits_and_small_layout(spair_root, tmp_path, capsys, split, pairs, points):
    report = tmp_path / "r.json"
    code, _, err = _eval(capsys, "--dataset", "spair", "--root", spair_root, "--split", split, "--json", report)
    assert code == 0, err
    data = json.loads(report.read_text())
    assert (data["split"], data["pairs"], data["points"]) == (split, pairs, points)
    assert data["per_point"]["0.15"] == 100.0
    code, _, err = _eval(capsys, "--dataset", "spair", "--root", spair_root, "--split", split,
                         "--spair-layout", "small", "--json", report)
    assert code == 0 and json.loads(report.read_text())["pairs"] == 1


def test_spair_limit_and_categories(spair_root, tmp_path, capsys):
    report = tmp_path / "r.json"
    code, _, err = _eval(capsys, "--dataset", "spair", "--root", spair_root, "--limit", "2", "--json", report)
    data = json.loads(report.read_text())
    assert code == 0 and data["pairs"] == 2 and list(data["per_category"]) == ["cat", "person"]
    code, _, err = _eval(capsys, "--dataset", "spair", "--root", spair_root, "--categories", "person",
                         "--json", report)
    data = json.loads(report.read_text())
    assert code == 0, err
    assert (data["pairs"], data["points"], list(data["per_category"])) == (1, 2, ["person"])
    assert data["per_point"] == pytest.approx({"0.05": 50.0, "0.1": 50.0, "0.15": 100.0})
    code, _, err = _eval(capsys, "--dataset", "spair", "--root", spair_root, "--categories", "cat,dog")
    assert code == 2 and "dog" in err and "cat, person" in err and "Traceback" not in err


@pytest.mark.parametrize(("folder", "pair_file", "where"), [
    ("PF-WILLOW", "test_pairs.csv", "inside"),       # HPF/CATs package (Hedlin et al.); --root PF-WILLOW
    ("PF-dataset", "test_pairs_pf.csv", "parent"),   # PF-dataset.zip + the list moved inside (DenseMatching)
    ("PF-dataset", "test_pairs_pf.csv", "beside"),   # cnngeometric's download: the list next to PF-dataset/
])
def test_pf_willow_layouts_hand_computed(tmp_path, photos, capsys, folder, pair_file, where):
    willow = rl.build_pf_willow(tmp_path / "data" / folder, photos, pair_file=pair_file)
    report = tmp_path / "r.json"
    root = willow if where == "inside" else willow.parent
    if where == "beside":
        (willow / pair_file).rename(willow.parent / pair_file)
    code, _, err = _eval(capsys, "--dataset", "pf-willow", "--root", root, "--json", report)
    assert code == 0, err
    data = json.loads(report.read_text())
    assert (data["pairs"], data["points"], data["threshold"]) == (3, 30, "bbox-kps")
    assert list(data["per_category"]) == ["car(G)", "duck(S)"]
    assert data["per_point"] == pytest.approx(rl.WILLOW_EXPECTED["per_point"])


def test_pf_willow_thresholds_are_the_target_keypoint_boxes(tmp_path, photos):
    from labeler.evaluation import load_dataset
    from labeler.evaluation.thresholds import pck_threshold

    ds = load_dataset("pf-willow", rl.build_pf_willow(tmp_path / "PF-WILLOW", photos))
    assert [pck_threshold(p, "bbox-kps") for p in ds.pairs] == pytest.approx(rl.WILLOW_EXPECTED["thresholds"])
    # HPF's and DenseMatching's loaders take the SOURCE keypoints' box: 180 px, 180 px (pair 2's
    # source is the unscaled photo), 180 px
    assert [pck_threshold(p, "bbox-kps-src") for p in ds.pairs] == pytest.approx([180.0, 180.0, 180.0])
    assert ds.pairs[0].src_path.name == "Cars_000a.png" and ds.pairs[0].trg_path.name == "Cars_000b.png"


def test_cub_official_layout_hand_computed(tmp_path, photos, capsys):
    root = rl.build_cub(tmp_path / "CUB_200_2011", photos)
    report = tmp_path / "r.json"
    # the parent folder (where the .tgz was unpacked) is accepted too
    code, _, err = _eval(capsys, "--dataset", "cub", "--root", root.parent, "--json", report)
    assert code == 0, err
    data = json.loads(report.read_text())
    assert (data["pairs"], data["points"], data["threshold"]) == (2, 6, "bbox")
    assert list(data["per_category"]) == ["001.Black_footed_Albatross", "002.Laysan_Albatross"]
    assert data["per_point"] == pytest.approx(rl.CUB_EXPECTED["per_point"])
    assert data["per_image"] == pytest.approx(rl.CUB_EXPECTED["per_image"])
    code, _, err = _eval(capsys, "--dataset", "cub", "--root", root, "--cub-classes", "4", "--json", report)
    assert code == 0 and json.loads(report.read_text())["pairs"] == 3


def test_cub_image_with_exif_orientation_is_read_as_stored(tmp_path, photos, capsys):
    """Annotations index the stored raster (as every public loader reads it): an EXIF rotation
    tag must not turn the image under its parts."""
    root = rl.build_cub(tmp_path / "CUB_200_2011", photos, exif_orientation={3: 6, 5: 8})
    report = tmp_path / "r.json"
    code, _, err = _eval(capsys, "--dataset", "cub", "--root", root, "--json", report)
    assert code == 0, err
    data = json.loads(report.read_text())
    assert data["per_point"] == pytest.approx(rl.CUB_EXPECTED["per_point"])
