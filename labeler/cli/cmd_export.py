"""``labeler export PROJECT --coco OUT.json [--predicted]``."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="write the labels as COCO keypoint JSON",
        description="Export confirmed points (manual, accepted, corrected; absent ones as 0,0,0) as COCO "
        "keypoint JSON. With --predicted, predictions awaiting review are included too and every "
        "annotation carries keypoint_status and keypoint_scores.",
    )
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--coco", required=True, metavar="OUT.json", help="file to write (replaced if it exists)")
    p.add_argument("--predicted", action="store_true", help="include predictions awaiting review")
    p.add_argument("--category", metavar="NAME", help="category name (default: the project name)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from labeler.formats.coco import export_coco
    from labeler.store import Project

    with Project.open(args.project) as project:
        report = export_coco(project, args.coco, predicted=args.predicted, category=args.category)
    extra = f", {report.predicted} predicted" if args.predicted else ""
    print(
        f"wrote {report.path}: {report.images} images, {report.visible_or_occluded} points with a position, "
        f"{report.absent} absent{extra}"
    )
    return 0
