"""A YOLO label file is sized before it is read: at most MAX_OBJECTS_PER_IMAGE rows of the
dataset's numbers (class, box, K keypoints of its kpt_shape). Read whole, its text and floats took
~17 times the file (72 MB: 1.25 GB and 9 s), so a large file was a memory bomb.

Generated: data.yaml with a random K and ndim, one label file just over the bound (sparse: no
disk); and a sparse 4 GB label file imported by the CLI in a subprocess under a 1.5 GB memory cap."""

from __future__ import annotations

import random
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from labeler.errors import FormatError
from labeler.formats.yolo import _max_label_bytes, import_yolo
from labeler.store import Project, find_image_files, probe_files, relative_to_root
from labeler.store.testing import write_image


def _dataset(tmp_path: Path, k: int, ndim: int) -> tuple[Path, Path]:
    root = tmp_path / "ds"
    write_image(root / "images" / "train" / "a.png", "rgb", (40, 30))
    (root / "labels" / "train").mkdir(parents=True)
    (root / "data.yaml").write_text(f"path: {root}\ntrain: images/train\nval: images/train\nkpt_shape: [{k}, {ndim}]\nnames:\n  0: bird\n")
    label = root / "labels" / "train" / "a.txt"
    label.write_text("0 0.5 0.5 0.2 0.2 " + " ".join(["0.1 0.1" + (" 2" if ndim == 3 else "")] * k) + "\n")
    return root, label


def _project(tmp_path: Path, root: Path) -> Project:
    images = root / "images"
    probed = probe_files([(f, relative_to_root(f, images)) for f in find_image_files(images)], progress=False)[0]
    return Project.create(tmp_path / "p.labeler", images, (), images=probed)


def test_a_label_file_over_the_bound_is_refused_before_it_is_read(tmp_path):
    rng = random.Random(21)
    for n in range(4):
        k, ndim = rng.randrange(1, 40), rng.choice((2, 3))
        root, label = _dataset(tmp_path / str(n), k, ndim)
        with open(label, "r+b") as f:
            f.truncate(_max_label_bytes(k, ndim) + rng.randrange(1, 10_000))
        project = _project(tmp_path / str(n), root)
        with pytest.raises(FormatError, match="bytes, more than 500 rows"):
            import_yolo(project, root)
        project.close()


def test_a_label_file_within_the_bound_imports(tmp_path):
    root, _ = _dataset(tmp_path, 3, 3)
    project = _project(tmp_path, root)
    import_yolo(project, root)
    assert len(project.all_points()) == 3
    project.close()


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (3 << 29, 3 << 29))


def test_a_huge_label_file_costs_no_memory(tmp_path):
    root, label = _dataset(tmp_path, 3, 3)
    with open(label, "r+b") as f:
        f.truncate(4 << 30)
    _project(tmp_path, root).close()
    done = subprocess.run([sys.executable, "-m", "labeler", "import", str(tmp_path / "p.labeler"), "--yolo", str(root)],
                          capture_output=True, text=True, timeout=120, preexec_fn=_cap, check=False)
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1 and "Traceback" not in done.stderr, done.stderr[-1500:]
    assert "bytes, more than 500 rows" in done.stderr, done.stderr[-1500:]
