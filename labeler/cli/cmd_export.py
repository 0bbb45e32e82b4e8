"""``labeler export PROJECT --coco OUT.json [--predicted]`` and ``--pairs OUTDIR``."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="write the labels as COCO keypoint JSON and/or SPair-71k-style training pairs",
        description="Export confirmed points (manual, accepted, corrected; absent ones as 0,0,0) as COCO "
        "keypoint JSON. With --predicted, predictions awaiting review are included too and every "
        "annotation carries keypoint_status and keypoint_scores. --pairs writes the confirmed labels "
        "as an SPair-71k-style dataset (JPEGImages, ImageAnnotation, PairAnnotation with co-visible "
        "keypoints, Layout split lists) for training or evaluating correspondence networks.",
    )
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--coco", metavar="OUT.json", help="COCO file to write (an existing JSON file is replaced; any other file is refused)")
    p.add_argument("--predicted", action="store_true", help="COCO: include predictions awaiting review")
    p.add_argument("--category", metavar="NAME", help="category name (default: the project name)")
    p.add_argument(
        "--annotators", action="store_true",
        help="COCO: every annotation lists who confirmed each point (keypoint_annotators; null where nobody)",
    )
    p.add_argument("--pairs", metavar="OUTDIR", help="write an SPair-71k-style dataset into this new folder")
    p.add_argument("--max-pairs", type=int, metavar="N", help="pairs: at most N pairs in all (seeded sample)")
    p.add_argument(
        "--split-ratio", default="0.8,0.1,0.1", metavar="TRN,VAL,TEST",
        help="pairs: shares of images per split (default 0.8,0.1,0.1; splits never share an image)",
    )
    p.add_argument("--seed", type=int, default=0, help="pairs: seed of the split and the pair sample")
    p.add_argument("--overwrite", action="store_true", help="pairs: replace an earlier labeler export in OUTDIR")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from labeler.errors import UserInputError
    from labeler.cli.common import eprint
    from labeler.display import listing
    from labeler.store import Project

    if not args.coco and not args.pairs:
        raise UserInputError("say what to export: --coco OUT.json and/or --pairs OUTDIR")
    with Project.open(args.project) as project:
        if args.coco:
            from labeler.formats.coco import export_coco

            replaced = [r.path for r in project.check_files().changed]
            report = export_coco(
                project, args.coco, predicted=args.predicted, category=args.category, annotators=args.annotators
            )
            extra = f", {report.predicted} predicted" if args.predicted else ""
            print(
                f"wrote {report.path}: {report.images} images, {report.visible_or_occluded} points with a "
                f"position, {report.absent} absent{extra}"
            )
            if replaced:
                eprint(f"warning: {len(replaced)} image(s) now hold another picture than the one labelled; "
                       f"their labels were written as they are:\n{listing(replaced)}")
        if args.pairs:
            from labeler.formats.pairs import export_pairs
            from labeler.formats.spair import SPairExportConfig, parse_split_ratio

            config = SPairExportConfig(
                split_ratio=parse_split_ratio(args.split_ratio),
                seed=args.seed,
                max_pairs=args.max_pairs,
                overwrite=args.overwrite,
            )
            summary = export_pairs(project, args.pairs, config, category=args.category)
            splits = ", ".join(f"{s} {summary.pairs.get(s, 0)} pairs / {summary.images.get(s, 0)} images"
                               for s in ("trn", "val", "test"))
            print(f"wrote {summary.root}: {splits}")
            if summary.skipped_images:
                print(f"  {len(summary.skipped_images)} image(s) without a visible confirmed keypoint were left out")
            for warning in summary.warnings:
                print(f"  note: {warning}")
    return 0
