"""Faults: kill -9 at random moments, and a person editing while another process propagates.

Both run the real CLI (``python -m labeler propagate``) in a subprocess with the weight-free
classical engine, and read the project file from this process between and during runs.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from propagation_fixtures import confirmed_rows, integrity, predicted_rows

from labeler.store import Project, find_image_files, probe_files, relative_to_root
from labeler.store.project import raw_connection
from labeler.store.testing import write_image

KEYPOINTS = ("head", "left", "right", "tail")
N_IMAGES = 24


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    for i in range(N_IMAGES):
        write_image(root / f"img{i:02d}.png", "rgb", (120 + (i % 3) * 8, 90), seed=100 + i)
    files = find_image_files(root)
    probed, _ = probe_files([(f, relative_to_root(f, root)) for f in files], progress=False)
    path = tmp_path / "faults.labeler"
    with Project.create(path, root, KEYPOINTS, (), (("left", "right"),), images=probed) as p:
        first = p.find_image("img00.png").id
        p.set_points(first, {"head": (60.0, 20.0), "left": (30.0, 45.0), "right": (90.0, 45.0)})
        p.set_points(p.find_image("img05.png").id, {"tail": (64.0, 80.0), "head": "absent"})
    return path


def _spawn(path: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "labeler", "propagate", str(path), "--method", "classical", "--quiet",
         "--setting", "work_side=256", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _predicted_images(path: Path) -> int:
    conn = raw_connection(path)
    try:
        return conn.execute("SELECT count(*) FROM image WHERE pred_signature IS NOT NULL").fetchone()[0]
    finally:
        conn.close()


def _whole_images(path: Path) -> None:
    """Each committed image has its full prediction (a batch is one transaction)."""
    conn = raw_connection(path)
    try:
        rows = conn.execute(
            "SELECT i.id, (SELECT count(*) FROM point p WHERE p.image_id = i.id AND p.status = 'predicted'), "
            "(SELECT count(*) FROM point p WHERE p.image_id = i.id AND p.status != 'predicted') "
            "FROM image i WHERE i.pred_signature IS NOT NULL"
        ).fetchall()
    finally:
        conn.close()
    for image_id, predicted, confirmed in rows:
        # every keypoint has a reference (tail on img05): what is not confirmed is predicted
        assert predicted + confirmed == len(KEYPOINTS), (image_id, predicted, confirmed)


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_nothing_committed(tmp_path):
    path = _project(tmp_path)
    confirmed = confirmed_rows(path)
    rng = random.Random(1234)
    kills = 0
    for round_ in range(5):
        before = predicted_rows(path)
        done_before = _predicted_images(path)
        if done_before >= N_IMAGES:
            break
        wait_for = rng.choice([0, 1, 2, 3, 5])  # images to see committed before the kill (0: at start-up)
        proc = _spawn(path, "--batch-size", str(rng.choice([1, 2, 3])))
        deadline = time.monotonic() + 60
        delay = rng.uniform(0.2, 2.5)
        started = time.monotonic()
        while time.monotonic() < deadline and proc.poll() is None:
            if wait_for == 0 and time.monotonic() - started >= delay:
                break
            if wait_for and _predicted_images(path) >= done_before + wait_for:
                time.sleep(rng.uniform(0.0, 0.3))  # land anywhere in the next batch
                break
            time.sleep(0.02)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=60)
        assert integrity(path) == "ok", f"round {round_}"
        assert confirmed_rows(path) == confirmed, f"round {round_}"
        after = predicted_rows(path)
        for key, value in before.items():
            assert after.get(key) == value, f"round {round_}: committed prediction {key} changed or lost"
        _whole_images(path)
        with Project.open(path) as p:  # the project opens and reads normally
            assert p.image_count() == N_IMAGES
    assert kills >= 3
    final = _spawn(path, "--batch-size", "4")
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    assert integrity(path) == "ok" and confirmed_rows(path) == confirmed
    assert _predicted_images(path) == N_IMAGES
    assert "skipped, up to date:" in out
    _whole_images(path)


@pytest.mark.slow
def test_a_person_edits_while_another_process_propagates(tmp_path):
    path = _project(tmp_path)
    proc = _spawn(path, "--batch-size", "1")
    edits: dict[tuple[str, str], tuple[float, float]] = {}
    try:
        with Project.open(path) as p:
            deadline = time.monotonic() + 60
            while _predicted_images(path) == 0 and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.02)
            rng = random.Random(7)
            for i in range(1, N_IMAGES):  # edit as fast as a person could, never, both before and after prediction
                rel = f"img{i:02d}.png"
                image = p.find_image(rel)
                name = KEYPOINTS[i % 3]
                x, y = round(rng.uniform(5, 100), 2), round(rng.uniform(5, 80), 2)
                p.set_point(image.id, name, x, y)
                edits[(rel, name)] = (x, y)
                if i % 4 == 0:
                    p.accept_predictions([image.id])
                time.sleep(0.01)
    finally:
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert integrity(path) == "ok"
    with Project.open(path) as p:
        for (rel, name), (x, y) in edits.items():
            point = p.points(p.find_image(rel).id)[name]
            assert point.status != "predicted" and (point.x, point.y) == (x, y), (rel, name, point)
        # the run finished every image it was given; a re-run predicts what the edits made stale
        s = subprocess.run([sys.executable, "-m", "labeler", "propagate", str(path), "--method", "classical",
                            "--quiet", "--setting", "work_side=256", "--max-references", "1", "--no-flip"],
                           capture_output=True, text=True, timeout=120)
        assert s.returncode == 0, s.stderr
        for (rel, name), (x, y) in edits.items():
            point = p.points(p.find_image(rel).id)[name]
            assert point.status != "predicted" and (point.x, point.y) == (x, y)
