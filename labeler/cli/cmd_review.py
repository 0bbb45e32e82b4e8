"""``labeler review PROJECT``: list the least confident predictions, and decide about them.

Listing (the default) shows what to check first. ``--accept-above T`` / ``--reject-below T``
decide in bulk by confidence; ``--accept`` / ``--reject`` with ``--image`` (and ``--keypoint``)
decide per image and per point. Every decision follows the store's one rule (the app's too):
flagged images are out of review and confirmed points are never touched.
"""

from __future__ import annotations

import argparse
import textwrap

_EPILOG = """\
examples:
  labeler review birds.labeler                          # the 20 least confident predictions
  labeler review birds.labeler --accept-above 0.8       # accept every prediction >= 0.8
  labeler review birds.labeler --accept --image nest/001.jpg
  labeler review birds.labeler --accept --image nest/001.jpg --keypoint beak
  labeler review birds.labeler --reject --image nest/001.jpg --keypoint tail --absent
  labeler review birds.labeler --reject-below 0.2       # back to unlabelled

Images flagged skip, no object or later are out of review: never accepted or rejected, not
listed (clear a flag with `labeler flag PROJECT IMAGE --clear`). Confirmed points are never
changed. Predictions of a test model (random weights) are marked [TEST MODEL]; bulk accept
leaves them alone unless --include-test-models.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "review",
        help="list the least confident predictions; accept or reject predictions",
        description=textwrap.fill(width=90, text="List predictions awaiting review, least confident first (predictions "
        "without a confidence come first), or accept/reject them: in bulk by confidence, per image "
        "or per point. Confidence is the engine's own measure in [0, 1] of how distinct its best "
        "match is; see `labeler propagate --help`."),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--limit", type=int, default=20, metavar="N", help="how many to list (default: 20; 0 = all)")
    p.add_argument("--by-image", action="store_true", help="list images (by their least confident point) instead of points")
    decide = p.add_argument_group("deciding (one of)")
    what = decide.add_mutually_exclusive_group()
    what.add_argument("--accept-above", type=float, metavar="T",
                      help="accept every prediction with confidence >= T (unknown confidence never qualifies)")
    what.add_argument("--reject-below", type=float, metavar="T",
                      help="reject every prediction with confidence < T (unknown confidence counts as below)")
    what.add_argument("--accept", action="store_true", help="accept the predictions of --image (and --keypoint)")
    what.add_argument("--reject", action="store_true", help="reject the predictions of --image (and --keypoint)")
    decide.add_argument("--image", action="append", metavar="IMAGE",
                        help="only this image (a path relative to the images root; repeat for more)")
    decide.add_argument("--keypoint", action="append", metavar="NAME", help="only this keypoint (repeat for more)")
    decide.add_argument("--absent", action="store_true",
                        help="reject as absent (the keypoint is not in the image) instead of back to unlabelled")
    decide.add_argument("--include-test-models", action="store_true",
                        help="bulk accept takes test-model (random-weight) predictions too")
    decide.add_argument("--user", metavar="NAME",
                        help="record the decisions as NAME's (default: $LABELER_USER, else your login name)")
    p.set_defaults(run=run)


def _conf(value: float | None) -> str:
    return "     -" if value is None else f"{value:6.3f}"


def _threshold(value: float, option: str) -> float:
    import math

    from labeler.errors import UserInputError

    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise UserInputError(f"{option} takes a confidence between 0 and 1, got {value}")
    return value + 0.0  # -0 is 0: said as "confidence >= 0"


def run(args: argparse.Namespace) -> int:
    from labeler.errors import UserInputError

    deciding = args.accept_above is not None or args.reject_below is not None or args.accept or args.reject
    if not deciding:
        for option, given in (("--image", args.image), ("--keypoint", args.keypoint), ("--absent", args.absent),
                              ("--include-test-models", args.include_test_models), ("--user", args.user)):
            if given:
                raise UserInputError(f"{option} goes with --accept, --reject, --accept-above or --reject-below")
        return _list(args)
    if (args.accept or args.reject) and not args.image:
        option = "--accept" if args.accept else "--reject"
        raise UserInputError(f"{option} needs --image IMAGE (for every image by confidence: --accept-above T / --reject-below T)")
    if args.absent and not (args.reject or args.reject_below is not None):
        raise UserInputError("--absent goes with --reject or --reject-below")
    if args.include_test_models and not (args.accept or args.accept_above is not None):
        raise UserInputError("--include-test-models goes with --accept or --accept-above")
    return _decide(args)


def _decide(args: argparse.Namespace) -> int:
    from labeler.cli.common import eprint
    from labeler.propagation.review import TEST_MODEL_NOTE, test_model_predictions
    from labeler.store import Project

    with Project.open(args.project, user=args.user) as project:
        image_ids = None
        if args.image:
            image_ids = sorted({project.image_by_path(text).id for text in args.image})
            project.check_reviewable(image_ids)  # a named flagged image: say why, decide nothing
        names = args.keypoint
        where = "" if image_ids is None else f" on {len(image_ids)} image{'' if len(image_ids) == 1 else 's'}"
        if args.accept or args.accept_above is not None:
            threshold = None if args.accept else _threshold(args.accept_above, "--accept-above")
            tests = test_model_predictions(project)
            # an image or point someone named is their decision; bulk passes over test models
            excluded = () if (args.include_test_models or args.accept) else tuple(tests)
            n = project.accept_predictions(image_ids, names=names, min_confidence=threshold, exclude_models=excluded)
            above = "" if threshold is None else f" with confidence >= {threshold:g}"
            print(f"accepted {n} prediction{'' if n == 1 else 's'}{above}{where}")
            if excluded:
                eprint(f"warning: predictions of {', '.join(excluded)} ({TEST_MODEL_NOTE}) were left to review; "
                       "--include-test-models accepts them too")
            elif tests and n:
                eprint(f"warning: some accepted predictions may come from {', '.join(tests)} ({TEST_MODEL_NOTE})")
        else:
            below = None if args.reject else _threshold(args.reject_below, "--reject-below")
            n = project.reject_predictions(image_ids, names=names, below=below, absent=args.absent)
            under = "" if below is None else f" with confidence < {below:g}"
            to = "absent" if args.absent else "unlabelled"
            print(f"rejected {n} prediction{'' if n == 1 else 's'}{under}{where} (now {to})")
        left = sum(project.prediction_models().values())
        print(f"{left} prediction{'' if left == 1 else 's'} left to review")
    return 0


def _list(args: argparse.Namespace) -> int:
    from labeler.cli.common import eprint
    from labeler.display import shown
    from labeler.errors import UserInputError
    from labeler.propagation import least_confident_images, least_confident_points
    from labeler.propagation.review import TEST_MODEL_NOTE, test_model_predictions
    from labeler.store import Project

    if args.limit < 0:
        raise UserInputError(f"--limit must be 0 (all) or more, got {args.limit}")
    limit = args.limit or None
    with Project.open(args.project) as project:
        tests = test_model_predictions(project)
        if tests:
            eprint(f"warning: {sum(tests.values())} prediction(s) come from {', '.join(tests)} ({TEST_MODEL_NOTE}); "
                   "marked [TEST MODEL]")
        if args.by_image:
            queue = least_confident_images(project, limit)
            if not queue:
                print("no predictions await review")
                return 0
            print("confidence  predicted  image")
            for q in queue:
                print(f"    {_conf(q.min_confidence)}  {q.n_predicted:9d}  {shown(q.path)}")
            return 0
        items = least_confident_points(project, limit)
        if not items:
            print("no predictions await review")
            return 0
        print("confidence  keypoint  x,y  image")
        for it in items:
            mark = "  [TEST MODEL]" if it.model in tests else ""
            print(f"    {_conf(it.confidence)}  {shown(it.keypoint)}  {it.x:.1f},{it.y:.1f}  {shown(it.path)}{mark}")
    return 0
