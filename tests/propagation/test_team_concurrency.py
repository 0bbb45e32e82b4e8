"""A team on one PostgreSQL project: two annotators on overlapping images, a classical
propagation and an export, four processes at once. Nothing confirmed is lost or silently
overwritten, and every refused edit says why.

The four processes run for ``LABELER_TEAM_SOAK_S`` seconds (default 6, so the suite stays quick;
``LABELER_TEAM_SOAK_S=30`` is the original half-minute soak). Every process does at least one
round whatever the length, and all go on past it (a minute at most) until one edit was refused,
so a short run on a loaded machine still sees the annotators collide."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections import defaultdict

import pytest

from labeler.store import CONFIRMED_STATUSES, Project
from labeler.store.copying import copy_project
from labeler.store.testing import make_project

SECONDS = float(os.environ.get("LABELER_TEAM_SOAK_S", "6"))
SHARED = ("plain/a.jpg", "plain/b.png", "formats/gray.png", "formats/rgba.png")  # both annotators edit these

WORKER = textwrap.dedent(
    """
    import json, os, random, sys, time
    from labeler.store import Project
    from labeler.store.point_ops import EditConflict
    url, role, seconds, go, log = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5]
    shared = json.loads(sys.argv[6])
    out = open(log, "w", buffering=1)
    def note(**row):
        out.write(json.dumps(row) + "\\n")
    with Project.open(url, user=role) as p:
        ids = [p.image_by_path(path).id for path in shared]
        names = p.schema().keypoints
        print("ready", flush=True)
        while not os.path.exists(go):
            time.sleep(0.005)
        end = time.time() + seconds
        rng = random.Random(role)
        rounds = 0
        overlapped = go + ".overlapped"  # made by the first refused edit
        # past the deadline (at most a minute more) until the annotators have collided once
        while time.time() < end or (not os.path.exists(overlapped) and time.time() < end + 60):
            rounds += 1
            if role in ("ann", "bob"):
                image, name = rng.choice(ids), rng.choice(names[:3])
                seen = p.points(image).get(name)
                time.sleep(rng.random() * 0.02)  # a person looks before clicking
                x, y = round(rng.uniform(1, 20), 3), round(rng.uniform(1, 20), 3)
                try:
                    row = p.set_points(image, {name: (x, y)}, expected_versions={name: None if seen is None else seen.version})[name]
                except EditConflict as exc:
                    note(kind="refused", image=image, name=name, why=str(exc))
                    open(overlapped, "a").close()
                else:
                    note(kind="ok", image=image, name=name, x=row.x, y=row.y, version=row.version, status=row.status)
            elif role == "propagate":
                from labeler.propagation import PropagationConfig, propagate
                summary = propagate(p, PropagationConfig(method="classical", force=True))
                note(kind="propagated", written=summary.written_points, kept=summary.kept_confirmed)
            else:
                from labeler.formats.coco import to_coco
                data = to_coco(p, predicted=True)
                note(kind="exported", annotations=len(data["annotations"]))
    print("done", rounds, flush=True)
    """
)


@pytest.fixture
def team_project(tmp_path, pg_url):
    local, _ = make_project(tmp_path)
    # a few confirmed references, so the propagation has something to propagate
    for path in ("formats/photo.bmp", "formats/cmyk.jpg"):
        image = local.image_by_path(path).id
        local.set_points(image, {"nose": (5, 5), "left_eye": (10, 8), "right_eye": (20, 8), "tail": (15, 20)})
    local.close()
    copy_project(tmp_path / "test.labeler", pg_url)
    return pg_url


@pytest.mark.slow
def test_four_processes_lose_nothing_and_explain_every_refusal(team_project, tmp_path):
    go = tmp_path / "go"
    procs = {}
    for role in ("ann", "bob", "propagate", "export"):
        procs[role] = subprocess.Popen(
            [sys.executable, "-c", WORKER, team_project, role, str(SECONDS), str(go), str(tmp_path / f"{role}.log"),
             json.dumps(SHARED)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
    for role, proc in procs.items():
        line = proc.stdout.readline().strip()
        assert line == "ready", (role, line, proc.stderr.read())
    go.touch()
    for role, proc in procs.items():
        out, err = proc.communicate(timeout=SECONDS + 300)
        assert proc.returncode == 0, (role, err)
        assert int(out.split()[-1]) > 0, (role, out)

    logs = {role: [json.loads(line) for line in (tmp_path / f"{role}.log").read_text().splitlines()]
            for role in procs}
    assert any(r["kind"] == "propagated" for r in logs["propagate"])
    assert any(r["kind"] == "exported" for r in logs["export"])
    edits = [dict(r, who=who) for who in ("ann", "bob") for r in logs[who]]
    refused = [r for r in edits if r["kind"] == "refused"]
    done = [r for r in edits if r["kind"] == "ok"]
    assert done and refused, "the annotators never overlapped: the test proves nothing"
    for r in refused:  # every refusal explained
        assert f"{r['name']} on " in r["why"] and "after you loaded it" in r["why"] and "reload the image" in r["why"], r
    by_key = defaultdict(list)
    for r in done:
        by_key[(r["image"], r["name"])].append(r)
    with Project.open(team_project) as p:
        for (image, name), writes in by_key.items():
            versions = [w["version"] for w in writes]
            # two edits both accepted from the same base would share a version: a lost update
            assert len(set(versions)) == len(versions), (image, name, sorted(versions))
            last = max(writes, key=lambda w: w["version"])
            final = p.points(image)[name]
            # the newest confirmed edit is what is stored: no prediction, no stale edit replaced it
            assert final.status in CONFIRMED_STATUSES
            assert (final.x, final.y, final.annotator) == (last["x"], last["y"], last["who"])
            assert final.version == last["version"]
