"""Outputs swapped in at once, and leftovers of killed runs cleaned up by the next run."""

from __future__ import annotations

import os
import subprocess
import sys

from labeler import atomic


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_exchange_swaps_two_folders_or_says_it_cannot(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "new").write_text("new")
    (b / "old").write_text("old")
    if atomic.exchange(a, b):
        assert (b / "new").is_file() and (a / "old").is_file()
    else:
        assert (a / "new").is_file() and (b / "old").is_file()


def test_replace_dir_leaves_only_the_new_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old").write_text("old")
    tmp = atomic.temp_dir(out)
    (tmp / "new").write_text("new")
    atomic.replace_dir(tmp, out)
    assert sorted(os.listdir(out)) == ["new"]
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_a_folder_moved_aside_by_a_killed_run_is_put_back(tmp_path):
    out = tmp_path / "pairs"
    aside = tmp_path / f".pairs.old-{atomic._host()}-{_dead_pid()}.x1y2"
    (aside / "export").mkdir(parents=True)
    (aside / "export" / "labeler_export.json").write_text("{}")
    atomic.clean_stale(out)
    assert (out / "labeler_export.json").is_file()
    assert sorted(os.listdir(tmp_path)) == ["pairs"]


def test_leftovers_of_dead_runs_go_and_those_of_live_ones_stay(tmp_path):
    target = tmp_path / "p.labeler"
    dead = tmp_path / f".p.labeler.tmp-{atomic._host()}-{_dead_pid()}.ab12.tmp"
    dead.write_bytes(b"x")
    (tmp_path / f"{dead.name}-journal").write_bytes(b"j")
    live = tmp_path / f".p.labeler.tmp-{atomic._host()}-{os.getppid()}.cd34.tmp"
    live.write_bytes(b"y")
    other = tmp_path / ".p.labeler.unrelated"
    other.write_bytes(b"z")
    atomic.clean_stale(target)
    assert sorted(os.listdir(tmp_path)) == sorted([live.name, other.name])


def test_init_and_exports_clean_up_after_killed_runs(tmp_path, capsys):
    from labeler.cli import main
    from labeler.store.testing import write_image

    root = tmp_path / "imgs"
    for i in range(4):
        write_image(root / f"im{i}.png", size=(60, 40), seed=i)
    pid = _dead_pid()
    host = atomic._host()
    leftovers = [
        tmp_path / f".p.labeler.tmp-{host}-{pid}.aaaa.tmp",
        tmp_path / f".p.labeler.tmp-{host}-{pid}.aaaa.tmp-journal",
        tmp_path / f".o.json.tmp-{host}-{pid}.bbbb.tmp",
    ]
    for path in leftovers:
        path.write_bytes(b"left over")
    (tmp_path / f".pairs.tmp-{host}-{pid}.cccc" / "JPEGImages").mkdir(parents=True)
    project = tmp_path / "p.labeler"
    assert main(["init", str(project), "--images", str(root), "--keypoints", "a,b"]) == 0
    for i in range(3):
        assert main(["label", str(project), f"im{i}.png", "a=10,10", "b=20,20"]) == 0
    assert main(["export", str(project), "--coco", str(tmp_path / "o.json")]) == 0
    assert main(["export", str(project), "--pairs", str(tmp_path / "pairs"), "--split-ratio", "1,0,0"]) == 0
    assert main(["export", str(project), "--pairs", str(tmp_path / "pairs"), "--split-ratio", "1,0,0", "--overwrite"]) == 0
    hidden = sorted(n for n in os.listdir(tmp_path) if n.startswith("."))
    assert hidden == [], hidden
