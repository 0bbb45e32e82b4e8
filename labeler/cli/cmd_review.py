"""``labeler review PROJECT [--limit N]``: the least confident predictions, to check first."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "review",
        help="list the least confident predictions",
        description="List predictions awaiting review, least confident first (predictions "
        "without a confidence come first). Confidence is the engine's own measure in [0, 1] of "
        "how distinct its best match is; see `labeler propagate --help`.",
    )
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--limit", type=int, default=20, metavar="N", help="how many to list (default: 20; 0 = all)")
    p.add_argument("--by-image", action="store_true", help="list images (by their least confident point) instead of points")
    p.set_defaults(run=run)


def _conf(value: float | None) -> str:
    return "     -" if value is None else f"{value:6.3f}"


def run(args: argparse.Namespace) -> int:
    from labeler.display import shown
    from labeler.errors import UserInputError
    from labeler.propagation import least_confident_images, least_confident_points
    from labeler.store import Project

    if args.limit < 0:
        raise UserInputError(f"--limit must be 0 (all) or more, got {args.limit}")
    limit = args.limit or None
    with Project.open(args.project) as project:
        if args.by_image:
            queue = least_confident_images(project, limit)
            if not queue:
                print("no predictions await review")
                return 0
            print("confidence  predicted  image")
            for q in queue:
                print(f"    {_conf(q.min_confidence)}  {q.n_predicted:9d}  {shown(q.path)}")
            return 0
        items = least_confident_points(project, limit)
        if not items:
            print("no predictions await review")
            return 0
        print("confidence  keypoint  x,y  image")
        for it in items:
            print(f"    {_conf(it.confidence)}  {shown(it.keypoint)}  {it.x:.1f},{it.y:.1f}  {shown(it.path)}")
    return 0
