"""Store speed on SQLite and PostgreSQL on the same machine (issue #14): numbers, not tests.

    python -m benchmarks.store_bench                      # 100k images, a local PostgreSQL from pgserver
    python -m benchmarks.store_bench --images 20000 --edits 300
    python -m benchmarks.store_bench --postgres postgresql://server/db   # a real server (schema bench_*)

Measured per backend: creating the project (registering N images), opening it as the window does
(Project.open + the whole image index), paging the image list (100 rows at 20 offsets), the review
queue (first 500 of N/10 predicted images), and edit latency (place one point, as the GUI does:
one committed transaction; p50 and p99 over ``--edits`` edits on random images).
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from labeler.imaging import ImageInfo
from labeler.store import Project
from labeler.store.scanning import ProbedImage

KEYPOINTS = ("nose", "left_eye", "right_eye", "tail")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def bench(location: str, root: Path, n_images: int, n_edits: int, seed: int = 0) -> dict[str, float]:
    info = ImageInfo(width=640, height=480, orientation=1, sha256="", size_bytes=1)
    probed = [ProbedImage(f"d{i % 100:03d}/img{i:06d}.jpg", info) for i in range(n_images)]
    out: dict[str, float] = {}
    t = time.perf_counter()
    Project.create(location, root, KEYPOINTS, images=probed, force=True).close()
    out["create"] = time.perf_counter() - t
    with Project.open(location) as p:
        ids = [i for i, _, _ in p.image_index()]
        predicted = ids[:: 10]
        rng = random.Random(seed)
        for start in range(0, len(predicted), 2000):
            p.write_predictions(
                [(i, {k: (rng.uniform(0, 640), rng.uniform(0, 480), rng.random()) for k in KEYPOINTS})
                 for i in predicted[start:start + 2000]],
                method="bench", model=None,
            )
    t = time.perf_counter()
    with Project.open(location) as p:
        index = p.image_index()
        out["open"] = time.perf_counter() - t
        assert len(index) == n_images
        pages = []
        for k in range(20):
            offset = (k * n_images) // 20
            t = time.perf_counter()
            p.list_images(offset=offset, limit=100)
            pages.append(time.perf_counter() - t)
        out["page_p50"] = statistics.median(pages)
        queue = []
        for _ in range(5):
            t = time.perf_counter()
            p.review_queue(limit=500)
            queue.append(time.perf_counter() - t)
        out["queue_p50"] = statistics.median(queue)
        edits = []
        for _ in range(n_edits):
            image = rng.choice(ids)
            t = time.perf_counter()
            p.set_point(image, rng.choice(KEYPOINTS), rng.uniform(0, 640), rng.uniform(0, 480))
            edits.append(time.perf_counter() - t)
        out["edit_p50"] = _pct(edits, 0.5)
        out["edit_p99"] = _pct(edits, 0.99)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--edits", type=int, default=500)
    ap.add_argument("--postgres", metavar="URL", help="a server to use (default: start one from the pgserver wheel)")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="labeler-store-bench-"))
    (work / "images").mkdir()
    server = None
    try:
        if args.postgres:
            base = args.postgres
        else:
            import pgserver

            server = pgserver.get_server(work / "pg", cleanup_mode="stop")
            base = server.get_uri()
        sep = "&" if "?" in base else "?"
        results = {
            "SQLite": bench(str(work / "bench.labeler"), work / "images", args.images, args.edits),
            "PostgreSQL": bench(f"{base}{sep}schema=bench_store", work / "images", args.images, args.edits),
        }
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    rows = [
        ("create (register images)", "create"),
        ("open + image index", "open"),
        ("page of 100 images (p50)", "page_p50"),
        ("review queue, first 500 (p50)", "queue_p50"),
        ("place a point, p50", "edit_p50"),
        ("place a point, p99", "edit_p99"),
    ]
    print(f"\n{args.images} images, {args.images // 10} with predictions, {args.edits} edits\n")
    print("| | SQLite | PostgreSQL |\n|---|---|---|")
    for label, key in rows:
        print(f"| {label} | {_ms(results['SQLite'][key])} | {_ms(results['PostgreSQL'][key])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
