"""``labeler schema PROJECT [...]``: show or edit the keypoint schema after ``init``.

Every option changes the schema as the app's Edit > Edit keypoints does, with the same checks
(the store's :func:`~labeler.store.validate_schema` and :func:`~labeler.store.schema_ops.pair_problem`)
and in one transaction (:meth:`~labeler.store.Project.edit_schema`): all of it, or nothing.
"""

from __future__ import annotations

import argparse
import textwrap

_EPILOG = """\
examples:
  labeler schema birds.labeler                                   # show it
  labeler schema birds.labeler --add beak,tail --edge beak-tail --flip left_eye:right_eye
  labeler schema birds.labeler --rename tail=tail_base
  labeler schema birds.labeler --remove crest --delete-points   # its points go with it
  labeler schema birds.labeler --order beak,left_eye,right_eye,tail_base
  labeler schema birds.labeler --remove-edge beak-tail --remove-flip left_eye:right_eye

Removing a keypoint removes its edges and flip pair; a keypoint with points is removed only
with --delete-points. Renaming keeps every point. Options apply in this order: remove, rename,
add, order, then edges and flip pairs.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "schema",
        help="show or edit the keypoints, skeleton edges and flip pairs",
        description=textwrap.fill(width=90, text="Show the keypoint schema, or edit it: add, rename, remove and reorder keypoints, "
        "add or remove skeleton edges and left/right flip pairs. The same checks as the app's "
        "Edit keypoints dialog; all changes are saved together, or none."),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--add", action="append", metavar="NAME[,NAME]", help="add keypoints at the end")
    p.add_argument("--rename", action="append", metavar="OLD=NEW", help="rename a keypoint (its points stay)")
    p.add_argument("--remove", action="append", metavar="NAME[,NAME]", help="remove keypoints (with their edges and flip pairs)")
    p.add_argument("--delete-points", action="store_true", help="--remove may delete the points of the keypoints removed")
    p.add_argument("--order", metavar="NAME,NAME,...", help="the keypoints in a new order (every one, once)")
    p.add_argument("--edge", action="append", metavar="A-B[,A-B]", help="add skeleton edges")
    p.add_argument("--remove-edge", action="append", metavar="A-B[,A-B]", help="remove skeleton edges")
    p.add_argument("--flip", action="append", metavar="LEFT:RIGHT[,LEFT:RIGHT]", help="add left/right flip pairs")
    p.add_argument("--remove-flip", action="append", metavar="LEFT:RIGHT[,...]", help="remove flip pairs")
    p.set_defaults(run=run)


def _names(values: list[str] | None, option: str) -> list[str]:
    from labeler.cli.common import split_list

    return [n for v in values or [] for n in split_list(v, option)]


def _without(pairs: list[tuple[str, str]], gone: list[tuple[str, str]], what: str) -> list[tuple[str, str]]:
    from labeler.errors import UserInputError

    for a, b in gone:
        if (a, b) not in pairs and (b, a) not in pairs:
            listed = ", ".join(f"{x}{what}{y}" for x, y in pairs) or "none"
            raise UserInputError(f"there is no {'edge' if what == '-' else 'flip pair'} {a}{what}{b} (the schema has: {listed})")
    return [p for p in pairs if p not in gone and p[::-1] not in gone]


def run(args: argparse.Namespace) -> int:
    from labeler.cli.common import parse_edge, parse_flips, split_list
    from labeler.display import shown
    from labeler.errors import UserInputError
    from labeler.store import Project
    from labeler.store.core import unknown_keypoint
    from labeler.store.schema_ops import check_keypoint_name, pair_problem

    editing = any((args.add, args.rename, args.remove, args.order, args.edge, args.remove_edge, args.flip, args.remove_flip))
    if args.delete_points and not args.remove:
        raise UserInputError("--delete-points goes with --remove")
    with Project.open(args.project) as project:
        old = project.schema()
        if editing:
            names = list(old.keypoints)
            edges = list(old.skeleton)
            flips = list(old.flip_pairs)
            for name in _names(args.remove, "--remove"):
                if name not in names:
                    raise unknown_keypoint(name, names)
                names.remove(name)
                edges = [e for e in edges if name not in e]
                flips = [f for f in flips if name not in f]
            counts = project.point_counts() if args.remove and not args.delete_points else {}
            labelled = [f"{n} ({counts[n]} points)" for n in _names(args.remove, "--remove") if counts.get(n)]
            if labelled:  # the store refuses too, in the app's words; here, the option that confirms
                raise UserInputError(f"removing {', '.join(labelled)} deletes their points; "
                                     "add --delete-points to confirm")
            renames: dict[str, str] = {}
            for text in args.rename or []:
                a, sep, b = text.partition("=")
                a, b = a.strip(), b.strip()
                if not sep or not a or not b:
                    raise UserInputError(f"--rename {text!r}: expected OLD=NEW")
                if a not in names:
                    raise unknown_keypoint(a, names)
                check_keypoint_name(b)
                if a in renames:
                    raise UserInputError(f"--rename: {a!r} is renamed twice")
                renames[a] = b
            for a, b in renames.items():
                if b != a and ((b in names and b not in renames) or list(renames.values()).count(b) > 1):
                    raise UserInputError(f"--rename {a}={b}: keypoint {b!r} already exists (remove it first, or rename it too)")
            names = [renames.get(n, n) for n in names]
            edges = [(renames.get(a, a), renames.get(b, b)) for a, b in edges]
            flips = [(renames.get(a, a), renames.get(b, b)) for a, b in flips]
            for name in _names(args.add, "--add"):
                check_keypoint_name(name)
                if name in names:
                    raise UserInputError(f"keypoint {name!r} already exists")
                names.append(name)
            if args.order:
                wanted = split_list(args.order, "--order")
                if sorted(wanted) != sorted(names):
                    raise UserInputError(f"--order must list every keypoint exactly once: {', '.join(names)}")
                names = wanted
            edges = _without(edges, [parse_edge(e, names) for v in args.remove_edge or [] for e in split_list(v, "--remove-edge")], "-")
            for a, b in [parse_edge(e, names) for v in args.edge or [] for e in split_list(v, "--edge")]:
                why = pair_problem("edge", edges, a, b)
                if why:
                    raise UserInputError(f"--edge {a}-{b}: {why}")
                edges.append((a, b))
            flips = _without(flips, parse_flips(args.remove_flip), ":")
            for a, b in parse_flips(args.flip):
                for n in (a, b):
                    if n not in names:
                        raise unknown_keypoint(n, names)
                why = pair_problem("flip", flips, a, b)
                if why:
                    raise UserInputError(f"--flip {a}:{b}: {why}")
                flips.append((a, b))
            project.edit_schema(names, edges, flips, renames={a: b for a, b in renames.items() if a != b},
                                delete_points=args.delete_points)
        schema = project.schema()
        counts = project.point_counts()
        print(f"keypoints ({len(schema.keypoints)}):" + ("" if schema.keypoints else " (none yet: labeler schema PROJECT --add NAME,NAME)"))
        for name in schema.keypoints:
            flip = schema.flip_of(name)
            print(f"  {shown(name)}  ({counts.get(name, 0)} points{'; flips with ' + shown(flip) if flip else ''})")
        print(f"skeleton: {', '.join(f'{shown(a)}-{shown(b)}' for a, b in schema.skeleton) or '(none)'}")
        print(f"flip pairs: {', '.join(f'{shown(a)}:{shown(b)}' for a, b in schema.flip_pairs) or '(none)'}")
    return 0
