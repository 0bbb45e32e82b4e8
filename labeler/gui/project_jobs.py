"""Project-level jobs that take long enough to run off the UI thread (with progress)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labeler.errors import UserInputError
from labeler.store import (
    Project,
    Schema,
    SkippedFile,
    find_image_files,
    no_images_message,
    probe_files,
    relative_to_root,
)

Report = Callable[[int, int, str], None]
CHUNK = 64


@dataclass(frozen=True)
class CreatedProject:
    path: Path
    images: int
    skipped: tuple[SkippedFile, ...]


def create_project(folder: Path, project_path: Path, schema: Schema, name: str | None, report: Report) -> CreatedProject:
    """Scan ``folder``, read every image (in chunks, reporting progress), create the project."""
    report(0, 0, f"looking for images in {folder}")
    links: list[SkippedFile] = []
    files = find_image_files(folder, skipped=links)
    if not files:
        raise UserInputError(no_images_message(folder))
    pairs = [(f, relative_to_root(f, folder) or f.name) for f in files]
    probed, skipped = [], list(links)
    for start in range(0, len(pairs), CHUNK):
        good, bad = probe_files(pairs[start : start + CHUNK], progress=False)
        probed += good
        skipped += bad
        report(min(start + CHUNK, len(pairs)), len(pairs), f"reading images ({len(probed)} readable)")
    if not probed:
        reasons = "\n".join(f"  {s.path}: {s.reason}" for s in skipped[:20])
        raise UserInputError(f"none of the {len(files)} image files in {folder} can be read; nothing was created:\n{reasons}")
    project = Project.create(
        project_path, folder, schema.keypoints, schema.skeleton, schema.flip_pairs, images=probed, name=name
    )
    project.close()
    return CreatedProject(Path(project_path), len(probed), tuple(skipped))
