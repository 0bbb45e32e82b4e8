"""Propagation on Ray: images/s against the number of workers, scaling efficiency, Ray's overhead
per batch, and a projection for N GPUs (issue #15).

    python -m benchmarks.ray_scaling                       # classical and tiny-random DIFT, 1 and 2 workers
    python -m benchmarks.ray_scaling --images 96 --workers 1,2,4 --methods dift --gpu-images-per-s 69

Every figure is the prediction stage of one ``propagate()`` run (from its first "predicting" event
to its last commit: engine loading and references excluded), on a throw-away project of
``--images`` 320x240 JPEGs with one reference of four keypoints. The plain run uses one torch
thread, as each Ray worker does (Ray gives a 1-CPU actor one thread), so 1 worker vs plain is Ray's
cost alone. The Ray runs share one local instance (``--ray local``), started once.

Overhead per batch = (1-worker time - plain time) / batches (negative: the worker predicts the
next batch while the driver commits, which a plain run does one after the other); Ray's round
trip = an empty batch sent to a worker and back, sequentially (nothing hides it). Driver time per batch = what the
driver spends per finished batch (flip choice and the commit): the ceiling of any cluster, since
every batch is committed by the driver. The N-GPU figure is a PROJECTION from those two
measurements and a single-GPU rate given on the command line (nothing here runs on a GPU).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import tempfile
import time
from pathlib import Path

from labeler.cluster import ClusterOptions, RayExecutor
from labeler.cluster.connection import import_ray
from labeler.propagation import STAGE_PREDICTING, PropagationConfig, propagate
from labeler.store import Project, find_image_files, probe_files, relative_to_root
from labeler.store.testing import write_image

CONFIGS = {
    "classical": PropagationConfig(method="classical", overrides={"work_side": 256}),
    "dift": PropagationConfig(method="dift", model="tiny-random", device="cpu", overrides={"resolution": 64, "match_side": 64}),
}


def make_project(folder: Path, n: int) -> Path:
    root = folder / "images"
    for i in range(n):
        write_image(root / f"img{i:03d}.jpg", "rgb", (320, 240), seed=i)
    probed, _ = probe_files([(f, relative_to_root(f, root)) for f in find_image_files(root)], progress=False)
    path = folder / "bench.labeler"
    with Project.create(path, root, ("head", "left", "right", "tail"), (), (("left", "right"),), images=probed) as p:
        p.set_points(p.find_image("img000.jpg").id,
                     {"head": (160.0, 50.0), "left": (90.0, 120.0), "right": (230.0, 120.0), "tail": (160.0, 200.0)})
    return path


class Clock:
    """The prediction stage's wall time and the driver's time per commit."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.last: float | None = None
        self.commits: list[float] = []

    def __call__(self, event) -> None:  # noqa: ANN001 - ProgressEvent
        if event.stage == STAGE_PREDICTING:
            now = time.perf_counter()
            self.first = self.first or now
            self.last = now

    @property
    def seconds(self) -> float:
        return (self.last or 0) - (self.first or 0)


def run_once(template: Path, work: Path, config: PropagationConfig, executor: RayExecutor | None) -> tuple[Clock, int]:
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(template.parent, work)
    clock = Clock()
    with Project.open(work / template.name) as project:
        real = project.write_predictions

        def timed(*args, **kwargs):  # noqa: ANN002, ANN003
            started = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                clock.commits.append(time.perf_counter() - started)

        project.write_predictions = timed  # type: ignore[method-assign]
        summary = propagate(project, config, progress=clock, cluster=executor)
    assert not summary.failed and not summary.stopped, summary
    return clock, summary.predicted_images


def round_trip(config: PropagationConfig, calls: int = 40) -> float:
    """Seconds of one sequential empty-batch call to a worker: Ray's own cost per batch (submit,
    the reference states from the object store, the result back), with nothing to hide it."""
    with RayExecutor(ClusterOptions(address="local", workers=1)) as executor:
        executor.start(config, lambda text: None)
        states = executor.ray.put([])
        actor = executor.actors[0]
        executor.ray.get(actor.predict.remote(states, []))
        started = time.perf_counter()
        for _ in range(calls):
            executor.ray.get(actor.predict.remote(states, []))
        return (time.perf_counter() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--methods", default="classical,dift")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--gpu-images-per-s", type=float, default=69.0,
                        help="single-GPU rate the projection starts from (default 69: the README's H100 FLOP "
                             "floor for DIFT paper, not a measurement)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    widths = [int(w) for w in args.workers.split(",")]
    ray = import_ray(loopback=True)
    ray.init(num_cpus=max(widths), include_dashboard=False, log_to_driver=False, configure_logging=False,
             object_store_memory=256 * 2**20)
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} at start; torch {torch.__version__}; "
          f"ray {ray.__version__}; {args.images} images 320x240, batch {args.batch_size}")
    folder = Path(tempfile.mkdtemp(prefix="ray-scaling-"))
    try:
        template = make_project(folder / "template", args.images)
        batches = -(-(args.images - 1) // args.batch_size)
        rows = []
        for method in args.methods.split(","):
            config = dataclasses.replace(CONFIGS[method], batch_size=args.batch_size)
            plain, n = run_once(template, folder / "work", config, None)
            rate_plain = n / plain.seconds
            driver = sum(plain.commits) / len(plain.commits)
            rows.append((method, "plain (1 thread)", rate_plain, None, None))
            rates = {}
            for w in widths:
                executor = RayExecutor(ClusterOptions(address="local", workers=w))
                clock, n = run_once(template, folder / "work", config, executor)
                rates[w] = n / clock.seconds
                worker_s = sum(executor.batch_seconds) / len(executor.batch_seconds)
                eff = rates[w] / (w * rates[widths[0]] / widths[0])
                overhead = (clock.seconds - plain.seconds) / batches if w == 1 else None
                rows.append((method, f"ray, {w} worker(s)", rates[w], eff, overhead))
                print(f"  {method}, {w} worker(s): worker time per batch {worker_s * 1000:.0f} ms, "
                      f"driver commit per batch {sum(clock.commits) / len(clock.commits) * 1000:.1f} ms")
            trip = round_trip(config)
            print(f"  {method}: plain driver commit per batch {driver * 1000:.1f} ms; Ray round trip per batch "
                  f"(empty batch, sequential) {trip * 1000:.1f} ms")
        print()
        print("| method | run | images/s | scaling efficiency | Ray overhead per batch |")
        print("| --- | --- | --- | --- | --- |")
        for method, run, rate, eff, overhead in rows:
            e = "" if eff is None else f"{eff:.0%}"
            o = "" if overhead is None else f"{overhead * 1000:+.0f} ms"
            print(f"| {method} | {run} | {rate:.2f} | {e} | {o} |")
        # Projection (stated as such): N GPU workers, each at the given single-GPU rate, plus the
        # measured Ray overhead per batch, capped by what one driver can commit.
        overhead = trip
        per_batch = args.batch_size / args.gpu_images_per_s
        ceiling = args.batch_size / driver
        print()
        print(f"PROJECTION (not measured): single GPU at {args.gpu_images_per_s:g} images/s, batch {args.batch_size}, "
              f"Ray overhead {overhead * 1000:.0f} ms/batch (not hidden), driver ceiling {ceiling:.0f} images/s")
        for n in (1, 2, 4, 8, 16):
            rate = min(n * args.batch_size / (per_batch + overhead), ceiling)
            print(f"  {n:2d} GPU(s): ~{rate:.0f} images/s")
    finally:
        ray.shutdown()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
