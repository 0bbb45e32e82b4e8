"""A project's confirmed labels as an SPair-71k-style training set (the store side of the writer).

Only confirmed points (manual, accepted, corrected) are exported; predictions awaiting review
never become training data.
"""

from __future__ import annotations

from pathlib import Path

from labeler.formats.spair import LabelledImage, SPairExportConfig, SPairExportSummary, write_spair
from labeler.store import FLAG_NO_OBJECT, FLAG_SKIP, Project


def export_pairs(
    project: Project,
    out_dir: str | Path,
    config: SPairExportConfig = SPairExportConfig(),
    *,
    category: str | None = None,
) -> SPairExportSummary:
    category = category or project.name
    # images the annotator skipped or said hold no object take no part in pairs
    excluded = {i for i, f in project.image_flags().items() if f in (FLAG_SKIP, FLAG_NO_OBJECT)}
    images = [
        LabelledImage(
            relative_path=ref.path,
            source_path=project.image_path(ref.image_id),
            width=ref.width,
            height=ref.height,
            category=category,
            keypoints=ref.points,
        )
        for ref in project.references()
        if ref.image_id not in excluded
    ]
    return write_spair(images, project.schema().keypoints, Path(out_dir), config)
