"""``labeler export PROJECT --coco OUT.json [--predicted]``, ``--pairs OUTDIR``, ``--yolo OUTDIR``, ``--dlc OUTDIR``."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="write the labels as COCO keypoint JSON, SPair-71k-style pairs, a YOLO pose dataset or DeepLabCut labelled data",
        description="Export confirmed points (manual, accepted, corrected; absent ones as 0,0,0) as COCO "
        "keypoint JSON. With --predicted, predictions awaiting review are included too and every "
        "annotation carries keypoint_status and keypoint_scores. --pairs writes the confirmed labels "
        "as an SPair-71k-style dataset (JPEGImages, ImageAnnotation, PairAnnotation with co-visible "
        "keypoints, Layout split lists) for training or evaluating correspondence networks. --yolo writes an "
        "Ultralytics YOLO pose dataset (images/, labels/, data.yaml: train with `yolo pose train "
        "data=OUTDIR/data.yaml model=yolo11n-pose.pt`); --dlc writes DeepLabCut labelled data "
        "(labeled-data/<folder>/CollectedData_<scorer>.csv and .h5, a config.yaml fragment).",
    )
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--coco", metavar="OUT.json", help="COCO file to write (an existing JSON file is replaced; any other file is refused)")
    p.add_argument("--predicted", action="store_true", help="COCO, yolo, dlc: include predictions awaiting review")
    p.add_argument("--category", metavar="NAME", help="category name (default: the project name)")
    p.add_argument(
        "--annotators", action="store_true",
        help="COCO: every annotation lists who confirmed each point (keypoint_annotators; null where nobody)",
    )
    p.add_argument("--pairs", metavar="OUTDIR", help="write an SPair-71k-style dataset into this new folder")
    p.add_argument("--yolo", metavar="OUTDIR", help="write an Ultralytics YOLO pose dataset into this new folder")
    p.add_argument("--dlc", metavar="OUTDIR", help="write DeepLabCut labelled data into this new folder")
    p.add_argument("--sleap", metavar="OUT.slp", help="write a SLEAP .slp file (user instances; predicted ones with --predicted)")
    p.add_argument("--max-pairs", type=int, metavar="N", help="pairs: at most N pairs in all (seeded sample)")
    p.add_argument(
        "--split-ratio", metavar="TRN,VAL[,TEST]",
        help="shares of images per split; pairs: trn,val,test (default 0.8,0.1,0.1); yolo: train,val[,test] "
        "(default 0.8,0.2); splits never share an image",
    )
    p.add_argument("--seed", type=int, default=0, help="pairs, yolo: seed of the split (and of the pair sample)")
    p.add_argument("--images", choices=("link", "copy"), default="link",
                   help="yolo, dlc: link the images (default) or copy them; EXIF-rotated ones are always written upright")
    p.add_argument("--scorer", default="labeler", metavar="NAME", help="dlc: the scorer name (default labeler); "
                   "use the scorer of your DeepLabCut project's config.yaml")
    p.add_argument("--overwrite", action="store_true", help="pairs, yolo, dlc: replace an earlier labeler export in OUTDIR")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from labeler.errors import UserInputError
    from labeler.cli.common import count, eprint
    from labeler.display import listing
    from labeler.store import Project

    if not (args.coco or args.pairs or args.yolo or args.dlc or args.sleap):
        raise UserInputError("say what to export: --coco OUT.json, --pairs OUTDIR, --yolo OUTDIR, --dlc OUTDIR and/or --sleap OUT.slp")
    with Project.open(args.project) as project:
        if args.predicted:
            from labeler.propagation.review import TEST_MODEL_NOTE, test_model_predictions

            for model, n in test_model_predictions(project, reviewable=False).items():
                eprint(f"warning: {count(n, 'prediction')} of {model} ({TEST_MODEL_NOTE}) go out with --predicted "
                       "as predictions [TEST MODEL]")
        if args.coco:
            from labeler.formats.coco import export_coco

            report = export_coco(
                project, args.coco, predicted=args.predicted, category=args.category, annotators=args.annotators
            )
            extra = f", {report.predicted} predicted" if args.predicted else ""
            print(
                f"wrote {report.path}: {count(report.images, 'image')}, {count(report.visible_or_occluded, 'point')} with a "
                f"position, {report.absent} absent{extra}"
            )
            if report.replaced:
                eprint(f"warning: {len(report.replaced)} image(s) now hold another picture than the one labelled; "
                       f"their labels were written as they are:\n{listing(list(report.replaced))}")
        if args.pairs:
            from labeler.formats.pairs import export_pairs
            from labeler.formats.spair import SPairExportConfig, parse_split_ratio

            config = SPairExportConfig(
                split_ratio=parse_split_ratio(args.split_ratio or "0.8,0.1,0.1"),
                seed=args.seed,
                max_pairs=args.max_pairs,
                overwrite=args.overwrite,
            )
            summary = export_pairs(project, args.pairs, config, category=args.category)
            splits = ", ".join(f"{s} {count(summary.pairs.get(s, 0), 'pair')} / {count(summary.images.get(s, 0), 'image')}"
                               for s in ("trn", "val", "test"))
            print(f"wrote {summary.root}: {splits}")
            if summary.skipped_images:
                print(f"  {len(summary.skipped_images)} image(s) without a visible confirmed keypoint were left out")
            for warning in summary.warnings:
                print(f"  note: {warning}")
        if args.yolo:
            from labeler.formats.exchange import parse_ratio
            from labeler.formats.yolo import DEFAULT_SPLIT_RATIO, SPLITS, export_yolo

            ratio = parse_ratio(args.split_ratio, SPLITS) if args.split_ratio else DEFAULT_SPLIT_RATIO
            y = export_yolo(project, args.yolo, split_ratio=ratio, seed=args.seed, predicted=args.predicted,
                            images=args.images, overwrite=args.overwrite, category=args.category)
            splits = ", ".join(f"{s} {n}" for s, n in y.images.items() if n)
            print(f"wrote {y.root}: {count(sum(y.images.values()), 'image')} ({splits}), {count(y.instances, 'instance')}, "
                  f"{count(y.points, 'point')} with a position, {count(y.backgrounds, 'background image')}")
            print(f"  train: yolo pose train data={y.root / 'data.yaml'} model=yolo11n-pose.pt")
            for note in y.notes:
                print(f"  note: {note}")
        if args.dlc:
            from labeler.formats.dlc import export_dlc

            d = export_dlc(project, args.dlc, scorer=args.scorer, predicted=args.predicted, images=args.images,
                           overwrite=args.overwrite)
            print(f"wrote {d.root}: {count(sum(d.folders.values()), 'image')} in {count(len(d.folders), 'labeled-data folder')}, "
                  f"{count(d.points, 'point')} with a position ({d.occluded} occluded){', .csv and .h5' if d.h5_written else ', .csv'}")
            for note in d.notes:
                print(f"  note: {note}")
        if args.sleap:
            from labeler.formats.sleap import export_sleap

            sleap_notes: list[str] = []
            n = export_sleap(project, args.sleap, predicted=args.predicted, notes=sleap_notes)
            print(f"wrote {args.sleap}: {count(n, 'instance')}")
            for note in sleap_notes:
                print(f"  note: {note}")
    return 0
