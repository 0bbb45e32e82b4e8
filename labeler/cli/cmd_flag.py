"""``labeler flag PROJECT IMAGE... --skip | --no-object | --later | --clear``: image-level decisions.

The same flags as the app's K, Shift+X and M. A flagged image is out of review (its predictions
are never accepted or rejected, not listed by ``review``, not counted as to review) and never a
propagation reference; skip and no object images are not predicted. Exports: COCO, YOLO and
DeepLabCut write a no-object image as a negative (background) image and leave skipped ones out.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "flag",
        help="flag images: skip, no object, for later (or clear the flag)",
        description="Flag images as a whole, as the app's K (skip), Shift+X (no object) and M (later) do. "
        "A flagged image leaves the review: its predictions are never accepted or rejected and it is "
        "never a propagation reference; skipped and no-object images are not predicted. Exports write "
        "a no-object image as a negative (background) image and leave skipped ones out.",
    )
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image paths relative to the images root")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--skip", dest="flag", action="store_const", const="skip", help="passed over on purpose: not labelled, not exported")
    which.add_argument("--no-object", dest="flag", action="store_const", const="no_object",
                       help="the object is not in the image: exported as a negative")
    which.add_argument("--later", dest="flag", action="store_const", const="later", help="come back to it")
    which.add_argument("--clear", dest="flag", action="store_const", const="", help="remove the flag")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from labeler.display import shown
    from labeler.store import Project
    from labeler.store.review_ops import FLAG_WORDS

    flag = args.flag or None
    with Project.open(args.project) as project:
        images = {}
        for text in args.images:  # every name is checked before anything is written
            record = project.image_by_path(text)
            images[record.id] = record
        project.set_image_flag(list(images), flag)
        n = len(images)
        what = "cleared the flag of" if flag is None else f"flagged {FLAG_WORDS[flag]}:"
        print(f"{what} {n} image{'' if n == 1 else 's'}")
        for record in images.values():
            if record.flag == flag:  # nothing changed for it: say so, not "cleared" or "flagged"
                was = " (had no flag)" if flag is None else " (already)"
            else:
                was = f" (was {FLAG_WORDS[record.flag]})" if record.flag else ""
            print(f"  {shown(record.path)}{was}")
    return 0
