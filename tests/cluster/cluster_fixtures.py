"""Small projects and the real CLI in a subprocess, for the cluster tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from labeler.store import Project, find_image_files, probe_files, relative_to_root
from labeler.store.testing import write_image

KEYPOINTS = ("head", "left", "right", "tail")
CLASSICAL = ("--method", "classical", "--setting", "work_side=256")


def make_project(folder: Path, n: int = 12) -> Path:
    root = folder / "images"
    for i in range(n):
        write_image(root / f"img{i:02d}.png", "rgb", (120 + (i % 3) * 8, 90), seed=100 + i)
    files = find_image_files(root)
    probed, _ = probe_files([(f, relative_to_root(f, root)) for f in files], progress=False)
    path = folder / "cluster.labeler"
    with Project.create(path, root, KEYPOINTS, (), (("left", "right"),), images=probed) as p:
        p.set_points(p.find_image("img00.png").id, {"head": (60.0, 20.0), "left": (30.0, 45.0), "right": (90.0, 45.0)})
        p.set_points(p.find_image("img05.png").id, {"tail": (64.0, 80.0), "head": "absent"})
    return path


def labeler(*args: object, timeout: float = 240, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess (``env``: more variables)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    result = subprocess.run([sys.executable, "-m", "labeler", *map(str, args)], capture_output=True, text=True,
                            timeout=timeout, env=env)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def export(path: Path) -> str:
    """The COCO export with predictions (the real command, in this process), as text: the files
    two runs must share exactly."""
    from labeler.cli import main

    out = path.with_suffix(".json")
    assert main(["export", str(path), "--coco", str(out), "--predicted"]) == 0
    return out.read_text(encoding="utf-8")
