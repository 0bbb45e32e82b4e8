"""``labeler status PROJECT``: counts of images and points by status."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("status", help="print counts of images and points by status")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--by-user", action="store_true", help="also count points per annotator and status")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from labeler.cli.common import print_paths
    from labeler.store import Project

    with Project.open(args.project) as project:
        # looked up here, read-only: status must work on a project it may not write to
        missing = [
            path for _, path, _ in project.image_index() if not project.image_file(path).is_file()
        ] if project.images_root_found else []
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
        print(f"images: {counts.images} ({by_image}; missing files {n_missing})")
        by_point = ", ".join(f"{k} {v}" for k, v in counts.points_by_status.items())
        vis = counts.points_by_visibility
        print(f"points: {counts.points} ({by_point}; visible {vis[2]}, occluded {vis[1]}, absent {vis[0]})")
        replaced = [r.path for r in project.list_images(changed=True)]
        if replaced:
            print(f"replaced by another picture at the last check ({len(replaced)}; their labels may not fit; "
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
