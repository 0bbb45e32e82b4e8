"""The app and the CLI on one project file: no process may ever drop another's SQLite locks.

On POSIX, closing any descriptor of a file drops every lock the process holds on it. A process
that did that (reading the header with ``open()`` while its own connections were open) let the
next CLI process believe it was the last one: it checkpointed and deleted the WAL, while the app
went on writing into its deleted copy (issue #11: edits invisible to the CLI, reverted on close,
lost on kill -9).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from labeler.formats.coco import export_coco
from labeler.store import MANUAL, Project

pytestmark = pytest.mark.sqlite_only  # about the SQLite file and its WAL


def labeler(*args: object) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "labeler", *map(str, args)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def read_point(path: Path, image_id: int, name: str) -> tuple[float, float] | None:
    """The point as a fresh process sees it."""
    code = textwrap.dedent(
        f"""
        from labeler.store import Project
        with Project.open({str(path)!r}) as p:
            row = p.points({image_id}).get({name!r})
            print("none" if row is None else f"{{row.x}} {{row.y}}")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    text = out.stdout.strip()
    return None if text == "none" else tuple(map(float, text.split()))


def side_files(path: Path) -> tuple[bool, bool]:
    return os.path.exists(f"{path}-wal"), os.path.exists(f"{path}-shm")


def test_app_and_cli_keep_the_wal_and_see_each_others_edits(project, tmp_path):
    path = project.path
    (first_id, first_path, _), (second_id, second_path, _) = project.image_index()[:2]
    # What the app does while it holds the project: another Project on the same file (how the
    # propagation worker used to open it), an export from the window's own Project...
    Project.open(path).close()
    export_coco(project, tmp_path / "labels.json")
    project.set_point(first_id, "nose", 5.0, 6.0)
    # ... while a terminal runs the CLI on the same file.
    labeler("status", path)
    assert side_files(path) == (True, True)

    project.set_point(first_id, "tail", 9.0, 10.0)
    assert read_point(path, first_id, "tail") == (9.0, 10.0)  # the CLI sees the app's edit at once

    project.has_changed()
    labeler("label", path, second_path, "nose=7,8")
    assert project.has_changed()
    assert (project.points(second_id)["nose"].x, project.points(second_id)["nose"].y) == (7.0, 8.0)

    project.close()  # the app quits: nothing the CLI committed may be reverted
    with Project.open(path) as again:
        assert again.points(second_id)["nose"].status == MANUAL
        assert again.points(first_id)["tail"].x == 9.0


HOLDER = textwrap.dedent(
    """
    import os, sys, time
    from labeler.formats.coco import export_coco
    from labeler.store import Project
    path, out, go = sys.argv[1], sys.argv[2], sys.argv[3]
    project = Project.open(path)
    Project.open(path).close()          # what the app's worker and jobs did
    export_coco(project, out)
    ids = [i for i, _, _ in project.image_index()]
    for n, image in enumerate(ids):
        if n == len(ids) // 2:
            print("half", flush=True)
            while not os.path.exists(go):   # the CLI runs meanwhile
                time.sleep(0.01)
        project.set_point(image, "nose", 1.0 + n, 2.0)
        print("committed", image, flush=True)
    print("done", flush=True)
    time.sleep(600)                      # killed with -9 here, never closed
    """
)


def test_kill_9_of_the_app_loses_nothing_it_committed_while_the_cli_ran(project, tmp_path):
    path, n_images = project.path, project.image_count()
    project.close()  # the holder and the CLI are the only processes with the file open
    go = tmp_path / "go"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), str(tmp_path / "out.json"), str(go)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        committed = []
        line = holder.stdout.readline()
        while line.startswith("committed"):
            committed.append(int(line.split()[1]))
            line = holder.stdout.readline()
        assert line.strip() == "half", holder.stderr.read()
        labeler("status", path)  # opens and closes the file while the holder has it open
        go.touch()
        line = holder.stdout.readline()
        while line.startswith("committed"):
            committed.append(int(line.split()[1]))
            line = holder.stdout.readline()
        assert line.strip() == "done", holder.stderr.read()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=60)
    assert len(committed) == n_images
    with Project.open(path) as after:
        for n, image in enumerate(committed):
            assert after.points(image)["nose"].x == 1.0 + n


def test_the_project_file_is_never_read_as_an_import_or_replaced_by_an_export(project, tmp_path):
    """Reading it with open() would drop this process's locks; a hard link is the same file."""
    from labeler.errors import LabelerError
    from labeler.formats.coco import import_coco

    link = tmp_path / "looks-like.json"
    os.link(project.path, link)
    for target in (project.path, link, Path(f"{project.path}-wal")):
        assert project.is_own_file(target)
        with pytest.raises(LabelerError, match="project file"):
            import_coco(project, target)
        with pytest.raises(LabelerError, match="project file"):
            export_coco(project, target)
    assert not project.is_own_file(tmp_path / "labels.json")
    assert side_files(project.path) == (True, True)
