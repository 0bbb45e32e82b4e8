"""Each official layout, written by the test, read back into pairs in the project's coordinates."""

from __future__ import annotations

import json

import numpy as np
import pytest
from eval_fixtures import BASE_POINTS, CUB_IMAGES, SPAIR_IMAGES, WILLOW_BASE, apply

from labeler.errors import FormatError, UserInputError
from labeler.evaluation import load_dataset


def test_spair_pairs_follow_layout_and_sit_at_pixel_centres(spair_fixture, photos):
    ds = load_dataset("spair", spair_fixture.root, "test")
    assert [p.pair_id for p in ds.pairs] == [
        "000001-cat_a-cat_b:cat", "000002-cat_a-cat_c:cat", "000003-per_a-per_b:person", "000004-per_b-per_a:person"]
    assert ds.default_threshold == "bbox" and ds.categories == ["cat", "person"]
    p = ds.pairs[0]
    assert p.names == ("0", "1", "2", "3")
    assert p.src_path == spair_fixture.root / "JPEGImages" / "cat" / "cat_a.jpg"
    # stored integer indices + 0.5 = the continuous base points, and their flip in the target
    assert np.array_equal(p.src_xy, np.array(list(BASE_POINTS["chelsea"].values())))
    w = photos["chelsea"].shape[1]
    assert np.array_equal(p.trg_xy[:, 0], w - p.src_xy[:, 0])
    assert p.trg_size == (451, 300) and p.trg_bbox == (150, 100, 250, 160)
    assert ds.pairs[3].num_points == 0
    # the small layout lists only the first pair; the parent folder is accepted as root
    assert len(load_dataset("spair", spair_fixture.root.parent, "test", layout="small").pairs) == 1


def test_spair_without_layout_reads_sorted_pair_files(spair_fixture):
    for f in (spair_fixture.root / "Layout" / "large").iterdir():
        f.unlink()
    (spair_fixture.root / "Layout" / "large").rmdir()
    ds = load_dataset("spair", spair_fixture.root, "test")
    assert [p.pair_id[:6] for p in ds.pairs] == ["000001", "000002", "000003", "000004"]


def test_spair_bad_input_is_reported(spair_fixture, tmp_path):
    with pytest.raises(UserInputError, match="does not exist"):
        load_dataset("spair", tmp_path / "nowhere", "test")
    (tmp_path / "nowhere").mkdir()
    with pytest.raises(UserInputError, match="not an SPair-71k folder"):
        load_dataset("spair", tmp_path / "nowhere", "test")
    with pytest.raises(UserInputError, match="unknown SPair split"):
        load_dataset("spair", spair_fixture.root, "training")
    f = next((spair_fixture.root / "PairAnnotation" / "test").glob("000001-*.json"))
    data = json.loads(f.read_text())
    del data["trg_kps"]
    f.write_text(json.dumps(data))
    with pytest.raises(FormatError, match="missing SPair field"):
        load_dataset("spair", spair_fixture.root, "test")
    f.write_text("{not json")
    with pytest.raises(FormatError, match="not valid JSON"):
        load_dataset("spair", spair_fixture.root, "test")


def test_pf_willow_drops_leading_folder_and_keeps_ten_points(pf_willow_fixture, photos):
    ds = load_dataset("pf-willow", pf_willow_fixture.root)
    assert len(ds.pairs) == 3 and ds.categories == ["car(G)", "duck(S)"]
    assert ds.default_threshold == "bbox-kps" and "bbox" not in ds.thresholds
    p = ds.pairs[0]
    assert p.src_path == pf_willow_fixture.root / "car(G)" / "img_000a.png"
    assert p.names == tuple(str(k) for k in range(10))
    assert np.array_equal(p.src_xy, np.array(WILLOW_BASE))
    assert np.array_equal(p.trg_xy[:, 0], photos["coffee"].shape[1] - p.src_xy[:, 0])
    with pytest.raises(UserInputError, match="only a test split"):
        load_dataset("pf-willow", pf_willow_fixture.root, "trn")


def test_pf_willow_missing_image_is_named(pf_willow_fixture):
    (pf_willow_fixture.root / "duck(S)" / "img_002b.png").unlink()
    with pytest.raises(FormatError, match="img_002b.png"):
        load_dataset("pf-willow", pf_willow_fixture.root)


def test_cub_pairs_are_combinations_within_class_of_test_images(cub_fixture, photos):
    ds = load_dataset("cub", cub_fixture.root, "test", classes=3)
    # test images 1, 3, 4 (class 1; image 2 is a training image) and 5, 6 (class 2)
    assert [p.pair_id for p in ds.pairs] == ["1-3", "1-4", "3-4", "5-6"]
    assert ds.categories == ["001.Cat", "002.Person"]
    by_id = {p.pair_id: p for p in ds.pairs}
    assert by_id["1-3"].names == ("1", "2", "4")  # parts visible in both
    assert by_id["1-4"].names == ("2", "3")
    assert by_id["5-6"].num_points == 0
    assert by_id["1-3"].trg_bbox == (12.0, 20.0, 112.0, 83.0)  # x y w h -> x1 y1 x2 y2
    m = CUB_IMAGES[3][4].matrix(photos["chelsea"].shape)
    assert np.array_equal(by_id["1-3"].trg_xy, apply(m, [BASE_POINTS["chelsea"][k] for k in ("0", "1", "3")]))
    # only class 1, and the training split (a single training image: no pair)
    assert [p.pair_id for p in load_dataset("cub", cub_fixture.root, "test", classes=1).pairs] == ["1-3", "1-4", "3-4"]
    with pytest.raises(FormatError, match="no trn pairs"):
        load_dataset("cub", cub_fixture.root, "trn")


def test_cub_incomplete_folder_is_reported(cub_fixture, tmp_path):
    (cub_fixture.root / "bounding_boxes.txt").unlink()
    with pytest.raises(FormatError, match="bounding_boxes.txt"):
        load_dataset("cub", cub_fixture.root)
    with pytest.raises(UserInputError, match="does not exist"):
        load_dataset("cub", tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="no images.txt"):
        load_dataset("cub", tmp_path / "empty")


def test_unknown_dataset():
    with pytest.raises(UserInputError, match="unknown dataset"):
        load_dataset("pascal", ".")


def test_fixture_images_are_the_named_warps(spair_fixture, photos):
    """Guard for the fixtures themselves: the flip image really is the mirrored photo."""
    from labeler.imaging import load_rgb

    a = load_rgb(spair_fixture.root / "JPEGImages" / "cat" / "cat_a.jpg").astype(int)
    b = load_rgb(spair_fixture.root / "JPEGImages" / "cat" / "cat_b.jpg").astype(int)
    assert SPAIR_IMAGES["cat_b"][2].kind == "flip"
    assert np.abs(a[:, ::-1] - b).mean() < 3.0 < np.abs(a - b).mean()


def test_pf_willow_cnngeometric_file_name_and_folder(pf_willow_fixture):
    """Rocco et al.'s download names the list test_pairs_pf.csv and the folder PF-dataset."""
    root = pf_willow_fixture.root
    (root / "test_pairs.csv").rename(root / "test_pairs_pf.csv")
    renamed = root.parent / "PF-dataset"
    root.rename(renamed)
    ds = load_dataset("pf-willow", renamed.parent)
    assert len(ds.pairs) == 3 and ds.pairs[0].src_path == renamed / "car(G)" / "img_000a.png"
