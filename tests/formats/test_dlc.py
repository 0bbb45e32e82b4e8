"""DeepLabCut labelled data: the CollectedData CSV written by hand from DeepLabCut's layout
(three header rows, the ('labeled-data', folder, file) row index), its .h5 twin read the way
DeepLabCut reads it, round trips and every refusal."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from PIL import Image

from labeler.errors import FormatError, UserInputError
from labeler.formats.dlc import csv_text, export_dlc, import_dlc, pandas_available
from labeler.store import ABSENT, Project, find_image_files, probe_files, relative_to_root
from labeler.store.testing import write_image

NAMES = ["nose", "left_eye", "right_eye"]
needs_pandas = pytest.mark.skipif(not pandas_available(), reason="pandas and PyTables are not installed")


def _probed(root: Path):
    return probe_files([(f, relative_to_root(f, root)) for f in find_image_files(root)], progress=False)[0]


@pytest.fixture
def labelled(tmp_path):
    root = tmp_path / "images"
    write_image(root / "nest" / "a.jpg", "rgb", (100, 50))
    write_image(root / "nest" / "A.JPG", "rgb", (100, 50), seed=5)
    write_image(root / "park" / "a.jpg", "rgb", (40, 80), seed=1)
    write_image(root / "rot.jpg", "exif6", (60, 40), seed=2)  # displayed 40 x 60
    write_image(root / "Ünï" / "猫 1.png", "rgb", (30, 20), seed=3)
    project = Project.create(tmp_path / "birds.labeler", root, NAMES, [("nose", "left_eye")], [("left_eye", "right_eye")],
                             images=_probed(root))
    ids = {im.path: im.id for im in project.list_images()}
    project.set_points(ids["nest/a.jpg"], {"nose": (50.25, 25), "left_eye": (10, 10, 1), "right_eye": "absent"})
    project.set_points(ids["nest/A.JPG"], {"nose": (1, 2)})
    project.set_points(ids["park/a.jpg"], {n: "absent" for n in NAMES})
    project.set_points(ids["rot.jpg"], {"nose": (20, 30)})
    project.set_points(ids["Ünï/猫 1.png"], {"nose": (15, 5), "left_eye": (0, 20), "right_eye": (30, 0)})
    yield project
    project.close()


HEADER = (
    "scorer,,,me,me,me,me,me,me\n"
    "bodyparts,,,nose,nose,left_eye,left_eye,right_eye,right_eye\n"
    "coords,,,x,y,x,y,x,y\n"
)
EXPECTED = {
    # A.JPG and a.jpg would be one file on a case-insensitive disk: the second is renamed
    "nest": HEADER + "labeled-data,nest,A.JPG,1.0,2.0,,,,\n"
                     "labeled-data,nest,a_2.jpg,50.25,25.0,10.0,10.0,,\n",
    # a background image (every keypoint absent): "NaN" cells, which pandas reads as a row
    "park": HEADER + "labeled-data,park,a.jpg,NaN,NaN,NaN,NaN,NaN,NaN\n",
    "birds": HEADER + "labeled-data,birds,rot.jpg,20.0,30.0,,,,\n",  # root-level images: the project's name
    "Ünï": HEADER + "labeled-data,Ünï,猫 1.png,15.0,5.0,0.0,20.0,30.0,0.0\n",
}
CONFIG = (
    "# DeepLabCut config.yaml keys for labeled-data/ (written by labeler). Merge them into your\n"
    "# project's config.yaml (scorer, bodyparts and skeleton as here; one video_sets entry per\n"
    "# labeled-data folder: DeepLabCut finds a folder by the stem of its video path), copy\n"
    "# labeled-data/ into the project, then run deeplabcut.create_training_dataset(config_path).\n"
    "scorer: me\n"
    "multianimalproject: false\n"
    "bodyparts:\n- nose\n- left_eye\n- right_eye\n"
    "skeleton:\n- - nose\n  - left_eye\n"
    "video_sets:\n"
    "  videos/birds.mp4:\n    crop: 0, 40, 0, 60\n"
    "  videos/nest.mp4:\n    crop: 0, 100, 0, 50\n"
    "  videos/park.mp4:\n    crop: 0, 40, 0, 80\n"
    "  videos/Ünï.mp4:\n    crop: 0, 30, 0, 20\n"
)


def test_exact_files(labelled, tmp_path):
    out = tmp_path / "dlc"
    report = export_dlc(labelled, out, scorer="me", h5=False)
    for folder, text in EXPECTED.items():
        assert (out / "labeled-data" / folder / "CollectedData_me.csv").read_text(encoding="utf-8") == text
    assert (out / "config.yaml").read_text(encoding="utf-8") == CONFIG
    assert sorted(p.name for p in (out / "labeled-data" / "nest").iterdir()) == ["A.JPG", "CollectedData_me.csv", "a_2.jpg"]
    assert report.folders == {"Ünï": 1, "birds": 1, "nest": 2, "park": 1}
    assert (report.points, report.occluded, report.h5_written) == (7, 1, False)
    assert report.renamed == (("nest/a.jpg", "a_2.jpg"),)
    assert any("no .h5 written" in n for n in report.notes)
    rot = out / "labeled-data/birds/rot.jpg"
    with Image.open(rot) as im:
        assert im.size == (40, 60) and im.getexif().get(0x0112, 1) == 1
    assert (out / "labeled-data/park/a.jpg").resolve() == (labelled.images_root / "park/a.jpg").resolve()
    assert yaml.safe_load(CONFIG)["bodyparts"] == NAMES


@needs_pandas
def test_h5_is_what_deeplabcut_reads(labelled, tmp_path):
    import pandas as pd

    out = tmp_path / "dlc"
    assert export_dlc(labelled, out, scorer="me").h5_written
    folder = out / "labeled-data" / "nest"
    frame = pd.read_hdf(folder / "CollectedData_me.h5", "df_with_missing")
    assert list(frame.columns.names) == ["scorer", "bodyparts", "coords"]
    assert frame.index.tolist() == [("labeled-data", "nest", "A.JPG"), ("labeled-data", "nest", "a_2.jpg")]
    # DeepLabCut's convertcsv2h5 reads the CSV so; both files hold the same frame
    from_csv = pd.read_csv(folder / "CollectedData_me.csv", index_col=[0, 1, 2], header=[0, 1, 2])
    pd.testing.assert_frame_equal(from_csv, frame, check_names=False)
    # and pandas writes the frame back as exactly our CSV
    buf = io.StringIO()
    frame.to_csv(buf)
    assert buf.getvalue() == EXPECTED["nest"]


@pytest.mark.parametrize("suffix", ["csv", pytest.param("h5", marks=needs_pandas)])
def test_round_trip_is_identical(labelled, tmp_path, suffix):
    out = tmp_path / "d1"
    export_dlc(labelled, out, scorer="me")
    fresh = Project.create(tmp_path / "f" / "birds.labeler", labelled.images_root, [], images=_probed(labelled.images_root))
    for folder in EXPECTED:
        report = import_dlc(fresh, out / "labeled-data" / folder / f"CollectedData_me.{suffix}")
        assert report.not_imported == ()
    assert fresh.schema().keypoints == tuple(NAMES) and fresh.schema().skeleton == (("nose", "left_eye"),)
    nest = fresh.points(fresh.image_by_path("nest/a.jpg").id)
    assert (nest["nose"].x, nest["left_eye"].visibility) == (50.25, 2)  # occluded comes back visible
    assert {p.visibility for p in fresh.points(fresh.image_by_path("park/a.jpg").id).values()} == {ABSENT}
    export_dlc(fresh, tmp_path / "d2", scorer="me", h5=False)
    for folder, text in EXPECTED.items():
        assert (tmp_path / "d2" / "labeled-data" / folder / "CollectedData_me.csv").read_text(encoding="utf-8") == text
    fresh.close()


def test_import_a_whole_project_folder(labelled, tmp_path):
    out = tmp_path / "d"
    export_dlc(labelled, out, scorer="me", h5=False)
    fresh = Project.create(tmp_path / "f.labeler", labelled.images_root, NAMES, images=_probed(labelled.images_root))
    report = import_dlc(fresh, out)
    assert report.matched == 5 and report.merge.written == 2 + 1 + 3 + 1 + 3
    assert any("no visibility" in n for n in report.notes)
    fresh.close()


def test_images_not_in_the_project_are_reported(labelled, tmp_path):
    out = tmp_path / "d"
    export_dlc(labelled, out, scorer="me", h5=False, images="copy")
    (out / "labeler_export.json").unlink()
    elsewhere = tmp_path / "elsewhere"
    write_image(elsewhere / "x.jpg", "rgb", (16, 16))
    p = Project.create(tmp_path / "p.labeler", elsewhere, NAMES, images=_probed(elsewhere))
    report = import_dlc(p, out / "labeled-data/park/CollectedData_me.csv")
    assert report.not_imported == (("park/a.jpg", "no such file under the images root", 3),)
    p.close()


@pytest.fixture
def exported(labelled, tmp_path):
    out = tmp_path / "d"
    export_dlc(labelled, out, scorer="me", h5=False)
    fresh = Project.create(tmp_path / "f" / "p.labeler", labelled.images_root, NAMES, images=_probed(labelled.images_root))
    yield out / "labeled-data" / "nest" / "CollectedData_me.csv", fresh
    fresh.close()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("frame,x\n1,2\n", "not a DeepLabCut CollectedData file"),
        ("scorer,,,me,me\ncoords,,,x,y\nbodyparts,,,nose,nose\n", "first rows must be scorer, bodyparts, coords"),
        (HEADER + "labeled-data,nest,a.jpg,1.0,,,,,\n", "nose: has only one of x and y"),
        (HEADER + "labeled-data,nest,a.jpg,one,2.0,,,,\n", r"nose x: 'one' is not a number"),
        (HEADER + "labeled-data,nest,a.jpg,1.0,2.0\n", "line 4: 5 cells, the header has 9"),
        (HEADER + "labeled-data,nest,a.jpg,1.0,2.0,,,,\nlabeled-data,nest,a.jpg,1.0,2.0,,,,\n", "the image is listed twice"),
        (HEADER + "labeled-data,nest,a.jpg,500.0,2.0,,,,\n", r"nose: \(500, 2\) is outside the 100x50 image"),
        (HEADER.replace("right_eye", "tail") + "labeled-data,nest,a.jpg,1.0,2.0,,,,\n", "do not match the project's"),
        ("scorer,,,me,me\nbodyparts,,,nose,nose\ncoords,,,likelihood,likelihood\n", "names no bodyparts with x and y"),
    ],
)
def test_refusals(exported, text, match):
    path, fresh = exported
    path.write_text(text, encoding="utf-8")
    before = fresh.counts()
    with pytest.raises(FormatError, match=match):
        import_dlc(fresh, path)
    assert fresh.counts() == before


def test_other_refusals(exported, labelled, tmp_path):
    path, fresh = exported
    with pytest.raises(FormatError, match="file not found"):
        import_dlc(fresh, tmp_path / "nope.csv")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(FormatError, match="give a DeepLabCut CollectedData"):
        import_dlc(fresh, tmp_path / "x.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match="no labeled-data/<folder>/CollectedData"):
        import_dlc(fresh, tmp_path / "empty")
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(FormatError, match="not a UTF-8 text file"):
        import_dlc(fresh, path)
    for bad in ("a/b", "", " me", "a,b"):
        with pytest.raises(UserInputError, match="--scorer"):
            export_dlc(labelled, tmp_path / "s", scorer=bad)
    assert not (tmp_path / "s").exists()


@needs_pandas
def test_bad_h5(exported, tmp_path):
    _, fresh = exported
    bad = tmp_path / "CollectedData_x.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(FormatError, match="not a readable DeepLabCut .h5 file"):
        import_dlc(fresh, bad)


def test_csv_text_quotes_like_pandas():
    text = csv_text("me", ("a",), [("f", "x,y.png", [1e-07, None])])
    assert text.splitlines()[-1] == 'labeled-data,f,"x,y.png",1e-07,'


def test_reimport_keeps_occluded_points_and_statuses(labelled, tmp_path):
    export_dlc(labelled, tmp_path / "d", scorer="me", h5=False)
    a = labelled.image_by_path("nest/a.jpg").id
    before = labelled.points(a)
    report = import_dlc(labelled, tmp_path / "d")
    assert report.merge.written == 0 and report.merge.conflicts == ()
    assert labelled.points(a)["left_eye"].visibility == 1 and labelled.points(a) == before


@needs_pandas
def test_older_layouts_import(exported, tmp_path):
    """DeepLabCut before 2.2 indexed rows by one path string (Windows ones with backslashes);
    some tools name the index levels. Both read like the current layout."""
    import numpy as np
    import pandas as pd

    path, fresh = exported
    columns = pd.MultiIndex.from_product([["me"], NAMES, ["x", "y"]], names=["scorer", "bodyparts", "coords"])
    frame = pd.DataFrame([[3.0, 4.0, np.nan, np.nan, 5.0, 6.0]], columns=columns,
                         index=pd.Index(["labeled-data\\nest\\A.JPG"], name="path"))
    h5 = path.with_suffix(".h5")
    frame.to_hdf(h5, key="df_with_missing", mode="w")
    report = import_dlc(fresh, h5)
    assert report.not_imported == () and report.merge.written == 2
    pts = fresh.points(fresh.image_by_path("nest/A.JPG").id)
    assert {n: (p.x, p.y) for n, p in pts.items()} == {"nose": (3.0, 4.0), "right_eye": (5.0, 6.0)}
    old_csv = path.with_name("CollectedData_old.csv")
    frame.index = pd.Index(["labeled-data/park/a.jpg"])
    frame.iloc[0, 0] = 7.0
    frame.to_csv(old_csv)
    assert old_csv.read_text().splitlines()[3].startswith("labeled-data/park/a.jpg,7.0,4.0")
    assert import_dlc(fresh, old_csv).merge.written == 2


@needs_pandas
def test_background_images_are_rows_pandas_and_deeplabcut_read_back(labelled, tmp_path):
    """A no-object image (even one with points) and an all-absent one are rows without points,
    first in their file or not; a skipped image is left out (as in COCO)."""
    import numpy as np
    import pandas as pd

    ids = {im.path: im.id for im in labelled.list_images()}
    labelled.set_image_flag(ids["nest/A.JPG" if "nest/A.JPG" in ids else "nest/a.jpg"], "no_object")
    labelled.set_image_flag(ids["rot.jpg"], "skip")
    out = tmp_path / "dlc"
    report = export_dlc(labelled, out, scorer="me")
    assert "birds" not in report.folders
    for folder, n in report.folders.items():
        path = out / "labeled-data" / folder / "CollectedData_me"
        from_csv = pd.read_csv(path.with_suffix(".csv"), index_col=[0, 1, 2], header=[0, 1, 2])
        from_h5 = pd.read_hdf(path.with_suffix(".h5"), "df_with_missing")
        assert len(from_csv) == len(from_h5) == n and list(from_csv.index.names) == [None, None, None]
        pd.testing.assert_frame_equal(from_csv, from_h5, check_names=False)
    park = pd.read_csv(out / "labeled-data/park/CollectedData_me.csv", index_col=[0, 1, 2], header=[0, 1, 2])
    assert park.index.tolist() == [("labeled-data", "park", "a.jpg")] and np.isnan(park.to_numpy()).all()
    nest = pd.read_csv(out / "labeled-data/nest/CollectedData_me.csv", index_col=[0, 1, 2], header=[0, 1, 2])
    assert np.isnan(nest.to_numpy()).all(axis=1).sum() == 1  # the no-object image: no points
