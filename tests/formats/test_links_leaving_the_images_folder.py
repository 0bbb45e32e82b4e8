"""Issue #21 §4: only files really inside the images folder are read or copied.

A symbolic link made inside the images folder after the project was created, leading outside
(to a file or a folder; directly or through a chain of links; spelled absolute or relative),
is refused at the moment of every read and copy: the image loader, every export that writes
pictures (YOLO, DeepLabCut, SPair pairs, copied or linked), ``status``, ``propagate`` and COCO
import. The outside file is a byte-identical copy of the original, so nothing but the
real-path check can tell; the layouts are generated.
"""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

import pytest

from labeler.cli import main
from labeler.formats.dlc import export_dlc
from labeler.formats.pairs import export_pairs
from labeler.formats.yolo import export_yolo
from labeler.imaging import load_rgb
from labeler.propagation import PropagationConfig, propagate
from labeler.store import OutsideImagesFolder, Project, find_image_files, probe_files, relative_to_root
from labeler.store.testing import write_image

NAMES = ["nose", "tail"]
FILES = {"nest/a.jpg": (0, (40, 30)), "nest/b.jpg": (1, (40, 30)), "c.jpg": (2, (40, 30)), "d.jpg": (3, (40, 30))}
LAYOUTS = list(itertools.product(("file", "folder"), ("direct", "chain"), ("absolute", "relative")))


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("links")
    root = folder / "images"
    for rel, (seed, size) in FILES.items():
        write_image(root / rel, "rgb", size, seed=seed)
    files = find_image_files(root)
    probed, _ = probe_files([(f, relative_to_root(f, root)) for f in files], progress=False)
    with Project.create(folder / "p.labeler", root, NAMES, images=probed) as project:
        for image_id, rel, _ in project.image_index():
            if rel == "d.jpg":
                continue  # the target propagation predicts
            project.set_point(image_id, "nose", 5.0, 6.0)
            project.set_point(image_id, "tail", 20.0, 15.0)
    return folder


def make_link(link: Path, target: Path, spelling: str) -> None:
    os.symlink(target if spelling == "absolute" else os.path.relpath(target, link.parent), link)


def lay_out(folder: Path, what: str, hops: str, spelling: str) -> set[str]:
    """Move a file (or a folder) of the images outside and link it back in; the images whose
    real path now lies outside."""
    root, outside = folder / "images", folder / "outside"
    outside.mkdir()
    moved = "c.jpg" if what == "file" else "nest"
    shutil.move(root / moved, outside / moved)  # the same bytes: only the real path differs
    target = outside / moved
    if hops == "chain":  # the image links to a link inside the folder, which leads outside
        make_link(root / f".hop-{moved}", target, spelling)
        target = root / f".hop-{moved}"
    make_link(root / moved, target, spelling)
    return {"c.jpg"} if what == "file" else {"nest/a.jpg", "nest/b.jpg"}


@pytest.fixture(params=LAYOUTS, ids=["-".join(p) for p in LAYOUTS])
def linked(request, template, tmp_path):
    folder = tmp_path / "p"
    shutil.copytree(template, folder, symlinks=True)
    leaving = lay_out(folder, *request.param)
    project = Project.open(folder / "p.labeler")
    yield project, leaving
    project.close()


def exported_pictures(out: Path) -> set[str]:
    return {p.name for p in out.rglob("*") if p.suffix.lower() in (".jpg", ".png")}


def test_no_read_or_copy_follows_a_link_leaving_the_images_folder(linked, tmp_path):
    project, leaving = linked
    by_path = {rel: image_id for image_id, rel, _ in project.image_index()}
    # the image loader (the window, previews, propagation all take the path from image_path)
    for rel in leaving:
        with pytest.raises(OutsideImagesFolder, match="outside the images folder"):
            load_rgb(project.image_path(by_path[rel]))
        assert not project.image_on_disk(by_path[rel])
    staying = sorted(set(FILES) - leaving)
    assert load_rgb(project.image_path(by_path[staying[0]])).shape[:2] == (30, 40)

    labelled = [rel for rel in staying if rel != "d.jpg"]
    for mode in ("copy", "link"):
        report = export_yolo(project, tmp_path / f"yolo-{mode}", images=mode, split_ratio=(1.0, 0.0))
        assert len(exported_pictures(tmp_path / f"yolo-{mode}")) == len(labelled)
        assert any("left out" in n for n in report.notes), report.notes
        report = export_dlc(project, tmp_path / f"dlc-{mode}", images=mode, h5=False)
        assert len(exported_pictures(tmp_path / f"dlc-{mode}")) == len(labelled)
        assert any("left out" in n for n in report.notes), report.notes
        # a linked export links to real files inside the images folder only
        real_root = os.path.realpath(project.images_root)
        for link in (p for out in ("yolo", "dlc") for p in (tmp_path / f"{out}-{mode}").rglob("*") if p.is_symlink()):
            assert os.path.realpath(link).startswith(real_root + os.sep)
    summary = export_pairs(project, tmp_path / "pairs")
    assert len(exported_pictures(tmp_path / "pairs")) == len(labelled)
    assert any("link leading outside" in w for w in summary.warnings), summary.warnings



def test_propagate_never_reads_a_reference_leaving_the_images_folder(template, tmp_path):
    folder = tmp_path / "p"
    shutil.copytree(template, folder, symlinks=True)
    leaving = lay_out(folder, "folder", "chain", "relative")  # the loader's cases are all above
    with Project.open(folder / "p.labeler") as project:
        result = propagate(project, PropagationConfig(method="classical", device="cpu"))
        said = "\n".join([*result.messages, *(f"{p}: {r}" for p, r in result.failed)])
        assert all(rel in said for rel in leaving), said  # each one named, with the reason
        assert project.points(project.image_by_path("d.jpg").id)  # predicted from those inside


def test_status_and_coco_import_refuse_a_link_leaving_the_images_folder(template, tmp_path, capsys):
    folder = tmp_path / "p"
    shutil.copytree(template, folder, symlinks=True)
    lay_out(folder, "file", "direct", "absolute")
    assert main(["status", str(folder / "p.labeler")]) == 0
    out = capsys.readouterr().out
    assert "missing on disk (1" in out and "c.jpg" in out

    from labeler.formats.coco import export_coco, import_coco

    with Project.open(folder / "p.labeler") as project:
        export_coco(project, tmp_path / "labels.json")
        project.remove_images([project.image_by_path("c.jpg").id])
        report = import_coco(project, tmp_path / "labels.json")
        assert project.find_image("c.jpg") is None  # not registered: its file was never probed
        assert "c.jpg" in str(report.not_imported)
