"""Propagation on a real local Ray instance: the same predictions as one process, faults, stop.

Each comparison runs the single-process propagation and the Ray one on two copies of the same
project and compares their ``export --coco --predicted`` files byte for byte.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from cluster_fixtures import CLASSICAL, export, labeler, make_project

from labeler.cluster import ClusterError, ClusterOptions, RayExecutor
from labeler.errors import LabelerError
from labeler.propagation import STAGE_PREDICTING, PropagationConfig, propagate
from labeler.store import Project
from labeler.store.project import raw_connection

pytestmark = pytest.mark.slow

#: Ray's C++ log lines, ANSI colours, raylet reports and the token banner: never on labeler's terminal.
RAY_NOISE = re.compile(r"^\[\d{4}-\d\d-\d\d |\x1b\[|\(raylet\)|InvalidAuthToken|Token authentication is", re.M)

CLASSICAL_CONFIG = PropagationConfig(method="classical", batch_size=2, overrides={"work_side": 256})
DIFT_CONFIG = PropagationConfig(
    method="dift", model="tiny-random", device="cpu", batch_size=2, overrides={"resolution": 64, "match_side": 64}
)


def _twins(tmp_path: Path, n: int = 12) -> tuple[Path, Path]:
    """Two identical projects (one for the plain run, one for the cluster run)."""
    first = make_project(tmp_path / "plain", n)
    shutil.copytree(tmp_path / "plain", tmp_path / "ray")
    return first, tmp_path / "ray" / first.name


def _plain(path: Path, config: PropagationConfig):
    with Project.open(path) as project:
        return propagate(project, config)


def _on_ray(path: Path, config: PropagationConfig, address: str, *, progress=None, should_stop=None, workers: int = 2):
    executor = RayExecutor(ClusterOptions(address=address, workers=workers))
    with Project.open(path) as project:
        summary = propagate(project, config, cluster=executor, progress=progress, should_stop=should_stop)
    return summary, executor


def _predicted(path: Path) -> int:
    conn = raw_connection(path)
    try:
        return conn.execute("SELECT count(*) FROM image WHERE pred_signature IS NOT NULL").fetchone()[0]
    finally:
        conn.close()


def _raylets() -> int:
    return sum(1 for p in psutil.process_iter(["name", "cmdline"]) if "raylet" in " ".join(p.info["cmdline"] or [p.info["name"] or ""]))


def test_cli_ray_local_two_workers_predicts_exactly_what_one_process_does(tmp_path):
    plain, clustered = _twins(tmp_path)
    _plain(plain, CLASSICAL_CONFIG)
    before = _raylets()
    home = tmp_path / "home"
    home.mkdir()
    r = labeler("propagate", clustered, *CLASSICAL, "--batch-size", "2", "--ray", "local", "--workers", "2",
                env={"HOME": str(home)})
    assert "2 Ray worker(s) ready" in r.stderr and "predicting" in r.stderr  # the same tqdm bar
    assert "images predicted: 12 of 12" in r.stdout and "ray: 2 x cpu" in r.stdout
    tallies = re.findall(r"^  worker (\d) \((.+?)\): (\d+) image\(s\) in (\d+) batch", r.stdout, re.M)
    assert [t[0] for t in tallies] == ["1", "2"] and sum(int(t[2]) for t in tallies) == 12, r.stdout
    assert not RAY_NOISE.search(r.stdout + r.stderr), (r.stdout + r.stderr)[-3000:]
    assert not (home / ".ray").exists()  # its token lived in its environment: ~/.ray/auth_token is not created
    assert _raylets() == before  # the Ray instance it started is gone with it
    assert export(clustered) == export(plain)
    # A re-run resumes: nothing left to do, no model and no cluster needed.
    again = labeler("propagate", clustered, *CLASSICAL, "--batch-size", "2", "--ray", "local", "--workers", "2")
    assert "skipped, up to date: 12" in again.stdout


def test_tiny_random_dift_on_two_workers_matches_one_process(tmp_path, ray_address, tiny_model_dir):
    plain, clustered = _twins(tmp_path, 8)
    expected = _plain(plain, DIFT_CONFIG)
    summary, executor = _on_ray(clustered, DIFT_CONFIG, ray_address)
    assert not summary.failed and summary.predicted_images == expected.predicted_images == 8
    assert summary.signature == expected.signature  # a later plain run resumes the cluster's work
    assert sum(s.images for s in executor.status) == 8 and all(s.images for s in executor.status)  # both worked
    assert [s.state for s in executor.status] == ["ready", "ready"]  # idle after the run
    from labeler.gui.cluster_panel import describe_workers

    assert describe_workers(executor.status)[0] == "Ray: 2 worker(s), 0 busy"  # the app's status label
    assert executor.ray is None  # closed: the workers are gone, the session's instance stays
    assert export(clustered) == export(plain)


def test_fusion_pose_maps_travel_to_the_workers_and_choose_the_same_poses(tmp_path, ray_address):
    """Flip-aware fusion (the schema pairs left/right): whole-image pose maps ride along with the
    keypoint states, and the workers' mutual-NN pose choices equal one process's."""
    config = PropagationConfig(method="fusion", model="tiny-random", device="cpu", batch_size=2)
    plain, clustered = _twins(tmp_path, 6)
    expected = _plain(plain, config)
    summary, _ = _on_ray(clustered, config, ray_address)
    assert not summary.failed and summary.predicted_images == expected.predicted_images >= 4
    assert summary.flipped_images == expected.flipped_images
    with Project.open(clustered) as project:
        assert len(project.cache_keys("posemap/")) == 4  # two reference images, two poses each
    assert export(clustered) == export(plain)


def test_a_worker_killed_mid_run_is_restarted_and_nothing_is_lost_or_doubled(tmp_path, ray_address):
    plain, clustered = _twins(tmp_path, 16)
    _plain(plain, CLASSICAL_CONFIG)
    executor = RayExecutor(ClusterOptions(address=ray_address, workers=2))
    killed: list[int] = []
    landed: list[tuple[int, ...]] = []

    def progress(event):
        if event.stage != STAGE_PREDICTING or not event.image_ids:
            return
        landed.append(event.image_ids)
        if not killed:  # the first batch is in: kill a worker that still has batches queued
            victim = executor.status[1].pid
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    with Project.open(clustered) as project:
        summary = propagate(project, CLASSICAL_CONFIG, cluster=executor, progress=progress)
    assert killed and not summary.failed and not summary.stopped
    assert summary.predicted_images == 16
    ids = [i for batch in landed for i in batch]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 16  # each image committed once
    assert executor.status[1].pid != killed[0]  # Ray restarted it: a new process finished its batches
    assert export(clustered) == export(plain)


def test_driver_killed_mid_run_then_a_rerun_finishes_only_what_is_missing(tmp_path, ray_address):
    plain, clustered = _twins(tmp_path, 12)
    _plain(plain, dataclasses.replace(CLASSICAL_CONFIG, batch_size=1))
    args = [sys.executable, "-m", "labeler", "propagate", str(clustered), *CLASSICAL, "--batch-size", "1", "--quiet",
            "--ray", ray_address, "--workers", "2"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while _predicted(clustered) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    done = _predicted(clustered)
    assert 3 <= done < 12
    r = labeler("propagate", clustered, *CLASSICAL, "--batch-size", "1", "--ray", ray_address, "--workers", "2")
    assert f"skipped, up to date: {done}" in r.stdout and f"images predicted: {12 - done} of {12 - done}" in r.stdout
    assert export(clustered) == export(plain)


def test_stop_drops_the_batches_in_flight_and_keeps_what_was_committed(tmp_path, ray_address):
    path = make_project(tmp_path, 12)
    stop = [False]

    def progress(event):
        if event.stage == STAGE_PREDICTING:
            stop[0] = True  # at the start of predicting: every batch is still in flight

    summary, executor = _on_ray(path, CLASSICAL_CONFIG, ray_address, progress=progress, should_stop=lambda: stop[0])
    assert summary.stopped and summary.predicted_images == 0 and _predicted(path) == 0
    assert executor.actors == [] and executor.ray is None  # the workers were killed
    # The same command again finishes the job.
    summary, _ = _on_ray(path, CLASSICAL_CONFIG, ray_address)
    assert not summary.stopped and summary.predicted_images == 12


def test_a_worker_that_cannot_load_the_model_says_why(tmp_path, ray_address):
    path = make_project(tmp_path, 6)
    config = PropagationConfig(method="dift", model=str(tmp_path / "no-such-model"), device="cpu")
    with pytest.raises(ClusterError, match=r"worker 1 on .* cannot load the engine: .*no-such-model"):
        _on_ray(path, config, ray_address, workers=1)
    assert _predicted(path) == 0


def test_more_gpus_than_the_cluster_has_is_refused_before_any_worker_starts(tmp_path, ray_address):
    path = make_project(tmp_path, 6)
    executor = RayExecutor(ClusterOptions(address=ray_address, workers=2, gpus_per_worker=1))
    with Project.open(path) as project, pytest.raises(ClusterError, match="need 2 GPU"):
        propagate(project, CLASSICAL_CONFIG, cluster=executor)


def test_a_bad_address_is_one_clear_error(tmp_path):
    path = make_project(tmp_path, 6)
    for address, message in (("127.0.0.1:9", "no Ray cluster answers at 127.0.0.1:9"), ("head:port", "expected local, auto")):
        r = labeler("propagate", path, *CLASSICAL, "--ray", address, check=False, timeout=60)
        assert r.returncode == 2 and r.stderr.startswith("error: ") and message in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1
    r = labeler("propagate", path, *CLASSICAL, "--workers", "2", check=False, timeout=60)
    assert r.returncode == 2 and "add --ray local" in r.stderr
    assert _predicted(path) == 0


def test_without_ray_nothing_imports_it(tmp_path):
    path = make_project(tmp_path, 6)
    code = (
        "import sys\nfrom labeler.cli import main\n"
        f"code = main(['propagate', {str(path)!r}, '--method', 'classical', '--quiet', '--setting', 'work_side=128'])\n"
        "print(code, 'ray' in sys.modules, 'labeler.cluster' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "0 False False", out.stderr[-2000:]


def test_options_are_checked():
    for options in (ClusterOptions(workers=0), ClusterOptions(gpus_per_worker=-1), ClusterOptions(address=" ")):
        with pytest.raises(LabelerError):
            options.check()


def test_an_error_inside_a_worker_reaches_the_driver_as_its_own_message(ray_address):
    import numpy as np

    from labeler.errors import UserInputError

    with RayExecutor(ClusterOptions(address=ray_address, workers=1)) as executor:
        engine = executor.start(CLASSICAL_CONFIG, lambda text: None)
        with pytest.raises(UserInputError) as caught:
            engine.prepare_reference(np.zeros((8, 8, 3), np.uint8), {"head": (100.0, 100.0)})
    assert "lies outside the 8x8 reference image" in str(caught.value) and "Traceback" not in str(caught.value)


def test_a_local_instance_offers_what_the_workers_need_and_no_more_than_the_cores():
    from labeler.cluster.connection import local_cpus

    cores = os.cpu_count() or 1
    assert local_cpus(ClusterOptions(workers=1)) == 1
    assert local_cpus(ClusterOptions(workers=1000)) == cores
    assert local_cpus(ClusterOptions()) == cores  # one worker per GPU: as many as Ray finds


def test_boxed_instances_are_predicted_in_their_crops_on_the_workers_as_in_one_process(tmp_path, ray_address):
    """The crop travels with each task: a Ray run writes the very predictions a local run does."""
    plain, clustered = _twins(tmp_path, n=6)
    for path in (plain, clustered):
        with Project.open(path) as project:
            project.set_box(project.instances(project.find_image("img00.png").id)[0].id, (20, 10, 80, 50))
            target = project.find_image("img01.png").id
            project.add_instance(target, box=(10, 10, 60, 50))
            project.add_instance(target, box=(50, 30, 60, 55))
    _plain(plain, CLASSICAL_CONFIG)
    summary, _ = _on_ray(clustered, CLASSICAL_CONFIG, ray_address)
    assert not summary.failed
    assert export(clustered) == export(plain)
    with Project.open(clustered) as project:
        target = project.find_image("img01.png").id
        first, second = project.instances(target)
        assert project.points(target, first.id) and project.points(target, second.id)
