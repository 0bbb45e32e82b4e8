"""``labeler import PROJECT --coco FILE.json | --yolo DIR_OR_DATA_YAML | --dlc CollectedData.csv``."""

from __future__ import annotations

import argparse

from labeler.cli.common import add_user_option


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "import",
        help="merge a COCO keypoint file, a YOLO pose dataset or DeepLabCut labelled data into the project",
        description="Merge a COCO keypoint file (--coco), an Ultralytics YOLO pose dataset (--yolo: its folder or "
        "data.yaml) or DeepLabCut labelled data (--dlc: CollectedData_<scorer>.csv or .h5, or the folder "
        "holding labeled-data/). COCO file_name is matched to images by their path relative to "
        "the images root; images not yet in the project are registered when the file exists. The "
        "keypoint names must match the project's (a project without keypoints takes the file's). "
        "A point marked 0,0,0 means 'not labelled' unless the file's keypoint_status says otherwise. "
        "Nothing is written if anything in the file is wrong. Exit status 1: images the file names "
        "were not found (listed); everything else was imported.",
    )
    p.add_argument("project", metavar="PROJECT")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--coco", metavar="FILE.json")
    source.add_argument("--yolo", metavar="DIR_OR_DATA_YAML")
    source.add_argument("--dlc", metavar="CSV_OR_H5")
    source.add_argument("--sleap", metavar="FILE.slp")
    p.add_argument("--category", metavar="NAME", help="COCO: the category, YOLO: the class to read when there are several")
    add_user_option(p)
    p.add_argument(
        "--on-conflict",
        choices=("error", "keep", "replace"),
        default="error",
        help="when a point is confirmed in both the project and the file with different values: "
        "stop and import nothing (default), keep the project's, or replace it with the file's",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from labeler.cli.common import count, eprint
    from labeler.display import MAX_LISTED, MAX_SHOWN, listing, shown
    from labeler.errors import UserInputError
    from labeler.formats.coco import import_coco
    from labeler.store import MergeConflict, Project

    given = [v for v in (args.coco, args.yolo, args.dlc, args.sleap) if v is not None]
    if not all(v.strip() for v in given):  # an empty value chose no branch below (and read as None)
        raise UserInputError("the file to import is an empty name; give its path")
    with Project.open(args.project, user=args.user) as project:
        try:
            if args.coco:
                report = import_coco(project, args.coco, category=args.category, on_conflict=args.on_conflict)
            elif args.yolo:
                from labeler.formats.yolo import import_yolo

                report = import_yolo(project, args.yolo, category=args.category, on_conflict=args.on_conflict)
            elif args.sleap:
                from labeler.formats.sleap import import_sleap

                report = import_sleap(project, args.sleap, on_conflict=args.on_conflict)
            else:
                from labeler.formats.dlc import import_dlc

                report = import_dlc(project, args.dlc, on_conflict=args.on_conflict)
        except MergeConflict as exc:
            raise UserInputError(f"{exc}\nuse --on-conflict keep or --on-conflict replace to choose") from None
    m = report.merge
    print(f"imported {args.coco or args.yolo or args.dlc or args.sleap}: {count(report.matched, 'image')} matched, {len(report.registered)} newly registered")
    print(
        f"  points: {m.written} confirmed written, {m.predictions_written} predictions written, "
        f"{m.unchanged} unchanged"
    )
    if m.schema_created:
        print("  the project's keypoint schema was taken from the file")
    if m.flags_set:
        print(f"  {m.flags_set} image flag{'' if m.flags_set == 1 else 's'} (no object, later) taken from the file")
    if m.kept_confirmed:
        print(f"  {m.kept_confirmed} predictions in the file were not written over confirmed points")
    if m.conflicts:
        verb = "replaced" if args.on_conflict == "replace" else "kept"
        print(f"  {len(m.conflicts)} confirmed points differed; the project's were {verb}")
    for note in report.notes[:MAX_LISTED]:
        print(f"  note: {shown(note, 2 * MAX_SHOWN)}")
    if len(report.notes) > MAX_LISTED:
        print(f"  ... and {len(report.notes) - MAX_LISTED} more note(s)")
    lost = [item for item in report.not_imported if item[2] > 0]
    empty = len(report.not_imported) - len(lost)
    if empty:
        print(f"  note: {empty} image(s) named by the file without annotations are not here (nothing lost)")
    if lost:
        eprint(f"warning: {count(report.points_not_imported, 'point')} of {count(len(lost), 'image')} NOT imported:")
        eprint(listing([f"{shown(file_name)}: {why} ({count(n, 'point')})" for file_name, why, n in lost]))
        return 1  # done, but some images failed (listed): a script must notice lost points
    return 0
