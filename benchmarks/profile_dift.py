"""Where DIFT's time goes: a ``torch.profiler`` summary of a few predicted batches (issue #13).

    python -m benchmarks.profile_dift --device cuda --model sd-2-1 --preset fast --batch 32 --out profile.txt
    python -m benchmarks.profile_dift --device cpu --model tiny-random --resolution 64      # smoke

The engine is built as the benchmarks build it (real-size random weights, ``--model DIR``), one
batch runs untimed (warm-up: cuDNN's algorithm search, allocator), then ``--batches`` batches of
synthetic 640x480 photos run under the profiler (host and device activities). The table of
operators sorted by device time (CPU time on a CPU) goes to ``--out`` and stdout; it says
whether the VAE, the UNet, the matching or the host work leads, which is what a missed target
needs to be explained.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from benchmarks.models import model_dir
from benchmarks.synthetic import keypoint_grid, photo
from labeler.correspondence import dift


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.profile_dift", description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--model", default="sd-2-1", help="sd-2-1, sd-1-5 (real-size random) or tiny-random")
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--batch", type=int, default=32, help="target images per engine call")
    ap.add_argument("--batches", type=int, default=2, help="profiled batches (after one warm-up batch)")
    ap.add_argument("--resolution", type=int, help="override the working resolution")
    ap.add_argument("--rows", type=int, default=40)
    ap.add_argument("--out", type=Path, help="write the table here too")
    args = ap.parse_args(argv)

    overrides = {"batch_size": args.batch}
    if args.resolution:
        overrides["resolution"] = args.resolution
    model = str(model_dir(args.model)) if args.model != "tiny-random" else "tiny-random"
    matcher = dift.build(model, args.preset, args.device, **overrides)
    images = [photo(640, 480, i) for i in range(args.batch)]
    points = dict(zip((f"kp{i:02d}" for i in range(20)), keypoint_grid(20, 640, 480), strict=True))
    state = matcher.prepare_reference(images[0], points)
    cuda = matcher.device.startswith("cuda")
    matcher.predict([state], images)  # warm-up
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    started = time.perf_counter()
    with profile(activities=activities, record_shapes=False) as prof:
        for i in range(args.batches):
            with record_function(f"predict batch {i}"):
                matcher.predict([state], images)
        if cuda:
            torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    n = args.batch * args.batches
    head = (f"DIFT {args.preset}, {args.model} @ {matcher.config.resolution} px, {matcher.device} "
            f"{str(matcher.dtype).removeprefix('torch.')}, batch {args.batch}: {n} images in {seconds:.2f} s "
            f"({n / seconds:.1f} images/s, profiler overhead included); torch {torch.__version__}")
    sort = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    table = prof.key_averages().table(sort_by=sort, row_limit=args.rows)
    text = f"{head}\n\n{table}\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
