"""Issue #21 §5: a replaced picture is caught wherever labels meet pixels.

One check (``Project.check_files``: size and mtime, then the sha256) serves every consumer:
``status`` says so (without writing), the YOLO, DeepLabCut and SPair exports leave the image out
with a note, COCO names it in a warning, and ``propagate`` lists a replaced reference as failed
with the reason. The ways of replacing a picture are generated.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from labeler.cli import main
from labeler.formats.dlc import export_dlc
from labeler.formats.pairs import export_pairs
from labeler.formats.yolo import export_yolo
from labeler.propagation import PropagationConfig, propagate
from labeler.store import CHANGED_FILE, Project, find_image_files, probe_files, relative_to_root
from labeler.store.testing import write_image

NAMES = ["nose", "tail"]
SIZE = (40, 30)
LABELLED = ("a.jpg", "b.jpg", "c.png")


def _write_same_size(path: Path, seed: int) -> None:
    """Another picture with exactly the old number of bytes (a PNG padded after its end)."""
    size = path.stat().st_size
    other = path.with_name(".other.png")
    for s in range(seed, seed + 500):
        write_image(other, "rgb", SIZE, seed=s)
        if other.stat().st_size <= size:
            break
    data = other.read_bytes()
    other.unlink()
    path.write_bytes(data + b"\0" * (size - len(data)))


def _bump_mtime(path: Path, st: os.stat_result) -> None:
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2 * 10**9))


def replace_in_place(path: Path) -> None:  # another picture, another size
    st = path.stat()
    write_image(path, "rgb", SIZE, seed=91)
    _bump_mtime(path, st)


def replace_same_size(path: Path) -> None:  # same byte count, later mtime
    st = path.stat()
    _write_same_size(path, 92)
    _bump_mtime(path, st)


def replace_by_rename(path: Path) -> None:  # a new file renamed over the old one (new inode)
    st = path.stat()
    tmp = path.with_name(".new" + path.suffix)
    write_image(tmp, "rgb", SIZE, seed=93)
    os.replace(tmp, path)
    _bump_mtime(path, st)


def replace_by_link_inside(path: Path) -> None:  # a link to another picture inside the folder
    os.unlink(path)
    os.symlink("d.jpg", path)


REPLACERS = [replace_in_place, replace_same_size, replace_by_rename, replace_by_link_inside]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("replaced")
    root = folder / "images"
    for n, rel in enumerate((*LABELLED, "d.jpg")):
        write_image(root / rel, "rgb", SIZE, seed=n)
    probed, _ = probe_files([(f, relative_to_root(f, root)) for f in find_image_files(root)], progress=False)
    with Project.create(folder / "p.labeler", root, NAMES, images=probed) as project:
        for image_id, rel, _ in project.image_index():
            if rel in LABELLED:
                project.set_point(image_id, "nose", 5.0, 6.0)
                project.set_point(image_id, "tail", 20.0, 15.0)
    return folder


@pytest.fixture(params=REPLACERS, ids=[r.__name__ for r in REPLACERS])
def replaced(request, template, tmp_path):
    folder = tmp_path / "p"
    shutil.copytree(template, folder, symlinks=True)
    request.param(folder / "images" / "b.jpg")
    return folder / "p.labeler"


def pictures(out: Path) -> set[str]:
    return {p.name for p in out.rglob("*") if p.suffix.lower() in (".jpg", ".png")}


def test_every_consumer_catches_a_replaced_picture(replaced, tmp_path, capsys):
    # status says so at once (no export ran before), and writes nothing
    before = replaced.stat().st_mtime_ns, os.path.getsize(replaced)
    assert main(["status", str(replaced)]) == 0
    out = capsys.readouterr().out
    assert "replaced by another picture (1" in out and "b.jpg" in out
    with Project.open(replaced) as project:
        assert project.image_count(changed=True) == 0  # status recorded nothing
        for mode in ("copy", "link"):
            report = export_yolo(project, tmp_path / f"yolo-{mode}", images=mode, split_ratio=(1.0, 0.0))
            assert pictures(tmp_path / f"yolo-{mode}") == {"a.jpg", "c.png"}
            assert any("another picture" in n and "b.jpg" in n for n in report.notes), report.notes
            report = export_dlc(project, tmp_path / f"dlc-{mode}", images=mode, h5=False)
            assert pictures(tmp_path / f"dlc-{mode}") == {"a.jpg", "c.png"}
            assert any("another picture" in n and "b.jpg" in n for n in report.notes), report.notes
        from labeler.formats.coco import export_coco

        assert export_coco(project, tmp_path / "labels.json").replaced == ("b.jpg",)  # labels only: named
        summary = export_pairs(project, tmp_path / "pairs")
        assert any("another picture" in w and "b.jpg" in w for w in summary.warnings), summary.warnings
    assert before[1] == os.path.getsize(replaced)


def test_propagate_lists_a_replaced_reference_as_failed_with_the_reason(template, tmp_path):
    folder = tmp_path / "p"
    shutil.copytree(template, folder, symlinks=True)
    replace_same_size(folder / "images" / "b.jpg")
    with Project.open(folder / "p.labeler") as project:
        result = propagate(project, PropagationConfig(method="classical", device="cpu"))
        failed = dict(result.failed)
        assert failed["b.jpg"].endswith(CHANGED_FILE) and "reference not used" in failed["b.jpg"]
        assert project.points(project.image_by_path("d.jpg").id)  # from the references still valid
