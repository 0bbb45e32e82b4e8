"""The SPair-71k-style writer: every field, naming, splits, caps, image handling, refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labeler.errors import UserInputError
from labeler.formats import spair
from labeler.formats.spair import LabelledImage, SPairExportConfig, parse_split_ratio, write_spair
from labeler.imaging import load_rgb

ORDER = ["nose", "left_eye", "right_eye", "tail"]


def _image(tmp: Path, rel: str, array: np.ndarray, category: str, kps: dict, **kw) -> LabelledImage:
    path = tmp / "src" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **({"quality": 95} if path.suffix == ".jpg" else {}))
    return LabelledImage(relative_path=rel, source_path=path, width=array.shape[1], height=array.shape[0],
                         category=category, keypoints=kps, **kw)


def _cats(tmp: Path, photos, n: int = 6) -> list[LabelledImage]:
    """n cat images (crops of chelsea) and 3 of the astronaut, with some hidden/absent points."""
    out = []
    base = photos["chelsea"]
    for i in range(n):
        crop = base[i * 5:, i * 7:]
        kps = {"nose": (150.5 - 7 * i, 100.5 - 5 * i, 2), "left_eye": (200.5 - 7 * i, 120.5 - 5 * i, 2),
               "right_eye": (250.5 - 7 * i, 150.5 - 5 * i, 2 if i % 2 == 0 else 1)}
        if i % 3 == 0:
            kps["tail"] = (300.5 - 7 * i, 200.5 - 5 * i, 2)
        out.append(_image(tmp, f"cats/img-{i:02d}.jpg", np.ascontiguousarray(crop), "cat", kps))
    for i in range(3):
        kps = {"nose": (180.5 + 3 * i, 90.5, 2), "left_eye": (260.5, 140.5 + 2 * i, 2), "tail": (0, 0, 0)}
        out.append(_image(tmp, f"people/p{i}.png", photos["astronaut"], "person", kps))
    return out


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_every_spair_field_names_and_layout(tmp_path, photos):
    images = _cats(tmp_path, photos)
    out = tmp_path / "export"
    summary = write_spair(images, ORDER, out, SPairExportConfig(split_ratio=(0.5, 0.25, 0.25), seed=3))
    assert summary.images == {"trn": 3, "val": 3, "test": 3}  # per category: cat 2/2/2, person 1/1/1
    by_name = {im.relative_path: im for im in images}
    inverse = {v: k for k, v in summary.image_names.items()}
    stems_seen = []
    split_images: dict[str, set[str]] = {}
    for split in spair.SPLITS:
        files = sorted((out / "PairAnnotation" / split).glob("*.json"))
        assert len(files) == summary.pairs[split]
        listed = (out / "Layout" / "large" / f"{split}.txt").read_text().split()
        assert listed == [f.stem for f in files]
        small = (out / "Layout" / "small" / f"{split}.txt").read_text().split()
        assert set(small) <= set(listed) and (len(small) >= 1 or not listed)
        for f in files:
            assert re.fullmatch(r"\d{6}-[A-Za-z0-9_]+-[A-Za-z0-9_]+:(cat|person)", f.stem)
            d = json.loads(f.read_text())
            for key in ("pair_id", "filename", "src_imname", "trg_imname", "src_imsize", "trg_imsize",
                        "src_bndbox", "trg_bndbox", "category", "src_kps", "trg_kps", "kps_ids", "mirror",
                        "viewpoint_variation", "scale_variation", "truncation", "occlusion"):
                assert key in d, key
            assert d["filename"] == f.stem and f.stem.startswith(f"{d['pair_id']:06d}-")
            src = by_name[inverse[f"{d['category']}/{d['src_imname']}"]]
            trg = by_name[inverse[f"{d['category']}/{d['trg_imname']}"]]
            split_images.setdefault(split, set()).update({src.relative_path, trg.relative_path})
            assert d["src_imsize"] == [src.width, src.height, 3]
            # co-visible keypoints only, ids = positions in the keypoint order, integer pixel indices
            names = [ORDER[int(k)] for k in d["kps_ids"]]
            assert names and all(src.keypoints[n][2] == 2 and trg.keypoints[n][2] == 2 for n in names)
            assert all(isinstance(v, int) for xy in d["src_kps"] + d["trg_kps"] for v in xy)
            assert d["trg_kps"] == [[int(trg.keypoints[n][0]), int(trg.keypoints[n][1])] for n in names]
            # the box spans the image's visible keypoints (not only the co-visible ones)
            vis = np.array([[int(x), int(y)] for x, y, v in trg.keypoints.values() if v == 2])
            assert d["trg_bndbox"] == [*vis.min(0).tolist(), *vis.max(0).tolist()]
            assert d["occlusion"] == int(any(v == 1 for *_, v in src.keypoints.values())) + 2 * int(
                any(v == 1 for *_, v in trg.keypoints.values()))
            stems_seen.append(f.stem)
    assert len(set(stems_seen)) == len(stems_seen)
    # splits never share an image
    assert not (split_images["trn"] & split_images.get("val", set()))
    assert not (split_images["trn"] & split_images.get("test", set()))
    ann = json.loads((out / "ImageAnnotation" / "cat" / "cats_img_03.json").read_text())
    assert list(ann["kps"]) == ["0", "1", "2", "3"]
    assert ann["kps"]["2"] is None and ann["kps"]["3"] == [279, 185]  # hidden eye; tail of image 3
    assert (ann["image_width"], ann["image_height"]) == (451 - 21, 300 - 15)
    meta = json.loads((out / spair.EXPORT_META).read_text())
    assert meta["categories"]["cat"]["keypoints"] == ORDER
    assert meta["images"]["cat/cats_img_03.jpg"]["relative_path"] == "cats/img-03.jpg"


def test_same_input_same_bytes_and_seed_changes_split(tmp_path, photos):
    images = _cats(tmp_path, photos, n=12)
    a = write_spair(images, ORDER, tmp_path / "a", SPairExportConfig(seed=1))
    write_spair(images, ORDER, tmp_path / "b", SPairExportConfig(seed=1))
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    c = write_spair(images, ORDER, tmp_path / "c", SPairExportConfig(seed=2))
    split_of = lambda root: json.loads((root / spair.EXPORT_META).read_text())["images"]  # noqa: E731
    assert split_of(tmp_path / "a") != split_of(tmp_path / "c")
    assert a.images == c.images == {"trn": 13, "val": 1, "test": 1}  # cat 10/1/1, person 3/0/0


def test_max_pairs_caps_with_a_seeded_subset(tmp_path, photos):
    images = _cats(tmp_path, photos, n=12)
    full = write_spair(images, ORDER, tmp_path / "full", SPairExportConfig(split_ratio=(1, 0, 0)))
    capped = write_spair(images, ORDER, tmp_path / "cap", SPairExportConfig(split_ratio=(1, 0, 0), max_pairs=10))
    assert full.pairs_available == full.pairs["trn"] == 66 + 3  # C(12, 2) cats + C(3, 2) people
    assert capped.pairs == {"trn": 10, "val": 0, "test": 0} and capped.pairs_available == 69
    names_full = set((tmp_path / "full" / "Layout" / "large" / "trn.txt").read_text().split())
    names_cap = (tmp_path / "cap" / "Layout" / "large" / "trn.txt").read_text().split()
    # pair ids are renumbered; the (source, target, category) part must come from the full set
    tail = lambda n: n.split("-", 1)[1]  # noqa: E731
    assert {tail(n) for n in names_cap} <= {tail(n) for n in names_full}
    assert not capped.warnings  # val and test have ratio 0: nothing to warn about


def test_image_bytes_copied_or_reencoded_upright(tmp_path, photos):
    upright = _image(tmp_path, "a.jpg", photos["coffee"], "cup", {"nose": (10.5, 10.5, 2)})
    png = _image(tmp_path, "b.png", photos["coffee"], "cup", {"nose": (20.5, 12.5, 2)})
    # a JPEG stored sideways (400 wide, 600 high) with EXIF orientation 6 ("turn 90 degrees
    # clockwise to display"): shown, and labelled, 600 wide and 400 high
    rotated_path = tmp_path / "src" / "c.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.ascontiguousarray(np.rot90(photos["coffee"], 1))).save(rotated_path, quality=95, exif=exif)
    shown = load_rgb(rotated_path)
    assert shown.shape[:2] == (400, 600)
    rotated = LabelledImage("c.jpg", rotated_path, 600, 400, "cup", {"nose": (500.5, 30.5, 2)})
    s = write_spair([upright, png, rotated], ["nose"], tmp_path / "out", SPairExportConfig(split_ratio=(1, 0, 0)))
    folder = tmp_path / "out" / "JPEGImages" / "cup"
    assert (folder / "a.jpg").read_bytes() == upright.source_path.read_bytes()
    for name in ("b.jpg", "c.jpg"):
        with Image.open(folder / name) as im:
            assert im.format == "JPEG" and int(im.getexif().get(0x0112, 1) or 1) == 1
    with Image.open(folder / "c.jpg") as im:
        assert im.size == (600, 400)  # upright as labelled, for loaders that ignore EXIF
        assert np.abs(np.asarray(im.convert("RGB")).astype(int) - shown.astype(int)).mean() < 3
    assert s.image_names == {"a.jpg": "cup/a.jpg", "b.png": "cup/b.jpg", "c.jpg": "cup/c.jpg"}


def test_unique_names_without_separators(tmp_path, photos):
    arr = photos["coffee"][:50, :60]
    ims = [_image(tmp_path, "a/b-c.jpg", arr, "cup", {"nose": (5.5, 5.5, 2)}),
           _image(tmp_path, "a_b_c.png", arr, "cup", {"nose": (6.5, 6.5, 2)}),
           _image(tmp_path, "x:y.jpg", arr, "cup", {"nose": (7.5, 7.5, 2)})]
    s = write_spair(ims, ["nose"], tmp_path / "out", SPairExportConfig(split_ratio=(1, 0, 0)))
    assert s.image_names == {"a/b-c.jpg": "cup/a_b_c.jpg", "a_b_c.png": "cup/a_b_c_2.jpg", "x:y.jpg": "cup/x_y.jpg"}


def test_public_loader_conventions_hold(tmp_path, photos):
    """What DIFT and Hedlin et al.'s loaders do with a pair name and its keypoints works on ours."""
    images = _cats(tmp_path, photos)
    out = tmp_path / "out"
    write_spair(images, ORDER, out, SPairExportConfig(split_ratio=(1, 0, 0)))
    for name in (out / "Layout" / "large" / "trn.txt").read_text().split():
        src_imname = name.split("-")[1] + ".jpg"
        trg_imname = name.split("-")[2].split(":")[0] + ".jpg"
        category = name.split(":")[1]
        data = json.loads((out / "PairAnnotation" / "trn" / f"{name}.json").read_text())
        assert (data["src_imname"], data["trg_imname"], data["category"]) == (src_imname, trg_imname, category)
        w, h = data["trg_imsize"][:2]
        grid = np.zeros((h, w))
        for x, y in data["trg_kps"]:
            grid[y, x] = 1  # integer indexing, in range
        assert (out / "JPEGImages" / category / trg_imname).is_file()


def test_float_coordinates_round_trip_exactly(tmp_path, photos):
    arr = photos["coffee"]
    ims = [_image(tmp_path, f"{i}.jpg", arr, "cup", {"nose": (10.25 + i, 20.75, 2), "tail": (300.0, 5.125, 2)})
           for i in range(2)]
    write_spair(ims, ["nose", "tail"], tmp_path / "out", SPairExportConfig(split_ratio=(1, 0, 0), integer_coords=False))
    data = json.loads(next((tmp_path / "out" / "PairAnnotation" / "trn").glob("*.json")).read_text())
    assert data["src_kps"] == [[9.75, 20.25], [299.5, 4.625]]


def test_refusals_leave_nothing_behind(tmp_path, photos):
    arr = photos["coffee"][:50, :60]
    good = _image(tmp_path, "a.jpg", arr, "cup", {"nose": (5.5, 5.5, 2)})
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep me")
    with pytest.raises(UserInputError, match="not empty") as refused:
        write_spair([good], ["nose"], busy)
    assert "--overwrite" not in str(refused.value)  # not an export: overwriting is no way out
    with pytest.raises(UserInputError, match="not an earlier labeler export"):
        write_spair([good], ["nose"], busy, SPairExportConfig(overwrite=True))
    assert (busy / "mine.txt").read_text() == "keep me"
    with pytest.raises(UserInputError, match="outside"):
        write_spair([_image(tmp_path, "b.jpg", arr, "cup", {"nose": (61.0, 5.0, 2)})], ["nose"], tmp_path / "o1")
    with pytest.raises(UserInputError, match="not in the keypoint order"):
        write_spair([_image(tmp_path, "c.jpg", arr, "cup", {"beak": (5.0, 5.0, 2)})], ["nose"], tmp_path / "o2")
    with pytest.raises(UserInputError, match="same SPair folder names"):
        write_spair([_image(tmp_path, "d.jpg", arr, "big-cup", {"nose": (5.0, 5.0, 2)}),
                     _image(tmp_path, "e.jpg", arr, "big:cup", {"nose": (5.0, 5.0, 2)})], ["nose"], tmp_path / "o3")
    with pytest.raises(UserInputError, match="listed twice"):
        write_spair([good, good], ["nose"], tmp_path / "o5")
    with pytest.raises(UserInputError, match="no keypoint order"):
        write_spair([good], {"dog": ["nose"]}, tmp_path / "o4")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".") or p.name.startswith("o")]
    # an earlier export may be replaced on request
    write_spair([good], ["nose"], tmp_path / "exp")
    write_spair([good], ["nose"], tmp_path / "exp", SPairExportConfig(overwrite=True, seed=5))
    assert json.loads((tmp_path / "exp" / spair.EXPORT_META).read_text())["seed"] == 5


def test_images_without_visible_points_are_skipped_and_reported(tmp_path, photos):
    arr = photos["coffee"][:50, :60]
    ims = [_image(tmp_path, "a.jpg", arr, "cup", {"nose": (5.5, 5.5, 2)}),
           _image(tmp_path, "b.jpg", arr, "cup", {"nose": (5.5, 5.5, 1)}),
           _image(tmp_path, "c.jpg", arr, "cup", {"nose": (9.5, 9.5, 2)})]
    s = write_spair(ims, ["nose"], tmp_path / "out", SPairExportConfig(split_ratio=(1, 0, 0)))
    assert s.skipped_images == ["b.jpg"] and s.pairs["trn"] == 1
    assert any("single point" in w for w in s.warnings)


def test_split_ratio_parsing():
    assert parse_split_ratio("8:1:1") == pytest.approx((0.8, 0.1, 0.1))
    assert parse_split_ratio("0.7, 0.2, 0.1") == pytest.approx((0.7, 0.2, 0.1))
    for bad in ("0.8,0.2", "a,b,c", "-1,1,1", "0,0,0"):
        with pytest.raises(UserInputError):
            parse_split_ratio(bad)


def test_nth_pair_matches_combinations():
    import itertools

    for n in (2, 3, 7, 50):
        assert [spair.nth_pair(k, n) for k in range(n * (n - 1) // 2)] == list(itertools.combinations(range(n), 2))
    assert spair.nth_pair(10**9 * (10**5 - 1) // 10**5, 10**5)[1] < 10**5  # huge n, no listing


def test_large_projects_are_sampled_without_listing_every_pair(tmp_path, photos, monkeypatch):
    images = _cats(tmp_path, photos, n=12)  # 66 + 3 candidate pairs, all sharing a keypoint
    monkeypatch.setattr(spair, "ENUMERATE_LIMIT", 20)
    with pytest.raises(UserInputError, match="69 candidate pairs; pass --max-pairs"):
        write_spair(images, ORDER, tmp_path / "none", SPairExportConfig(split_ratio=(1, 0, 0)))
    cfg = SPairExportConfig(split_ratio=(1, 0, 0), max_pairs=12, seed=4)
    a = write_spair(images, ORDER, tmp_path / "a", cfg)
    write_spair(images, ORDER, tmp_path / "b", cfg)
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")  # seeded: same sample every time
    assert a.pairs["trn"] == 12 and a.pairs_available is None
    names = (tmp_path / "a" / "Layout" / "large" / "trn.txt").read_text().split()
    cats = [n for n in names if n.endswith(":cat")]
    assert len(cats) == 11 and len(names) - len(cats) == 1  # 12 shared 66:3 = 11.48:0.52 -> 11:1
    assert len({n.split("-", 1)[1] for n in names}) == 12  # no pair twice


def test_category_names_become_safe_folder_names(tmp_path, photos):
    arr = photos["coffee"][:50, :60]
    ims = [_image(tmp_path, f"{i}.jpg", arr, "birds-2024", {"nose": (5.5 + i, 5.5, 2)}) for i in range(2)]
    write_spair(ims, ["nose"], tmp_path / "out", SPairExportConfig(split_ratio=(1, 0, 0)))
    (pair,) = (tmp_path / "out" / "PairAnnotation" / "trn").glob("*.json")
    assert pair.stem == "000001-0-1:birds_2024"
    assert json.loads(pair.read_text())["category"] == "birds_2024"
    assert (tmp_path / "out" / "JPEGImages" / "birds_2024" / "0.jpg").is_file()
    meta = json.loads((tmp_path / "out" / spair.EXPORT_META).read_text())
    assert meta["categories"] == {"birds_2024": {"name": "birds-2024", "keypoints": ["nose"], "flip_pairs": []}}


def test_export_folder_permissions_and_interrupted_overwrite(tmp_path, photos, monkeypatch):
    """The folder gets the user's usual permissions (not mkdtemp's private 0700), and an
    --overwrite interrupted at the last step leaves the previous export complete."""
    import os

    old = os.umask(0o022)
    os.umask(old)
    good = _image(tmp_path, "a.jpg", photos["coffee"][:50, :60], "cup", {"nose": (5.5, 5.5, 2)})
    out = tmp_path / "exp"
    write_spair([good], ["nose"], out)
    assert out.stat().st_mode & 0o777 == 0o777 & ~old
    before = sorted(p.relative_to(out) for p in out.rglob("*"))

    real_replace = os.replace

    def boom(src, dst):
        if Path(dst) == out and Path(src).name.startswith(".exp."):  # the new export going in
            raise KeyboardInterrupt
        real_replace(src, dst)

    from labeler import atomic

    monkeypatch.setattr(atomic, "exchange", lambda a, b: False)  # the fallback: two renames
    monkeypatch.setattr(atomic.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        write_spair([good], ["nose"], out, SPairExportConfig(overwrite=True, seed=5))
    monkeypatch.undo()
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert json.loads((out / spair.EXPORT_META).read_text())["seed"] == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_exporting_again_into_an_earlier_export_names_overwrite(tmp_path, photos):
    arr = photos["coffee"][:50, :60]
    ims = [_image(tmp_path, f"{i}.jpg", arr, "cup", {"nose": (5.5 + i, 5.5, 2)}) for i in range(2)]
    write_spair(ims, ["nose"], tmp_path / "out", SPairExportConfig(split_ratio=(1, 0, 0)))
    with pytest.raises(UserInputError, match="add --overwrite"):
        write_spair(ims, ["nose"], tmp_path / "out", SPairExportConfig(split_ratio=(1, 0, 0)))


def test_skipped_and_no_object_images_take_no_part_in_pairs(tmp_path):
    from labeler.formats.pairs import export_pairs
    from labeler.store import FLAG_NO_OBJECT, FLAG_SKIP
    from labeler.store.testing import make_project

    project, _ = make_project(tmp_path / "p")
    try:
        ids = [r[0] for r in project.image_index()][:4]
        for i in ids:
            project.set_points(i, {"nose": (5, 5), "left_eye": (10, 8), "right_eye": (20, 8), "tail": (12, 20)})
        project.set_image_flag(ids[0], FLAG_SKIP)
        project.set_image_flag(ids[1], FLAG_NO_OBJECT)
        summary = export_pairs(project, tmp_path / "out", SPairExportConfig(split_ratio=(1, 0, 0)))
        assert sum(summary.images.values()) == 2  # of the four labelled, two are flagged out
    finally:
        project.close()
