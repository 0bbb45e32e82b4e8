"""``labeler gui [PROJECT]`` (and bare ``labeler``): open the labeling window."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "gui",
        help="open the labeling window (also what `labeler` alone does)",
        description="Open the desktop app on PROJECT, or on the most recently used project. "
        "On Linux it first checks the system libraries Qt's X11 plugin needs and says how to install "
        "any that are missing.",
    )
    p.add_argument("project", metavar="PROJECT", nargs="?", help="project to open: a file (e.g. birds.labeler) or a postgresql://... URL")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from labeler.errors import LabelerError, ProjectError
    from labeler.gui.platform_check import check_platform

    problem = check_platform()
    if problem is not None:
        raise LabelerError(problem.message)
    from labeler.store.location import is_url

    project = getattr(args, "project", None)
    if project is not None and not is_url(project) and not Path(project).exists():
        raise ProjectError(f"no such project file: {project} (create one with File > New project, or `labeler init`)")
    try:
        from labeler.gui.app import run_app
    except ImportError as exc:  # PyQt6 missing or its Qt libraries broken
        print(f"error: cannot load Qt ({exc}); reinstall with `pip install pyqt6`", file=sys.stderr)
        return 2
    return run_app(project)
