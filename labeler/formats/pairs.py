"""A project's confirmed labels as an SPair-71k-style training set (the store side of the writer).

Only confirmed points (manual, accepted, corrected) are exported; predictions awaiting review
never become training data.
"""

from __future__ import annotations

from pathlib import Path

from labeler.display import listing
from labeler.formats.spair import LabelledImage, SPairExportConfig, SPairExportSummary, write_spair
from labeler.store import CONFIRMED_STATUSES, Project


def export_pairs(
    project: Project,
    out_dir: str | Path,
    config: SPairExportConfig = SPairExportConfig(),
    *,
    category: str | None = None,
) -> SPairExportSummary:
    category = category or project.name
    project.check_positions(statuses=CONFIRMED_STATUSES)
    replaced = {r.id: r.path for r in project.check_files().changed}  # labels on another picture: left out
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
        if ref.image_id not in replaced
    ]
    summary = write_spair(images, project.schema().keypoints, Path(out_dir), config)
    if replaced:
        summary.warnings.append(
            f"{len(replaced)} image(s) left out: the file now holds another picture than the one labelled:\n"
            + listing(sorted(replaced.values()), indent="    ")
        )
    return summary
