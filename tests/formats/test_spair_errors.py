"""Bad SPair input and unwritable export folders give the formats' own errors, never raw Python ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labeler.errors import FormatError, LabelerError
from labeler.formats.pairs import export_pairs
from labeler.formats.spair import SPairExportConfig, read_pair
from labeler.store import Project
from labeler.store.testing import write_image

GOOD_PAIR = {
    "pair_id": 1,
    "filename": "000001-a-b:cat",
    "src_imname": "a.jpg",
    "trg_imname": "b.jpg",
    "src_imsize": [64, 48, 3],
    "trg_imsize": [64, 48, 3],
    "src_bndbox": [0, 0, 63, 47],
    "trg_bndbox": [0, 0, 63, 47],
    "category": "cat",
    "src_kps": [[1, 2], [3, 4]],
    "trg_kps": [[5, 6], [7, 8]],
    "kps_ids": ["0", "3"],
}


def _write(tmp_path: Path, **changes: object) -> Path:
    path = tmp_path / "000001-a-b:cat.json"
    path.write_text(json.dumps({**GOOD_PAIR, **changes}), encoding="utf-8")
    return path


def test_read_pair_reads_a_good_record(tmp_path):
    pair = read_pair(_write(tmp_path))
    assert (pair.pair_id, pair.kps_ids, pair.src_kps) == (1, ("0", "3"), ((1.0, 2.0), (3.0, 4.0)))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pair_id": "abc"}, "pair_id must be an integer"),
        ({"pair_id": None}, "pair_id must be an integer"),
        ({"pair_id": [1]}, "pair_id must be an integer"),
        ({"kps_ids": 7}, "kps_ids must be a list"),
        ({"kps_ids": None}, "kps_ids must be a list"),
        ({"kps_ids": "03"}, "kps_ids must be a list"),
    ],
)
def test_malformed_records_are_format_errors_naming_the_file(tmp_path, changes, message):
    path = _write(tmp_path, **changes)
    with pytest.raises(FormatError) as caught:
        read_pair(path)
    assert str(path) in str(caught.value) and message in str(caught.value)


def _small_project(tmp_path: Path) -> Project:
    root = tmp_path / "imgs"
    for i in range(2):
        write_image(root / f"im{i}.png", size=(40, 30), seed=i)
    project = Project.create(tmp_path / "p.labeler", root, ["a"])
    project.add_images(root)
    for image_id, _, _ in project.image_index():
        project.set_point(image_id, "a", 5.5, 6.5)
    return project


@pytest.mark.parametrize("overwrite", [False, True])
def test_export_folder_under_a_file_is_a_labeler_error(tmp_path, overwrite):
    some_file = tmp_path / "some_file"
    some_file.write_text("keep me")
    with _small_project(tmp_path) as project:
        for out in (some_file / "sp", some_file / "deeper" / "sp"):
            with pytest.raises(LabelerError) as caught:
                export_pairs(project, out, SPairExportConfig(overwrite=overwrite, split_ratio=(1, 0, 0)))
            message = str(caught.value)
            assert message == f"cannot create {out}: {some_file} is a file, not a folder"
    assert some_file.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgs", "p.labeler", "some_file"]


def test_os_errors_before_writing_are_labeler_errors(tmp_path, monkeypatch):
    """A folder where nothing can be created (a permission, a full disk) keeps the OS's reason."""

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied", str(tmp_path / "locked"))

    monkeypatch.setattr("labeler.atomic.tempfile.mkdtemp", refuse)
    with _small_project(tmp_path) as project, pytest.raises(LabelerError, match="Permission denied"):
        export_pairs(project, tmp_path / "locked" / "sp", SPairExportConfig(split_ratio=(1, 0, 0)))
