"""A project's confirmed labels as an SPair-71k-style training set (the store side of the writer).

Only confirmed points (manual, accepted, corrected) are exported; predictions awaiting review
become training data only when asked for (``include_predictions``, off by default: for
experiments, e.g. training on a model's own predictions).
"""

from __future__ import annotations

from pathlib import Path

from labeler.display import listing
from labeler.formats.spair import LabelledImage, SPairExportConfig, SPairExportSummary, write_spair
from labeler.store import ABSENT, CONFIRMED_STATUSES, FLAG_NO_OBJECT, FLAG_SKIP, PREDICTED, Project, ReferenceImage


def export_pairs(
    project: Project,
    out_dir: str | Path,
    config: SPairExportConfig = SPairExportConfig(),
    *,
    category: str | None = None,
    include_predictions: bool = False,
) -> SPairExportSummary:
    category = category or project.category()
    project.check_positions(statuses=CONFIRMED_STATUSES)
    found = project.check_files()  # the one check: files gone (or leading outside) or replaced are left out
    replaced = {r.id: r.path for r in found.changed}  # labels on another picture
    gone = {r.id: r.path for r in found.missing}
    # images the annotator skipped or said hold no object take no part in pairs
    excluded = {i for i, f in project.image_flags().items() if f in (FLAG_SKIP, FLAG_NO_OBJECT)}
    refs = [r for r in (_with_predictions(project) if include_predictions else project.references()) if r.image_id not in excluded]
    images = [
        LabelledImage(
            relative_path=ref.path,
            source_path=project.image_path(ref.image_id),
            width=ref.width,
            height=ref.height,
            category=category,
            keypoints=ref.points,
        )
        for ref in refs
        if ref.image_id not in replaced and ref.image_id not in gone
    ]
    schema = project.schema()
    summary = write_spair(images, schema.keypoints, Path(out_dir), config, flip_pairs=schema.flip_pairs)
    left_gone = sorted(r.path for r in refs if r.image_id in gone)
    if left_gone:
        summary.warnings.append(
            f"{len(left_gone)} image(s) left out: the file is gone (moved, deleted, or a link leading outside "
            "the images folder):\n" + listing(left_gone, indent="    ")
        )
    left_replaced = sorted(r.path for r in refs if r.image_id in replaced and r.image_id not in gone)
    if left_replaced:
        summary.warnings.append(
            f"{len(left_replaced)} image(s) left out: the file now holds another picture than the one labelled:\n"
            + listing(left_replaced, indent="    ")
        )
    return summary


def _with_predictions(project: Project) -> list[ReferenceImage]:
    """Like ``project.references()``, with the predictions awaiting review as points too."""
    images = {i.id: i for i in project.list_images()}
    grouped: dict[int, dict[str, tuple[float, float, int]]] = {}
    for row in project.all_points(statuses=[*CONFIRMED_STATUSES, PREDICTED]):
        if row.visibility != ABSENT and row.x is not None and row.y is not None:
            grouped.setdefault(row.image_id, {})[row.name] = (row.x, row.y, row.visibility)
    return [
        ReferenceImage(i, images[i].path, images[i].width, images[i].height, pts)
        for i, pts in sorted(grouped.items(), key=lambda kv: images[kv[0]].path)
    ]
