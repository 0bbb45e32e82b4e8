"""``labeler label PROJECT IMAGE name=x,y ...``: set confirmed points on one image."""

from __future__ import annotations

import argparse

from labeler.cli.common import add_user_option
from labeler.display import shown
from labeler.errors import UserInputError

_HELP = """\
assignments:
  name=x,y            visible point at (x, y), in original image pixels as displayed
  name=x,y,occluded   occluded point at (x, y)
  name=occluded       mark the point occluded where it is (it needs a position already)
  name=visible        mark it visible again where it is
  name=absent         the keypoint is not in the image
  name=unlabeled      forget the point (back to not labelled; also: unlabelled, "not labelled")
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "label",
        help="set confirmed points on one image",
        description="Set confirmed keypoints on IMAGE (a path relative to the images root). "
        "All assignments are checked first; then all are saved together.",
        epilog=_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("image", metavar="IMAGE", help="image path relative to the images root")
    p.add_argument("points", nargs="+", metavar="name=x,y", help="see below")
    add_user_option(p)
    p.add_argument("--replace", action="store_true",
                   help="overwrite points another person confirmed (without it they are named and nothing is saved)")
    p.set_defaults(run=run)


#: What forgets a point: the word `label` prints ("not labelled") and the other spellings.
UNLABELED_SPELLINGS = ("unlabeled", "unlabelled", "not labelled", "not labeled")


def parse_assignment(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value:
        raise UserInputError(f"{text!r}: expected name=x,y, name=x,y,occluded, or name=occluded|visible|absent|unlabeled")
    if value in ("absent", "occluded", "visible"):
        return name, value
    if " ".join(value.lower().replace("-", " ").replace("_", " ").split()) in UNLABELED_SPELLINGS:
        return name, "unlabeled"
    parts = [p.strip() for p in value.split(",")]
    visibility = 2
    if len(parts) == 3 and parts[2] in ("occluded", "visible"):
        visibility = 1 if parts[2] == "occluded" else 2
        parts = parts[:2]
    if len(parts) != 2:
        raise UserInputError(f"{text!r}: expected name=x,y, name=x,y,occluded, or name=occluded|visible|absent|unlabeled")
    try:
        x, y = float(parts[0]), float(parts[1])
    except ValueError:
        raise UserInputError(f"{text!r}: coordinates must be numbers") from None
    return name, (x, y, visibility)


def _when(t: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def run(args: argparse.Namespace) -> int:
    from labeler.store import Project

    assignments: dict[str, object] = {}
    for text in args.points:
        name, value = parse_assignment(text)
        if name in assignments:
            raise UserInputError(f"keypoint {name!r} is given twice")
        assignments[name] = value
    with Project.open(args.project, user=args.user) as project:
        if not project.schema().keypoints:
            raise UserInputError(
                "the project has no keypoints yet; add them first: "
                "labeler schema PROJECT --add NAME,NAME (or in the app: Edit > Edit keypoints)"
            )
        image = project.image_by_path(args.image)
        before = project.points(image.id)
        theirs = [r for name, r in before.items()
                  if name in assignments and r.confirmed and r.annotator and r.annotator != project.user]
        if theirs and not args.replace:
            raise UserInputError(
                "nothing saved: " + "; ".join(f"{shown(r.name)} was confirmed by {shown(r.annotator)} at {_when(r.updated_at)}"
                                               for r in theirs)
                + " (add --replace to overwrite their points)"
            )
        # optimistic: a point changed by anyone since it was read above is refused, not overwritten
        expected = {name: (before[name].version if name in before else None) for name in assignments}
        points = project.set_points(image.id, assignments, expected_versions=expected)  # type: ignore[arg-type]
        print(f"{shown(image.path)} ({image.width}x{image.height}, {project.image(image.id).review_status}):")
        for name in project.schema().keypoints:
            row = points.get(name)
            if row is None:
                text = "not labelled"
            elif row.visibility == 0:
                text = f"absent [{row.status}]"
            else:
                occluded = " occluded" if row.visibility == 1 else ""
                text = f"{row.x:g},{row.y:g}{occluded} [{row.status}]"
            print(f"  {shown(name)}: {text}")
    return 0
