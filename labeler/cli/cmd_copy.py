"""``labeler copy SRC DST [--force]``: copy a whole project between a file and a database."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "copy",
        help="copy a whole project to another location (file <-> PostgreSQL, either direction)",
        description=(
            "Copy everything of project SRC into a new project DST: images registry, schema, points "
            "with status, confidence and provenance, reference cache. SRC and DST are project files or "
            "PostgreSQL URLs (postgresql://host/db?schema=NAME). An existing project at DST is refused "
            "unless --force. The copy is one transaction: it is complete or not there."
        ),
    )
    p.add_argument("source", metavar="SRC", help="project to copy (file or URL)")
    p.add_argument("target", metavar="DST", help="where the copy goes (file or URL)")
    p.add_argument("--images-root", metavar="DIR", help="the images folder as this machine sees it (default: SRC's)")
    p.add_argument("--force", action="store_true", help="replace a project already at DST")
    p.set_defaults(run=run, project=None)


def run(args: argparse.Namespace) -> int:
    from labeler.store.copying import copy_project

    args.project = args.target  # what a database error message names
    report = copy_project(args.source, args.target, images_root=args.images_root, force=args.force)
    rows = report.rows
    print(f"copied {report.source} -> {report.target}")
    print(
        f"  images: {rows.get('image', 0)}, keypoints: {rows.get('keypoint', 0)}, points: {rows.get('point', 0)}, "
        f"cache entries: {rows.get('cache', 0)}"
    )
    if report.team:
        print(f"  {report.team}")
    return 0
