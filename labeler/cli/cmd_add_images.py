"""``labeler add-images PROJECT [DIR|FILE ...]``: register images added later."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "add-images",
        help="register new images (idempotent)",
        description=(
            "Register images under DIR (recursively) or the given files; they must lie inside the "
            "project's images root. Images already registered are left alone. Unreadable files are "
            "listed and skipped (exit status 1)."
        ),
    )
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("paths", nargs="*", metavar="DIR", help="folders or files (default: the whole images root)")
    p.add_argument(
        "--images-root",
        metavar="DIR",
        help="the images folder moved: use DIR as the images root from now on (paths inside stay the same)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from labeler.cli.common import EXIT_SOME_FAILED, print_paths, print_skipped
    from labeler.display import listing, shown
    from labeler.errors import UserInputError
    from labeler.store import Project, no_images_message

    with Project.open(args.project) as project:
        if args.images_root:
            project.set_images_root(args.images_root)
            print(f"images root is now {project.images_root}")
        elif not project.images_root_found:
            raise UserInputError(
                f"the images root {project.images_root} is not there any more; if the folder moved, "
                "give its new place with --images-root DIR"
            )
        sources = args.paths or [project.images_root]
        added: list[str] = []
        present = reappeared = 0
        skipped = []
        renamed: list[tuple[str, str]] = []
        for src in sources:
            path = Path(src)
            report = project.add_images(path)
            if path.is_dir() and not (report.added or report.already_present or report.skipped or report.renamed):
                raise UserInputError(no_images_message(path))
            added += report.added
            present += len(report.already_present)
            reappeared += len(report.reappeared)
            skipped += report.skipped
            renamed += report.renamed
        print(f"added {len(added)} image(s); {present} already in the project")
        if reappeared:
            print(f"{reappeared} image(s) previously missing are back")
        if renamed:
            print(f"{len(renamed)} image(s) renamed or moved (same content; their labels follow):")
            print(listing([f"{shown(old)} -> {shown(new)}" for old, new in renamed]))
        missing = project.check_missing()
        if missing:
            print(f"{len(missing)} image(s) in the project are missing on disk "
                  "(`labeler remove-images PROJECT --missing` forgets them):")
            print_paths([m.path for m in missing])
        print_skipped(skipped)
    return EXIT_SOME_FAILED if skipped else 0
