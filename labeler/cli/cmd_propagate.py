"""``labeler propagate PROJECT``: predict every unconfirmed keypoint from the confirmed ones."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from labeler.cli.common import add_cluster_arguments, cluster_from_args
from labeler.errors import UserInputError

EXIT_FAILURES = 1  # the run completed, but some images could not be predicted (listed)
EXIT_STOPPED = 130  # stopped by Ctrl-C; everything committed before is kept

_EPILOG = """\
References are all confirmed, visible points (manual, corrected, accepted); per keypoint at
most --max-references, manual first, then corrected, then accepted, most recent first.
Every batch is saved as soon as it is predicted. Re-running skips images already predicted
with the same references and settings (use --force to predict them again); images predicted
from older references are predicted again. Confirmed points are never replaced.
Ctrl-C stops after the current batch (press it twice to stop at once).

exit status: 0 done, 1 done but some images failed (listed), 2 error (a Ray head lost mid-run
included: what was predicted is saved, the same command continues), 130 stopped.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from labeler.correspondence.method_info import has_weights, methods_epilog, recommended_method

    default_method = recommended_method()
    default_reason = (
        "the most accurate method whose weights are on this machine" if has_weights(default_method)
        else "the fallback: no method's weights are on this machine (see Models in the README; "
        "--model tiny-random runs without weights, for tests only)"
    )
    p = subparsers.add_parser(
        "propagate",
        help="predict keypoints on every image from the confirmed ones",
        description="Predict the keypoints of every image that is not fully confirmed, from the "
        "confirmed points of the project, and store them as predictions awaiting review.",
        epilog=methods_epilog() + "\n" + _EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("project", metavar="PROJECT")
    p.add_argument(
        "--method",
        choices=("dift", "attention", "classical", "fusion"),
        default=default_method,
        help=f"engine (default here: {default_method}, {default_reason}; see 'methods' below)",
    )
    p.add_argument("--model", metavar="ID|DIR|tiny-random", help="model card key, hub id, local folder, .safetensors file, or tiny-random")
    p.add_argument(
        "--unet",
        metavar="FILE.safetensors",
        help="dift: a UNet state dict replacing the model's UNet, e.g. a downloaded "
        "cleandift_sd21_unet.safetensors with --model the SD 2.1 folder (CleanDIFT's settings then apply)",
    )
    p.add_argument("--preset", choices=("fast", "paper", "geoaware-sc", "sd-dino"), default="fast",
                   help="engine settings (default: fast); fusion also offers geoaware-sc (= paper: GeoAware-SC "
                   "zero-shot, FreeU on) and sd-dino (Zhang et al. 2023: no FreeU, t = 100)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    p.add_argument("--dtype", choices=("auto", "float32", "float16", "bfloat16"), default="auto")
    p.add_argument("--batch-size", type=int, default=4, metavar="N", help="target images per batch (default: 4)")
    p.add_argument("--images", metavar="GLOB", help="only images whose relative path matches, e.g. 'nest/*.jpg'")
    p.add_argument("--force", action="store_true", help="predict again images that are up to date")
    p.add_argument("--no-flip", action="store_true", help="no flip-aware matching (halves the matching work)")
    p.add_argument("--max-references", type=int, default=8, metavar="N", help="references per keypoint (default: 8)")
    p.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override one engine setting (repeatable), e.g. --setting resolution=256",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    boxes = p.add_argument_group("several objects per image (boxes)")
    boxes.add_argument(
        "--boxes", choices=("existing", "detect"), default="existing",
        help="existing (default): predict each boxed object in its own crop (images without boxes: whole); "
        "detect: propose boxes with a text-prompted detector on images without any, store them as "
        "'detected' for review (labeler instances), and stop before predicting keypoints",
    )
    boxes.add_argument("--prompt", metavar="TEXT", help='with --boxes detect: what to find, e.g. "a bird"')
    boxes.add_argument("--detector", metavar="ID|DIR|tiny-random",
                       help="OWLv2 detector: hub id (from the local cache), local folder, or tiny-random (tests)")
    boxes.add_argument("--box-threshold", type=float, default=0.2, metavar="S", help="lowest detector score kept (default 0.2)")
    boxes.add_argument("--max-boxes", type=int, default=20, metavar="N", help="most boxes per image (default 20)")
    add_cluster_arguments(p)
    p.set_defaults(run=run)


def parse_setting(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise UserInputError(f"--setting {text!r}: expected NAME=VALUE, e.g. resolution=256")
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value.strip()
    return name.strip(), parsed


class _Bars:
    """tqdm bars on stderr, one per stage, driven by ProgressEvents."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar = None
        self.stage = ""

    def write(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(text, file=sys.stderr)

    def __call__(self, event) -> None:  # noqa: ANN001 - ProgressEvent
        from tqdm import tqdm

        from labeler.propagation import STAGE_DONE, STAGE_LOADING, STAGE_PREDICTING, STAGE_REFERENCES

        if event.notice:
            self.write(f"note: {event.message}")
        if self.quiet:
            return
        if event.stage == STAGE_LOADING:
            if event.done == 0:
                self.write(event.message)
            return
        if event.stage in (STAGE_REFERENCES, STAGE_PREDICTING):
            if event.total <= 0:
                return
            if self.stage != event.stage or self.bar is None:
                self.close()
                self.stage = event.stage
                unit = "img"
                self.bar = tqdm(total=event.total, desc=event.stage, unit=unit, file=sys.stderr, dynamic_ncols=True)
            if event.done > self.bar.n:
                self.bar.update(event.done - self.bar.n)
            if event.stage == STAGE_REFERENCES and event.message:
                # Optimising one reference can take minutes: show its steps beside the image count.
                self.bar.set_postfix_str(event.message, refresh=True)
            return
        if event.stage == STAGE_DONE:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _print_summary(summary, config) -> None:  # noqa: ANN001
    from labeler.display import MAX_LISTED, MAX_SHOWN, listing, shown

    from labeler.propagation import NOT_FOUND

    state = "stopped" if summary.stopped else "done"
    model = "no model" if config.method == "classical" else (config.model or "default model")
    print(f"propagation {state}: {config.method} ({model}, preset {config.preset}) on {summary.device} in {summary.seconds:.1f} s")
    flipped = f" ({summary.flipped_images} matched better mirrored)" if summary.flipped_images else ""
    print(f"  images predicted: {summary.predicted_images} of {summary.targets}{flipped}")
    if summary.predicted_images and summary.seconds > 0:
        print(f"  speed: {summary.predicted_images / summary.seconds:.2f} images/s (whole run)")
    print(f"  points written: {summary.written_points}")
    print(f"  kept confirmed: {summary.kept_confirmed} (a person's point is never replaced)")
    print(f"  skipped, up to date: {summary.skipped_up_to_date}")
    if summary.failed:
        print(f"  failed: {len(summary.failed)}")
        print(listing([f"{shown(path)}: {reason}" for path, reason in summary.failed], 2 * MAX_LISTED, indent="    "))
        if any(reason == NOT_FOUND for _, reason in summary.failed):
            print(
                "  files not found: `labeler add-images PROJECT` finds renamed or moved ones, "
                "`labeler remove-images PROJECT --missing` forgets deleted ones"
            )
    said = _test_warning(config)
    for message in summary.messages:
        if message != said:  # already said once, as a warning, when the run started
            print(f"  note: {shown(message, 2 * MAX_SHOWN)}")
    if summary.stopped:
        again = "the same command without --force" if config.force else "the same command"
        print(f"  everything predicted so far is saved; run {again} again to continue")


def _test_warning(config) -> str | None:  # noqa: ANN001 - a PropagationConfig
    """The test-model warning for this run (None for a real model)."""
    from labeler.correspondence.cards import is_test_model
    from labeler.propagation.review import test_model_warning

    return test_model_warning(config.model) if config.method != "classical" and is_test_model(config.model) else None


def _console(cluster):  # noqa: ANN001, ANN202
    """A cluster run's stderr without Ray's own C++ log lines (they go to the log)."""
    if cluster is None:
        import contextlib

        return contextlib.nullcontext()
    from labeler.cluster.console import ray_lines_to_log

    return ray_lines_to_log()


def run(args: argparse.Namespace) -> int:
    from labeler.propagation import PropagationConfig, propagate
    from labeler.store import Project

    if args.method == "classical" and args.model:
        raise UserInputError("the classical method uses no model; leave --model out")
    overrides = dict(parse_setting(s) for s in args.setting)
    if args.unet:
        if args.method != "dift":
            raise UserInputError("--unet replaces the UNet of DIFT's model; use it with --method dift")
        overrides["unet_file"] = args.unet
    config = PropagationConfig(
        method=args.method,
        model=args.model,
        preset=args.preset,
        device=args.device,
        dtype=args.dtype,
        batch_size=args.batch_size,
        images=args.images,
        force=args.force,
        flip=False if args.no_flip else None,
        max_references=args.max_references,
        overrides=overrides,
    )
    config.check()
    if args.boxes == "detect":
        return _detect(args, config)
    if args.prompt:
        raise UserInputError("--prompt names what a detector looks for: use it with --boxes detect")
    if _test_warning(config):
        print(f"warning: {_test_warning(config)}", file=sys.stderr)
    stop = threading.Event()
    bars = _Bars(args.quiet)

    def on_sigint(signum, frame) -> None:  # noqa: ANN001
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        bars.write("stopping after the current batch... (Ctrl-C again to stop at once)")

    cluster = cluster_from_args(args)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if in_main else None
    try:
        with Project.open(args.project) as project, _console(cluster):
            summary = propagate(project, config, progress=bars, should_stop=stop.is_set, cluster=cluster)
    finally:
        bars.close()
        if cluster is not None:
            cluster.close()
        if in_main:
            signal.signal(signal.SIGINT, previous)
    _print_summary(summary, config)
    if cluster is not None:
        for status in cluster.status:
            print(f"  {status.tally()}")
    if summary.stopped:
        return EXIT_STOPPED
    return EXIT_FAILURES if summary.failed else 0


def _detect(args: argparse.Namespace, config) -> int:  # noqa: ANN001 - a PropagationConfig
    """``--boxes detect``: propose boxes, list them, and stop (a person reviews them first)."""
    import math

    from labeler.correspondence.detection import load_detector
    from labeler.display import listing, shown
    from labeler.propagation.detect_boxes import propose_boxes
    from labeler.store import Project

    if not (args.prompt or "").strip():
        raise UserInputError('--boxes detect needs --prompt naming the objects, e.g. --prompt "a bird"')
    if not (math.isfinite(args.box_threshold) and 0.0 <= args.box_threshold <= 1.0):
        raise UserInputError(f"--box-threshold is a score between 0 and 1, not {args.box_threshold!r}")
    if args.max_boxes < 1:
        raise UserInputError(f"--max-boxes must be at least 1, not {args.max_boxes!r}")
    device = "cpu" if args.device in ("auto", "cpu") else args.device
    detector = load_detector(args.detector, device=device)
    with Project.open(args.project) as project:
        found = propose_boxes(project, config, detector, args.prompt, threshold=args.box_threshold, max_boxes=args.max_boxes)
    n = sum(len(v) for v in found.boxes.values())
    print(f"detector {detector.name}: {n} box(es) of {shown(args.prompt)!s} on {len(found.boxes)} of {found.images} image(s)")
    lines = [
        f"{path}: instance {i} at {b[0]:.0f},{b[1]:.0f} {b[2]:.0f}x{b[3]:.0f} (score {score:.2f})"
        for path, items in found.boxes.items() for i, b, score in items
    ]
    if lines:
        print(listing(lines, indent="  "))
    if found.already_boxed:
        print(f"  {found.already_boxed} image(s) already have boxes and were left alone")
    for path, reason in found.failed:
        print(f"  failed: {shown(path)}: {reason}")
    print("  the boxes are stored as 'detected': check them (labeler instances PROJECT), adjust with "
          "--set-box, delete with --delete, then run labeler propagate PROJECT to predict into them")
    return EXIT_FAILURES if found.failed else 0
