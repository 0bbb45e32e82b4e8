"""``labeler init PROJECT --images DIR --keypoints a,b,c``: create a project."""

from __future__ import annotations

import argparse
from pathlib import Path

from labeler.cli.common import EXIT_SOME_FAILED, parse_flips, parse_skeleton, print_skipped, split_list


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "init",
        help="create a project and register every image under a folder",
        description=(
            "Create a project file and register every image under DIR (recursively: "
            "jpg, jpeg, png, bmp, tif, tiff, webp). Unreadable files are listed and skipped "
            "(the project is created; exit status 1). "
            "Nothing is written when DIR holds no readable image."
        ),
    )
    p.add_argument("project", metavar="PROJECT", help="project file to create, e.g. birds.labeler, or postgresql://host/db?schema=birds")
    p.add_argument("--images", required=True, metavar="DIR", help="folder of images (the images root)")
    p.add_argument(
        "--keypoints",
        metavar="a,b,c",
        help="keypoint names in order, comma-separated (leave out to take the schema from a later `labeler import`)",
    )
    p.add_argument("--skeleton", metavar="a-b,b-c", help="skeleton edges, comma-separated")
    p.add_argument(
        "--flip",
        action="append",
        metavar="LEFT:RIGHT",
        help="left/right pair swapped by a horizontal flip (repeat, or comma-separate several)",
    )
    p.add_argument("--name", help="project name (default: the file name); the COCO category name")
    p.add_argument("--force", action="store_true", help="replace an existing project file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from labeler.errors import ProjectError, UserInputError
    from labeler.store import Project, find_image_files, format_skipped, no_images_message, probe_files, relative_to_root, validate_schema

    names = split_list(args.keypoints, "--keypoints") if args.keypoints else []
    schema = validate_schema(names, parse_skeleton(args.skeleton, names), parse_flips(args.flip))
    from labeler.store.location import is_url

    target = args.project if is_url(args.project) else Path(args.project)
    if isinstance(target, Path) and target.exists() and not args.force:
        raise ProjectError(f"{target} already exists; refusing to overwrite it (use --force to replace it)")
    root = Path(args.images)
    links: list = []
    files = find_image_files(root, skipped=links)
    if not files:
        raise UserInputError(no_images_message(root))
    pairs = [(f, relative_to_root(f, root) or f.name) for f in files]
    probed, skipped = probe_files(pairs)
    skipped = links + skipped
    if not probed:
        lines = format_skipped(skipped)
        raise UserInputError(f"none of the {len(files)} image files in {root} can be read; nothing was created:\n{lines}")
    project = Project.create(
        target, root, schema.keypoints, schema.skeleton, schema.flip_pairs, images=probed, name=args.name, force=args.force
    )
    with project:
        print(f"created {project.display}")
        print(f"  images root: {project.images_root}")
        print(f"  images: {len(probed)}")
        print(f"  keypoints: {', '.join(schema.keypoints) or '(none yet)'}")
    if args.force and project.is_database:  # a team project replaced in place keeps its team
        from labeler.store.roles import restore_grants

        team = restore_grants(project.location)
        if team:
            print(f"  {team}")
    print_skipped(skipped)
    return EXIT_SOME_FAILED if skipped else 0
