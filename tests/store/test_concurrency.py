"""Several writers on one file: threads, processes, and predictions racing a person's edits."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from labeler.store import MANUAL, PREDICTED, Project

WRITER = textwrap.dedent(
    """
    import os, sys, time
    from labeler.store import Project
    path, role, rounds, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    with Project.open(path) as p:
        ids = [i for i, _, _ in p.image_index()]
        names = p.schema().keypoints
        print("ready", flush=True)
        while not os.path.exists(go):  # start together, so the writes overlap
            time.sleep(0.005)
        if role == "person":
            for r in range(rounds):
                image = ids[r % len(ids)]
                name = names[(r // len(ids)) % len(names)]
                p.set_point(image, name, 1.0 + r % 20, 2.0)
        elif role == "engine":
            for r in range(rounds):
                batch = [(i, {n: (3.0, 3.0, 0.5 + r / 1000) for n in names}) for i in ids]
                p.write_predictions(batch, method="m", model=None, signature=str(r))
        else:
            image = ids[0]
            for r in range(rounds):
                p.cache_put(f"{role}/{r}", bytes([r % 256]) * 100, image_id=image)
    print("done")
    """
)


def _spawn(project, role, rounds):
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, project.location, role, str(rounds), _go_file(project)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _go_file(project):
    return str(project.images_root.parent / "go")


def _go(project, *procs):
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    open(_go_file(project), "w").close()


def _finish(proc):
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "locked" not in err and out.strip() == "done"


def test_two_processes_write_without_lock_errors_or_lost_edits(project):
    a, b = _spawn(project, "cache-a", 60), _spawn(project, "cache-b", 60)
    _go(project, a, b)
    _finish(a)
    _finish(b)
    assert len(project.cache_keys("cache-a/")) == 60 and len(project.cache_keys("cache-b/")) == 60


def test_predictions_racing_a_person_never_replace_confirmed_points(project):
    n_images = project.image_count()
    rounds = n_images * 2  # the person confirms nose and left_eye on every image
    engine = _spawn(project, "engine", 15)
    person = _spawn(project, "person", rounds)
    _go(project, engine, person)
    _finish(person)
    _finish(engine)
    confirmed = [p for p in project.all_points() if p.name in ("nose", "left_eye")]
    assert len(confirmed) == rounds
    assert all(p.confirmed and p.y == 2.0 for p in confirmed)  # manual, or corrected over a prediction
    others = [p for p in project.all_points() if p.name not in ("nose", "left_eye")]
    assert others and all(p.status == PREDICTED and p.x == 3.0 for p in others)


def test_threads_share_one_project_and_a_second_one(project):
    ids = [i for i, _, _ in project.image_index()]
    errors: list[BaseException] = []

    def person(p, name):
        try:
            for i in ids:
                p.set_point(i, name, 5.0, 5.0)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def engine(p):
        try:
            for r in range(5):
                p.write_predictions([(i, {"tail": (1.0, 1.0, 0.1 * r)}) for i in ids], method="m", model=None)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    with Project.open(project.path) as second:
        threads = [
            threading.Thread(target=person, args=(project, "nose")),
            threading.Thread(target=person, args=(second, "left_eye")),
            threading.Thread(target=engine, args=(second,)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    c = project.counts()
    assert c.points_by_status[MANUAL] == 2 * len(ids)
    assert c.points_by_status[PREDICTED] == len(ids)


@pytest.mark.sqlite_only
def test_a_write_waits_for_another_writer_instead_of_failing(project, img):
    """Writes begin IMMEDIATE: a read-then-write transaction must not die with SQLITE_BUSY
    when another connection commits in between (what a DEFERRED transaction would do)."""
    holder = sqlite3.connect(project.path, isolation_level=None, timeout=30)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO cache (key, value, created_at) VALUES ('x', x'00', 0)")
    done: list[object] = []

    def write():
        try:
            done.append(project.set_point(img, "nose", 1, 1))
        except BaseException as exc:  # noqa: BLE001
            done.append(exc)

    t = threading.Thread(target=write)
    t.start()
    time.sleep(0.5)
    assert done == []  # waiting for the lock
    holder.execute("COMMIT")
    holder.close()
    t.join(timeout=30)
    assert len(done) == 1 and not isinstance(done[0], BaseException), done
    assert project.cache_get("x") == b"\x00"
