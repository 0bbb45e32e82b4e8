"""``labeler eval``: its arguments and its body (registered by :mod:`labeler.cli.cmd_eval`).

``add_eval_arguments(parser)`` fills an argparse (sub)parser; ``run_eval(args)`` runs it and
returns the exit status. User errors are raised as :class:`~labeler.errors.LabelerError` for
the CLI front end to print.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from labeler.display import MAX_SHOWN
from labeler.display import shown as shown_text  # `shown` is a count below
from labeler.errors import UserInputError
from labeler.evaluation.thresholds import THRESHOLDS

DATASET_CHOICES = ("spair", "pf-willow", "cub")
# Spelled out so that building the parser imports no numpy/torch (`labeler --help` stays fast);
# a test keeps them equal to the registry's and the metric's.
METHOD_CHOICES = ("dift", "attention", "classical", "fusion")
PRESET_CHOICES = ("fast", "paper", "geoaware-sc", "sd-dino")  # the last two: fusion only
DEFAULT_METHOD = "dift"
DEFAULT_PRESET = "fast"
DEFAULT_ALPHAS_TEXT = "0.05,0.1,0.15"
#: Figure formats matplotlib's Agg canvas writes (checked before the run, not after it).
PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".svgz", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".eps", ".ps")


def _alphas(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError("alphas must be positive numbers, e.g. 0.05,0.1,0.15")
    return values


def _setting(text: str) -> tuple[str, Any]:
    """NAME=VALUE; the value is read as JSON when it parses (2, 0.5, true, [1, 2]), else as text."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, e.g. ensemble=2 (got {text!r})")
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value.strip()
    return name.strip(), parsed


def check_output(path: Path, what: str, suffixes: tuple[str, ...] | None = None) -> None:
    """Refuse an output the run could not write, before hours of inference rather than after."""
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise UserInputError(f"{path}: cannot write the {what} as {path.suffix or 'a file without suffix'}; "
                             f"use one of {', '.join(suffixes)}")
    if path.is_dir():
        raise UserInputError(f"{path}: cannot write the {what} (is a folder; give a file name)")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise UserInputError(f"{path}: cannot write the {what} ({folder} is a file, not a folder)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserInputError(f"{path}: cannot write the {what} (no permission to write in {folder})")


def add_eval_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.description = (
        "Measure PCK of a correspondence method on a public benchmark (SPair-71k, PF-Willow, "
        "CUB-200-2011) or on an SPair-style export of your own labels."
    )
    parser.add_argument("--dataset", required=True, choices=DATASET_CHOICES,
                        help="benchmark layout; a `labeler export --pairs` folder reads as spair")
    parser.add_argument("--root", required=True, type=Path, help="the extracted dataset folder")
    parser.add_argument("--split", default="test", help="spair: trn/val/test; cub: test/trn; pf-willow: test")
    parser.add_argument("--method", default=DEFAULT_METHOD, choices=METHOD_CHOICES)
    parser.add_argument("--model", default=None, help="model card name or local checkpoint (default: the method's)")
    parser.add_argument("--unet", default=None, metavar="FILE.safetensors",
                        help="dift: a UNet state dict replacing the model's UNet (e.g. CleanDIFT's, with "
                             "--model the base SD folder)")
    parser.add_argument("--preset", default=DEFAULT_PRESET, choices=PRESET_CHOICES)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    parser.add_argument("--dtype", default="auto", help="auto, float32, float16, bfloat16")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="evaluate N pairs taken round-robin over categories (quick estimate)")
    parser.add_argument("--categories", default=None, metavar="A,B,..",
                        help="only pairs of these categories (SPair: cat,dog; PF-Willow: car(G); "
                             "CUB: 001.Black_footed_Albatross)")
    parser.add_argument("--alphas", type=_alphas, default=DEFAULT_ALPHAS_TEXT, metavar="A,B,..",
                        help=f"PCK alphas (default {DEFAULT_ALPHAS_TEXT})")
    parser.add_argument("--threshold", choices=tuple(THRESHOLDS), default=None,
                        help="PCK threshold protocol (default: the dataset's official one; "
                             "spair/cub: bbox, pf-willow: bbox-kps; bbox-kps-src = HPF's PF-Willow box)")
    parser.add_argument("--batch-size", type=int, default=4, help="target images per engine call")
    parser.add_argument("--setting", type=_setting, action="append", default=[], metavar="NAME=VALUE",
                        help="override one engine setting (repeatable), e.g. --setting ensemble=2")
    parser.add_argument("--category-prompt", action="store_true",
                        help="dift: prompt 'a photo of a {category}' as in the DIFT authors' SPair "
                             "evaluation (builds the engine once per category)")
    parser.add_argument("--spair-layout", choices=("large", "small"), default="large",
                        help="which SPair Layout/ list to read")
    parser.add_argument("--cub-classes", type=int, default=3, metavar="N",
                        help="CUB: use classes 1..N (Hedlin et al. evaluate 3; 200 = all)")
    parser.add_argument("--flip", choices=("auto", "on", "off"), default="auto",
                        help="flip-aware matching (adaptive pose alignment): each source is also used mirrored "
                             "with left/right keypoints swapped and the better pose is kept per pair (default: "
                             "on for fusion, whose published GeoAware-SC figures use it; off for the others and for "
                             "fusion's sd-dino preset)")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT.json", help="write the report as JSON")
    parser.add_argument("--plot", type=Path, default=None, metavar="OUT.png",
                        help="PCK-vs-alpha per category and qualitative pairs")
    parser.add_argument("--examples", type=int, default=4, help="qualitative pairs in the plot")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _cluster_options(args: argparse.Namespace):  # noqa: ANN202 - labeler.cluster.ClusterOptions | None
    """--ray (registered by the CLI): the pairs sharded over Ray workers, checked before any loading."""
    address = getattr(args, "ray", None)
    workers, per_gpu = getattr(args, "workers", None), getattr(args, "gpus_per_worker", None)
    if address is None:
        if workers is not None or per_gpu is not None:
            raise UserInputError("--workers and --gpus-per-worker apply to a Ray run: add --ray local (or auto, HOST:PORT)")
        return None
    if args.category_prompt:
        raise UserInputError("--category-prompt builds one engine per category and is not sharded over Ray yet; "
                             "run it without --ray")
    from labeler.cluster.connection import ClusterOptions, check_address

    options = ClusterOptions(address=address.strip(), workers=workers, gpus_per_worker=per_gpu)
    check_address(options)  # before the dataset is read: a bad address fails at once
    return options


def run_eval(args: argparse.Namespace) -> int:
    from labeler.evaluation.datasets import load_dataset
    from labeler.evaluation.report import format_table, write_json
    from labeler.evaluation.runner import EvalOptions, run

    if args.split not in ("test", "trn", "val", "train"):
        raise UserInputError(f"unknown split {args.split!r}; use test, trn or val")
    if args.json is not None:
        check_output(args.json, "report")
    if args.plot is not None:
        check_output(args.plot, "plot", PLOT_SUFFIXES)
    cluster = _cluster_options(args)
    dataset = load_dataset(args.dataset, args.root, args.split, layout=args.spair_layout, classes=args.cub_classes)
    categories = None if args.categories is None else tuple(args.categories.split(","))
    options = EvalOptions(alphas=tuple(args.alphas), threshold=args.threshold, limit=args.limit,
                          batch_size=args.batch_size, categories=categories,
                          flip={"auto": None, "on": True, "off": False}[args.flip])
    bar = None
    progress = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=None, unit="pair", desc=f"{args.dataset} {args.method}", file=sys.stderr)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

    settings = dict(args.setting)
    if args.unet:
        if args.method != "dift":
            raise UserInputError("--unet replaces the UNet of DIFT's model; use it with --method dift")
        settings["unet_file"] = args.unet
    try:
        if cluster is not None:
            from labeler.cluster.console import ray_lines_to_log
            from labeler.cluster.evaluation import run_sharded

            with ray_lines_to_log():  # Ray's C++ log lines to the log, not under the table
                result = run_sharded(dataset, args.method, cluster, model=args.model, preset=args.preset,
                                     device=args.device, dtype=args.dtype, options=options, progress=progress, **settings)
        else:
            result = run(dataset, args.method, model=args.model, preset=args.preset, device=args.device,
                         dtype=args.dtype, options=options, progress=progress, category_prompt=args.category_prompt,
                         **settings)
    finally:
        if bar is not None:
            bar.close()
    print(format_table(result))
    if args.json is not None:
        write_json(result, args.json)
        print(f"report written to {args.json}")
    if args.plot is not None:
        from labeler.evaluation.plotting import plot_result

        plot_result(result, args.plot, examples=args.examples)
        print(f"plot written to {args.plot}")
    if result.failures:
        shown = 20
        print(f"{len(result.failures)} pair(s) left out, an image could not be read:", file=sys.stderr)
        for f in result.failures[:shown]:
            print(f"  {shown_text(f.pair_id)}: {shown_text(f.error, 2 * MAX_SHOWN)}", file=sys.stderr)
        if len(result.failures) > shown:
            print(f"  ... and {len(result.failures) - shown} more (all in the --json report)", file=sys.stderr)
        return 1
    return 0
