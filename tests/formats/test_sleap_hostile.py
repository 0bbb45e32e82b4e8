"""A hostile ``.slp`` file: every table sized before sleap-io reads it, frame indices checked.

A compressed HDF5 dataset declares its size and may claim any: a few KB on disk can read as 17 GB.
Generated: each table labeler lets sleap-io read, replaced by a compressed one of a random huge row
count, read in a subprocess under a memory cap; and frames whose index leaves the image list.
"""

from __future__ import annotations

import random
import resource
import subprocess
from pathlib import Path
import sys

import pytest

pytest.importorskip("sleap_io")
h5py = pytest.importorskip("h5py")

from labeler.errors import FormatError  # noqa: E402
from labeler.formats.sleap import export_sleap, read_sleap  # noqa: E402
from labeler.store import Project  # noqa: E402
from labeler.store.scanning import find_image_files, probe_files  # noqa: E402


def _slp(tmp_path):
    from PIL import Image

    root = tmp_path / "images"
    root.mkdir()
    for i in range(3):
        Image.new("RGB", (40, 30), (i * 60, 0, 0)).save(root / f"i{i}.png")
    probed, _ = probe_files([(f, f.name) for f in find_image_files(root)], progress=False)
    project = Project.create(tmp_path / "p.labeler", root, ("a", "b"), (), (), images=probed)
    for im in project.list_images():
        project.set_points(im.id, {"a": (3.0, 4.0), "b": (10.0, 12.0)})
    export_sleap(project, tmp_path / "ok.slp")
    project.close()
    return tmp_path / "ok.slp"


def _replace(src, dst, edit) -> None:
    dst.write_bytes(src.read_bytes())
    with h5py.File(dst, "r+") as f:
        edit(f)


def _bomb(table: str, rows: int):
    def edit(f) -> None:  # noqa: ANN001
        dtype = f[table].dtype
        del f[table]
        f.create_dataset(table, shape=(rows,), dtype=dtype, chunks=(100_000,), compression="gzip")

    return edit


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def test_every_table_of_a_slp_is_sized_before_it_is_read_under_a_memory_cap(tmp_path):
    good = _slp(tmp_path)
    rng = random.Random(21)
    files = []
    for k, table in enumerate(("frames", "instances", "points", "pred_points")):
        path = tmp_path / f"bomb{k}.slp"
        _replace(good, path, _bomb(table, rng.randrange(10**8, 10**10)))
        assert path.stat().st_size < 1_000_000
        files.append(str(path))
    script = (
        "import sys\nfrom labeler.errors import FormatError\nfrom labeler.formats.sleap import read_sleap\n"
        "for p in sys.argv[1:]:\n"
        "    try:\n        read_sleap(p); print('READ')\n"
        "    except FormatError as e:\n        print(str(e).replace(chr(10), ' '))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, *files], capture_output=True, text=True, timeout=120,
                          preexec_fn=_cap, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert len(lines) == len(files)
    assert all("more than labeler reads" in line for line in lines), lines


def test_a_frame_index_outside_the_image_list_is_one_format_error(tmp_path):
    good = _slp(tmp_path)
    rng = random.Random(7)
    for k, index in enumerate([3, 4, rng.randrange(5, 2**63)]):
        path = tmp_path / f"f{k}.slp"

        def edit(f, index=index) -> None:  # noqa: ANN001
            rows = f["frames"][:]
            rows["frame_idx"][rng.randrange(len(rows))] = index
            del f["frames"]
            f.create_dataset("frames", data=rows)

        _replace(good, path, edit)
        with pytest.raises(FormatError, match="of a sequence of 3 images"):
            read_sleap(path)
    assert len(read_sleap(good).images) == 3


def test_the_export_names_only_images_whose_file_is_the_picture_labelled_inside_the_folder(tmp_path):
    """Each image kept, deleted, replaced by another picture, or made a link leading outside (to a
    file, or through a folder): the .slp lists exactly the kept ones, and a note names the rest."""
    import sleap_io as sio
    from PIL import Image

    outside = tmp_path / "outside"
    outside.mkdir()
    Image.new("RGB", (40, 30), (0, 250, 0)).save(outside / "o.png")
    rng = random.Random(5)
    fates = ("keep", "delete", "replace", "file_link", "dir_link")
    for round_ in range(4):
        base = tmp_path / f"r{round_}"
        base.mkdir()
        _slp(base)
        root = base / "images"
        project = Project.open(base / "p.labeler")
        chosen = {f"i{i}.png": rng.choice(fates) for i in range(3)}
        if round_ == 0:
            chosen["i0.png"] = "keep"
        for name, fate in chosen.items():
            f = root / name
            if fate == "delete":
                f.unlink()
            elif fate == "replace":
                Image.new("RGB", (40, 30), (1, 2, 250)).save(f)
            elif fate == "file_link":
                f.unlink()
                f.symlink_to(outside / "o.png")
            elif fate == "dir_link":
                f.unlink()
                (root / f"d{name}").symlink_to(outside)
                f.symlink_to(root / f"d{name}" / "o.png")
        kept = sorted(n for n, fate in chosen.items() if fate == "keep")
        notes: list[str] = []
        if not kept:
            with pytest.raises(Exception, match="nothing to export|none of the"):
                export_sleap(project, base / "x.slp", notes=notes)
            continue
        assert export_sleap(project, base / "x.slp", notes=notes) == len(kept)
        project.close()
        labels = sio.load_slp(str(base / "x.slp"), open_videos=False)
        named = sorted(Path(f).name for v in labels.videos for f in v.filename)
        assert named == kept, chosen
        for name, fate in chosen.items():
            assert (fate == "keep") != any(name in note for note in notes), (chosen, notes)
