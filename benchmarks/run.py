"""Speed benchmarks (issue #6): one entry point, a markdown table on stdout, JSON on request.

    python -m benchmarks.run --device cpu --size small --json benchmarks/results/cpu-small.json
    python -m benchmarks.run --device cuda --size full --only dift --json benchmarks/results/h100.json

Sizes: ``tiny`` (the smoke test: seconds), ``small`` (tiny-random model, a couple of minutes on
a 2-core CPU), ``full`` (real-size random SD1.5/SD2.1 models, built once into the cache; the
figures of the README). On a CPU the attention method's reference-style loop and, at full size,
the engine itself are timed on a few steps/crops and extrapolated (the full loop takes hours);
every figure says whether it is measured or extrapolated.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks import attention_bench, dift_bench, host_bench
from benchmarks.attention_bench import AttentionCase
from benchmarks.dift_bench import DiftCase
from benchmarks.host_bench import HostCase
from benchmarks.machine import Rates, load_average, machine_info
from benchmarks.report import Report

SIZES = ("tiny", "small", "full")
SECTIONS = ("dift", "attention", "host", "rate")  # "rate" alone: only the matmul rates (the floor's reference)

GPU_DIFT_PAPER = ">= 40 images/s and >= 15x the authors' loop (H100)"
GPU_DIFT_FAST = ">= 100 images/s (H100)"
CPU_DIFT = "<= 12 s/image (2 CPU cores)"
GPU_ATT = ">= 15x the authors' loop (H100)"
#: The cleandift-sd-2-1 card's DIFT settings on the real-size random SD 2.1 (a CleanDIFT UNet has
#: the same architecture, so the same FLOPs): clean latent, no noise, nothing to average.
CLEANDIFT = {"noise": False, "timestep": 261, "ensemble": 1, "reference_ensemble": 1}


def dift_cases(size: str, gpu: bool, targets: int | None) -> list[DiftCase]:
    if size == "tiny":
        cases = [DiftCase("tiny-random@64 paper", "tiny-random", "paper", targets=2, batch=2, keypoints=3,
                          baseline_images=1, overrides={"resolution": 64})]
    elif size == "small":
        small = {"resolution": 128}
        cases = [
            DiftCase("tiny-random@128 paper", "tiny-random", "paper", targets=8, batch=4, baseline_images=2,
                     overrides=small),
            DiftCase("tiny-random@128 fast", "tiny-random", "fast", targets=16, batch=8, overrides=small),
        ]
    elif gpu:
        cases = [
            DiftCase("SD2.1@768 paper", "sd-2-1", "paper", targets=256, batch=8, target=GPU_DIFT_PAPER, baseline_images=8),
            DiftCase("SD2.1@768 fast", "sd-2-1", "fast", targets=512, batch=32, target=GPU_DIFT_FAST),
            DiftCase("SD1.5@512 fast (ensemble 1)", "sd-1-5", "fast", targets=512, batch=32),
            DiftCase("SD2.1@768 CleanDIFT paper", "sd-2-1", "paper", targets=256, batch=32, overrides=CLEANDIFT),
        ]
    else:
        cases = [
            DiftCase("SD1.5@512 fast (ensemble 1)", "sd-1-5", "fast", targets=4, batch=1, target=CPU_DIFT),
            DiftCase("SD1.5@512 fast (ensemble 1), --dtype bfloat16", "sd-1-5", "fast", targets=4, batch=1,
                     target=CPU_DIFT, dtype="bfloat16"),
            DiftCase("SD2.1@768 fast", "sd-2-1", "fast", targets=2, batch=1),
            DiftCase("SD2.1@768 paper", "sd-2-1", "paper", targets=2, batch=1, baseline_images=1),
            DiftCase("SD2.1@768 CleanDIFT paper", "sd-2-1", "paper", targets=2, batch=1, overrides=CLEANDIFT),
        ]
    if targets is not None:
        cases = [DiftCase(**{**c.__dict__, "targets": targets}) for c in cases]
    return cases


def attention_cases(size: str, gpu: bool, batch: int | None, steps: int | None = None) -> list[AttentionCase]:
    """``steps``: optimise only this many steps per context at full size (the figure is then
    extrapolated from the measured UNet and VAE times and says so), to bound a GPU run's time."""
    cases = _attention_cases(size, gpu, batch)
    if steps is not None and size == "full":
        cases = [dataclasses.replace(c, steps=steps) for c in cases]
    return cases


def _attention_cases(size: str, gpu: bool, batch: int | None) -> list[AttentionCase]:
    if size == "tiny":
        return [AttentionCase("tiny-random@64 paper", "tiny-random", "paper", keypoints=1, steps=1, crops=5,
                              baseline_steps=1, batch=batch, overrides={"resolution": 64})]
    if size == "small":
        small = {"resolution": 128}
        return [
            AttentionCase("tiny-random@128 paper", "tiny-random", "paper", keypoints=2, steps=4, crops=8,
                          baseline_steps=2, batch=batch, overrides=small),
            AttentionCase("tiny-random@128 fast", "tiny-random", "fast", keypoints=2, steps=4, batch=batch,
                          overrides=small),
        ]
    if gpu:
        return [
            AttentionCase("SD1.5@512 paper", "sd-1-5", "paper", keypoints=20, targets=3, batch=batch,
                          target_opt=GPU_ATT, target_inf=GPU_ATT, baseline_steps=10),
            AttentionCase("SD1.5@512 fast", "sd-1-5", "fast", keypoints=20, targets=5, batch=batch),
        ]
    return [AttentionCase("SD1.5@512 paper", "sd-1-5", "paper", keypoints=1, steps=2, crops=5, batch=batch,
                          baseline_steps=1)]


def host_cases(size: str, gpu: bool, targets: int | None) -> list[HostCase]:
    """DIFT at SD2.1's 768 px with free feature maps: what the pipeline around the networks allows."""
    if size == "tiny":
        cases = [HostCase("tiny fast", "fast", targets=2, batch=2, resolution=64, keypoints=3)]
    else:
        n, big_n, batch = (512, 128, 32) if gpu else (48, 16, 8)
        cases = [
            HostCase("768 px fast, 640x480 JPEGs", "fast", targets=n, batch=batch),
            HostCase("768 px paper, 640x480 JPEGs", "paper", targets=n, batch=batch),
            HostCase("768 px fast, 4032x3024 JPEGs", "fast", targets=big_n, batch=batch, photo_size=(4032, 3024)),
        ]
    if targets is not None:
        cases = [HostCase(**{**c.__dict__, "targets": targets}) for c in cases]
    return cases


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    ap.add_argument("--dtype", default="auto", help="engine dtype: auto (bf16 on CUDA, fp32 on CPU), float32, bfloat16, float16")
    ap.add_argument("--size", choices=SIZES, default="small")
    ap.add_argument("--only", default="dift,attention,host", help=f"comma-separated sections: {', '.join(SECTIONS)}")
    ap.add_argument("--case", default="", help="only the cases whose label contains this text, e.g. SD1.5")
    ap.add_argument("--targets", type=int, help="target images per DIFT case (default: per size and device)")
    ap.add_argument("--attention-batch", type=int, help="attention engine UNet elements per pass (default: the preset's)")
    ap.add_argument("--attention-steps", type=int,
                    help="full size: optimise only N steps per context and extrapolate (bounds a GPU run's time)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the DIFT UNet (experiment)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="also time one image through the DIFT engine this many times and report the best")
    ap.add_argument("--channels-last", default="default",
                    help="DIFT models run channels-last: default (the engine's choice per device), none, vae, unet, "
                    "vae,unet")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice, one per core)")
    ap.add_argument("--json", type=Path, help="write every figure and fact here")
    ap.add_argument("--workdir", type=Path, help="where the throw-away projects go (default: a temporary folder)")
    args = ap.parse_args(argv)
    args.sections = [s.strip() for s in args.only.split(",") if s.strip()]
    if args.channels_last == "default":
        args.layout = None
    else:
        parts = {p.strip() for p in args.channels_last.split(",") if p.strip()} - {"none"}
        if parts - {"vae", "unet"}:
            ap.error("--channels-last takes default, none, vae, unet or vae,unet")
        args.layout = frozenset(parts)
    bad = sorted(set(args.sections) - set(SECTIONS))
    if bad:
        ap.error(f"unknown section(s) {', '.join(bad)}; choose from {', '.join(SECTIONS)}")
    return args


def main(argv: list[str] | None = None) -> Report:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from labeler.correspondence.device import resolve_device

    device = resolve_device(args.device)
    gpu = device.type == "cuda"
    info = machine_info(device)

    def log(text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)

    report = Report(info, {"size": args.size, "sections": args.sections, "dtype": args.dtype, "device": str(device),
                           "compile": args.compile, "channels_last": args.channels_last,
                           "argv": sys.argv[1:] if argv is None else argv})
    log(f"machine: {info.short}; load average {load_average()}")
    rates = Rates(device, 512 if args.size == "tiny" else None)
    first = rates.measure()
    report.facts["load_average_start"] = load_average()
    log("matmul rate: " + ", ".join(f"{k} {v / 1e12:.3f} TFLOP/s" for k, v in first.items()))

    def remeasure() -> None:
        # On a shared CPU another process may have held the cores during an earlier measurement;
        # each case's floor uses the best rate seen up to its start.
        if not gpu:
            rates.measure()

    with tempfile.TemporaryDirectory(prefix="labeler-bench-") as tmp:
        work = args.workdir or Path(tmp)
        if "dift" in args.sections:
            for case in [c for c in dift_cases(args.size, gpu, args.targets) if args.case in c.label]:
                remeasure()
                dift_bench.run_case(case, report, device, args.dtype, rates, work, compile_unet=args.compile,
                                    stage_repeats=args.repeats, channels_last=args.layout, log=log)
        if "attention" in args.sections:
            for case in [c for c in attention_cases(args.size, gpu, args.attention_batch, args.attention_steps) if args.case in c.label]:
                remeasure()
                attention_bench.run_case(case, report, device, args.dtype, rates, work, log=log)
        if "host" in args.sections:
            for hcase in [c for c in host_cases(args.size, gpu, args.targets) if args.case in c.label]:
                host_bench.run_case(hcase, report, device, work, log=log)
    report.facts["load_average_end"] = load_average()
    report.facts["matmul_flops_per_s"] = {"best": rates.best, "samples": rates.samples}
    log("best matmul rate: " + ", ".join(f"{k} {v / 1e12:.3f} TFLOP/s" for k, v in rates.best.items()))
    print(report.markdown())
    if args.json:
        report.write_json(args.json)
        log(f"wrote {args.json}")
    return report


if __name__ == "__main__":
    main()
