"""Soak: the app (offscreen) and three CLI processes edit one project at once; every edit is on
disk at the end (issue #11: edits were lost when the app and the CLI shared a project).

The soak lasts ``LABELER_SOAK_S`` seconds (default 12, so the suite stays quick; run
``LABELER_SOAK_S=60`` for the minute-long soak). Whatever the length, the app keeps editing past
the deadline until it has edited every image, exported twice and started a propagation, so a
short or loaded run still covers everything the assertions need."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

from gui_helpers import REFERENCE, click_image, wait_shown

from labeler.propagation import PropagationConfig
from labeler.store import Project

SOAK_S = float(os.environ.get("LABELER_SOAK_S", "12"))

#: One terminal: runs real `labeler label` / `labeler status` processes until the deadline (at
#: least one) and prints every edit the CLI reported committed (exit status 0).
TERMINAL = textwrap.dedent(
    """
    import json, subprocess, sys, time
    path, keypoint, deadline, images = sys.argv[1], sys.argv[2], float(sys.argv[3]), json.loads(sys.argv[4])
    n = 0
    while n == 0 or time.time() < deadline:  # at least one edit, however short the soak
        image = images[n % len(images)]
        x = float(1 + n % 40)
        done = subprocess.run([sys.executable, "-m", "labeler", "label", path, image, f"{keypoint}={x},{x}"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            print("failed", json.dumps(done.stderr), flush=True)
        else:
            print("committed", json.dumps([image, keypoint, x]), flush=True)
        if n % 5 == 4:
            subprocess.run([sys.executable, "-m", "labeler", "status", path], capture_output=True)
        n += 1
    """
)


def test_app_and_three_terminals_lose_no_edit(qtbot, window, tmp_path):
    wait_shown(qtbot, window)
    project = window.project
    path = project.path
    index = project.image_index()
    rel = [p for _, p, _ in index]
    deadline = time.time() + SOAK_S
    terminals = [
        subprocess.Popen([sys.executable, "-c", TERMINAL, str(path), name, str(deadline), json.dumps(rel)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name in ("left_eye", "right_eye", "tail")
    ]
    app_edits: dict[int, float] = {}
    exports = 0
    propagated = False
    n = 0
    covered = lambda: propagated and exports >= 2 and len(app_edits) == len(index)  # noqa: E731
    while time.time() < deadline or (not covered() and time.time() < deadline + 120):
        image_id = index[n % len(index)][0]
        window.show_image(image_id)
        wait_shown(qtbot, window)
        window.set_current_keypoint("nose")
        x = float(10 + n % 50)
        click_image(qtbot, window, x, REFERENCE["nose"][1])
        app_edits[image_id] = window.project.points(image_id)["nose"].x
        if n % 10 == 0:
            window.export_coco(tmp_path / f"app-{exports}.json")
            exports += 1
        if not propagated and n >= len(index):  # every image has a confirmed nose by now
            propagated = window.start_propagation(PropagationConfig(method="classical", device="cpu"))
        qtbot.wait(150)  # the annotator's pace; lets the poll timer and the workers run
        n += 1
    qtbot.waitUntil(lambda: not window.runner.running, timeout=120_000)

    cli_edits: dict[tuple[str, str], float] = {}
    for t in terminals:
        out, err = t.communicate(timeout=180)
        assert t.returncode == 0, err
        lines = out.splitlines()
        assert not [line for line in lines if line.startswith("failed")], lines
        for line in lines:
            image, keypoint, x = json.loads(line.split(" ", 1)[1])
            cli_edits[(image, keypoint)] = x
    assert len(cli_edits) >= 3 and len(app_edits) == len(index) and propagated and exports >= 2

    # the app sees the terminals' last edits...
    by_path = {p: i for i, p, _ in index}
    for (image, keypoint), x in cli_edits.items():
        assert window.project.points(by_path[image])[keypoint].x == x
    assert os.path.exists(f"{path}-wal") and os.path.exists(f"{path}-shm")
    # ... and after the app quits, a fresh process sees every last edit of everybody
    window.shutdown()
    with Project.open(path) as after:
        for image_id, x in app_edits.items():
            assert after.points(image_id)["nose"].x == x
        for (image, keypoint), x in cli_edits.items():
            assert after.points(by_path[image])[keypoint].x == x
