"""``labeler clear-cache PROJECT``: delete the project's cached reference states."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "clear-cache",
        help="delete cached reference states (they are prepared again when needed)",
        description=(
            "Delete every cached reference state and engine memo of the project. Labels and "
            "predictions are not touched; the next propagate prepares its references again "
            "(minutes for the attention method). Use it when a cache entry is suspected damaged "
            "or to make a project file smaller before sending it."
        ),
    )
    p.add_argument("project", metavar="PROJECT")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from labeler.store import Project

    with Project.open(args.project) as project:
        removed = project.clear_cache()
    print(f"deleted {removed} cache entr{'y' if removed == 1 else 'ies'} from {args.project}")
    return 0
