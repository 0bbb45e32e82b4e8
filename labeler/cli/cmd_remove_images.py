"""``labeler remove-images PROJECT IMAGE ... | --missing``: forget images (files are not touched)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "remove-images",
        help="forget images: deleted files, or files replaced by another picture",
        description="Remove images from the project, with their points and cached features; the "
        "files themselves are not touched. Use it for files deleted on purpose (--missing), and for "
        "a file replaced by a different picture under the same name (remove it, then add-images it "
        "again). A renamed or moved file needs no removal: add-images recognises it by its content "
        "and keeps its labels.",
    )
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("images", nargs="*", metavar="IMAGE", help="image paths relative to the images root")
    p.add_argument("--missing", action="store_true", help="every image whose file is no longer on disk")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from labeler.display import shown
    from labeler.errors import UserInputError
    from labeler.store import Project

    if not args.images and not args.missing:
        raise UserInputError("say which images to remove: IMAGE paths, or --missing for files no longer on disk")
    with Project.open(args.project) as project:
        chosen = {image.id: image for image in (project.image_by_path(p) for p in args.images)}
        if args.missing:
            chosen.update({image.id: image for image in project.check_missing()})
        if not chosen:
            print("no image to remove (no file is missing)")
            return 0
        confirmed = {
            image_id: sum(1 for p in project.points(image_id).values() if p.confirmed) for image_id in chosen
        }
        project.remove_images(list(chosen))
        print(f"removed {len(chosen)} image(s):")
        for image_id, image in sorted(chosen.items(), key=lambda kv: kv[1].path):
            n = confirmed[image_id]
            print(f"  {shown(image.path)}" + (f" ({n} confirmed point(s) deleted)" if n else ""))
    return 0
