"""``labeler instances PROJECT``: the objects of each image, their boxes and names.

Lists instances (all, or of the images named), adds one with a box, sets or removes a box,
renames, deletes, and accepts detector proposals (a detected box a person keeps becomes drawn).
"""

from __future__ import annotations

import argparse

from labeler.errors import UserInputError


def _box(text: str) -> tuple[float, float, float, float]:
    parts = text.replace(" ", "").split(",")
    if len(parts) != 4:
        raise UserInputError(f"a box is x,y,w,h (four numbers), not {text!r}")
    try:
        return tuple(float(p) for p in parts)  # type: ignore[return-value]
    except ValueError:
        raise UserInputError(f"a box is x,y,w,h (four numbers), not {text!r}") from None


def _box_arg(text: str) -> tuple[float, float, float, float]:
    try:
        return _box(text)
    except UserInputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "instances",
        help="list, add, box, rename or delete the objects of each image",
        description="Several objects per image: each instance has its own points, an optional box "
        "(x,y,w,h in image pixels; drawn, imported, detected or derived) and name. Without options, "
        "lists the instances of the images named (all images when none).",
    )
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("images", nargs="*", metavar="IMAGE", help="image paths relative to the images root")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--add", metavar="X,Y,W,H", type=_box_arg, help="a new instance with this box on the one IMAGE named")
    what.add_argument("--set-box", nargs=2, metavar=("ID", "X,Y,W,H"), help="draw or adjust instance ID's box")
    what.add_argument("--no-box", metavar="ID", type=int, help="remove instance ID's box")
    what.add_argument("--rename", nargs=2, metavar=("ID", "NAME"), help="name instance ID (e.g. 'mouse 2')")
    what.add_argument("--delete", nargs="+", metavar="ID", type=int, help="delete instances and their points")
    what.add_argument("--accept", nargs="+", metavar="ID", type=int, help="keep these detected boxes as they are")
    what.add_argument("--delete-detected", action="store_true",
                      help="delete every detected box no one accepted (with the predictions made in it)")
    p.add_argument("--name", help="with --add: the new instance's name")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from labeler.display import listing, shown
    from labeler.store import Project

    with Project.open(args.project) as project:
        records = [project.image_by_path(t) for t in args.images]
        if args.add is not None:
            if len(records) != 1:
                raise UserInputError("--add puts one instance on one image: name exactly one IMAGE")
            made = project.add_instance(records[0].id, box=args.add, name=args.name)
            assert made.box is not None
            clipped = " (clipped to the image)" if tuple(made.box) != tuple(args.add) else ""
            print(f"added instance {made.id} on {shown(records[0].path)}: box "
                  f"{made.box[0]:g},{made.box[1]:g},{made.box[2]:g},{made.box[3]:g}{clipped}")
            return 0
        if args.set_box:
            try:
                ident = int(args.set_box[0])
            except ValueError:
                raise UserInputError(f"an instance id is a whole number, not {args.set_box[0]!r}") from None
            made = project.set_box(ident, _box(args.set_box[1]))
            assert made.box is not None
            print(f"instance {made.id}: box {made.box[0]:g},{made.box[1]:g},{made.box[2]:g},{made.box[3]:g} (drawn)")
            return 0
        if args.no_box is not None:
            project.set_box(args.no_box, None)
            print(f"instance {args.no_box}: no box")
            return 0
        if args.rename:
            try:
                ident = int(args.rename[0])
            except ValueError:
                raise UserInputError(f"an instance id is a whole number, not {args.rename[0]!r}") from None
            project.rename_instance(ident, args.rename[1])
            print(f"instance {ident}: named {shown(args.rename[1])}")
            return 0
        if args.delete:
            args.delete = list(dict.fromkeys(args.delete))  # an id given twice is deleted once
            for ident in args.delete:  # every id is checked before anything is deleted
                project.instance(ident)
            gone = sum(project.delete_instance(i) for i in args.delete)
            print(f"deleted {len(args.delete)} instance(s) and their {gone} point(s)")
            return 0
        if args.accept:
            for ident in args.accept:
                inst = project.instance(ident)
                if inst.box_source != "detected" or inst.box is None:
                    raise UserInputError(f"instance {ident} has no detected box to accept")
            for ident in args.accept:
                project.set_box(ident, project.instance(ident).box)
            print(f"accepted {len(args.accept)} detected box(es)")
            return 0
        if args.delete_detected:
            n = project.delete_detected_boxes([r.id for r in records] if records else None)
            print(f"deleted {n} detected box(es) no one accepted")
            return 0
        instances = project.all_instances(image_ids=[r.id for r in records] if records else None)
        paths = {r.id: r.path for r in (records or project.list_images())}
        lines = []
        for inst in instances:
            box = "no box" if inst.box is None else (
                f"box {inst.box[0]:.0f},{inst.box[1]:.0f} {inst.box[2]:.0f}x{inst.box[3]:.0f} ({inst.box_source})")
            name = f" {inst.name!r}" if inst.name else ""
            lines.append(f"{paths.get(inst.image_id, inst.image_id)}: instance {inst.id}{name}, {box}, {inst.review_status}")
        detected = sum(1 for i in instances if i.box_source == "detected")
        print(f"{len(instances)} instance(s), {sum(1 for i in instances if i.box)} with a box, {detected} detected awaiting a person")
        if lines:
            print(listing(lines, 10_000))
    return 0
