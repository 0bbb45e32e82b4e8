"""``labeler status PROJECT``: counts of images and points by status (flagged images by flag:
they are out of review, so "predicted" counts only unflagged images)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("status", help="print counts of images and points by status")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--by-user", action="store_true", help="also count points per annotator and status")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from labeler.cli.common import print_paths
    from labeler.propagation.review import TEST_MODEL_NOTE, test_model_predictions
    from labeler.store import Project
    from labeler.store.review_ops import FLAG_WORDS

    with Project.open(args.project) as project:
        # the store's one file check, read-only (status must work on a project it may not write
        # to): files gone (or now a link leading outside the images folder) and files replaced
        found = project.check_files(record=False) if project.images_root_found else None
        missing = [r.path for r in found.missing] if found else []
        schema = project.schema()
        counts = project.counts()
        root_note = "" if project.images_root_found else "  (NOT FOUND: if it moved, `labeler add-images PROJECT --images-root NEW_FOLDER`)"
        print(f"project: {project.display} (schema version {project.schema_version})")
        print(f"images root: {project.images_root}{root_note}")
        print(f"keypoints ({len(schema.keypoints)}): {', '.join(schema.keypoints) or '(none yet)'}")
        if schema.skeleton:
            print(f"skeleton: {', '.join(f'{a}-{b}' for a, b in schema.skeleton)}")
        if schema.flip_pairs:
            print(f"flip pairs: {', '.join(f'{a}:{b}' for a, b in schema.flip_pairs)}")
        by_image = ", ".join(f"{k} {v}" for k, v in counts.images_by_status.items())
        n_missing = len(missing) if project.images_root_found else counts.missing_images
        flagged = ", ".join(f"{FLAG_WORDS[k]} {v}" for k, v in counts.images_by_flag.items())
        print(f"images: {counts.images} ({by_image}; flagged: {flagged}; missing files {n_missing})")
        by_point = ", ".join(f"{k} {v}" for k, v in counts.points_by_status.items())
        vis = counts.points_by_visibility
        print(f"points: {counts.points} ({by_point}; visible {vis[2]}, occluded {vis[1]}, absent {vis[0]})")
        instances = project.all_instances()
        if any(i.box is not None or i.name for i in instances) or len(instances) > len({i.image_id for i in instances}):
            detected = sum(1 for i in instances if i.box_source == "detected")
            print(f"instances: {len(instances)} on {len({i.image_id for i in instances})} image(s) "
                  f"({sum(1 for i in instances if i.box is not None)} with a box, {detected} detected boxes awaiting "
                  "a person: `labeler instances PROJECT`)")
        out_of_review = counts.points_by_status["predicted"] - sum(project.prediction_models().values())
        if out_of_review:
            print(f"  {out_of_review} of the predictions are on flagged images (out of review until the flag is cleared)")
        for model, n in test_model_predictions(project, reviewable=False).items():
            print(f"  {n} of the predictions come from {model}, {TEST_MODEL_NOTE} [TEST MODEL]")
        replaced = [r.path for r in (found.changed if found else project.list_images(changed=True))]
        if replaced:
            print(f"replaced by another picture ({len(replaced)}; their labels may not fit; "
                  "put the originals back, or remove and add them again):")
            print_paths(replaced)
        if args.by_user:
            print("points by annotator:")
            for who, by_status in project.counts_by_user().items():
                parts = ", ".join(f"{k} {v}" for k, v in by_status.items() if v)
                from labeler.display import shown  # a name stored by an older labeler may hold escapes

                print(f"  {shown(who) if who else '(nobody: predictions, or confirmed before annotators were recorded)'}: "
                      f"{sum(by_status.values())} ({parts})")
        if missing:
            print(f"missing on disk ({len(missing)}; renamed files are found again by `labeler add-images`, "
                  "`labeler remove-images PROJECT --missing` forgets deleted ones):")
            print_paths(missing)
    return 0
