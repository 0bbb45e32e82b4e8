"""Issue #21 §1: every file dialog of the app, pointed at the project's folder, and then a CLI
writer, an edit in the app and ``kill -9`` of the app: the edit is in the file.

Qt's file dialog opens and closes the project file and its ``-wal``/``-shm`` to guess their
types, which drops every POSIX lock the app holds on them; the store's OFD guard keeps the WAL
alive anyway. The app runs in a process of its own (file_dialog_app.py) so it can be killed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from labeler.store import Project

APP = Path(__file__).with_name("file_dialog_app.py")
GUI = Path(__file__).parents[2] / "labeler" / "gui"
#: The soak's length (issue #21 asks for 60 s; the suite runs a short one).
SOAK_S = float(os.environ.get("LABELER_DIALOG_SOAK_S", "5"))

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the guard is Linux's (see README)")


class App:
    def __init__(self, project: Path, tmp: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, str(APP), str(project), str(tmp / "settings.ini")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def read(self) -> str:
        return self.proc.stdout.readline().strip()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=60)


def cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labeler", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_dialogs_then_cli_then_app_edit_then_kill_9(project_path, tmp_path):
    with Project.open(project_path) as p:
        (first, _, _), (second, second_rel, _) = p.image_index()[:2]
    app = App(project_path, tmp_path)
    try:
        # one dialog per call site of QFileDialog in the app's code, none forgotten
        sites = sum(len(re.findall(r"QFileDialog\.get\w+\(", p.read_text())) for p in GUI.rglob("*.py"))
        app.send("count")
        assert app.read() == f"count {sites}"
        app.send("locks")
        assert app.read() == "locks 1 1"  # the guard's OFD lock and SQLite's own POSIX lock
        app.send("dialogs 1")
        lines = iter(app.read, "done")
        assert not [line for line in lines if not line.startswith("committed")]
        app.send("locks")
        assert app.read() == "locks 1 0"  # the dialogs dropped SQLite's lock; the guard's holds
        done = cli("label", project_path, second_rel, "tail=7,8")  # a terminal writes meanwhile
        assert done.returncode == 0, done.stderr
        app.send(f"edit {first} 33")
        assert app.read() == f"committed {first} 33"
    finally:
        app.kill()
    with Project.open(project_path) as after:
        assert after.points(first)["nose"].x == 33.0
        assert after.points(second)["tail"].x == 7.0


TERMINAL = textwrap.dedent(
    """
    import json, subprocess, sys, time
    path, keypoint, deadline, images = sys.argv[1], sys.argv[2], float(sys.argv[3]), json.loads(sys.argv[4])
    n = 0
    while time.time() < deadline:
        image, x = images[n % len(images)], float(1 + n % 40)
        done = subprocess.run([sys.executable, "-m", "labeler", "label", path, image, f"{keypoint}={x},{x}"],
                              capture_output=True, text=True)
        print("committed" if done.returncode == 0 else "failed", json.dumps([image, x, done.stderr]), flush=True)
        n += 1
    """
)


def test_soak_dialogs_in_a_loop_while_cli_writers_run(project_path, tmp_path):
    with Project.open(project_path) as p:
        index = p.image_index()
    by_rel = {rel: i for i, rel, _ in index}
    deadline = time.time() + SOAK_S
    terminals = [
        subprocess.Popen([sys.executable, "-c", TERMINAL, str(project_path), k, str(deadline), json.dumps(list(by_rel))],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for k in ("tail", "left_eye")
    ]
    app = App(project_path, tmp_path)
    app_edits: dict[int, float] = {}
    rounds = commits = cli_commits = 0
    try:
        while time.time() < deadline or rounds == 0:
            app.send("dialogs 1")
            for line in iter(app.read, "done"):
                assert line.startswith("committed"), line
                _, image, x = line.split()
                app_edits[int(image)] = float(x)
                commits += 1
            rounds += 1
        cli_edits: dict[tuple[int, str], float] = {}
        for t, keypoint in zip(terminals, ("tail", "left_eye")):
            out, err = t.communicate(timeout=180)
            assert t.returncode == 0, err
            for line in out.splitlines():
                status, rest = line.split(" ", 1)
                image, x, stderr = json.loads(rest)
                assert status == "committed", stderr
                cli_edits[(by_rel[image], keypoint)] = x
                cli_commits += 1
    finally:
        app.kill()  # never closed: only what was committed counts
        for t in terminals:
            t.kill()
    assert rounds >= 1 and len(app_edits) == len(index) and len(cli_edits) >= 2
    print(f"soak {SOAK_S:g} s: {rounds} rounds of the app's file dialogs, {commits} app edits, "
          f"{cli_commits} `labeler label` commits")
    with Project.open(project_path) as after:
        for image, x in app_edits.items():
            assert after.points(image)["nose"].x == x
        for (image, keypoint), x in cli_edits.items():
            assert after.points(image)[keypoint].x == x
