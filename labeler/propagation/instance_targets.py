"""A run's target tasks, one per object: each boxed instance of a target image is predicted in
its own crop (:mod:`.boxes`) and its prediction is written to that instance; an image with no
boxed instance is predicted whole into its first instance, as before instances existed.

Instances a person has finished (review status "reviewed") are not predicted again; an image's
boxes changing clears its prediction signature in the store, so it is never "up to date" with
the boxes it had.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from labeler.propagation.boxes import crop_around
from labeler.propagation.images import ImageTask
from labeler.store import REVIEWED, ImageRecord, InstanceRecord


def target_tasks(
    records: Sequence[ImageRecord], instances: Sequence[InstanceRecord], file_of: Callable[[ImageRecord], Path]
) -> list[ImageTask]:
    by_image: dict[int, list[InstanceRecord]] = {}
    for inst in instances:
        by_image.setdefault(inst.image_id, []).append(inst)
    tasks: list[ImageTask] = []
    for r in records:
        boxed = [i for i in by_image.get(r.id, ()) if i.box is not None]
        if not boxed:
            tasks.append(ImageTask(r.id, r.path, file_of(r), r.width, r.height))
            continue
        for inst in boxed:
            if inst.review_status == REVIEWED:
                continue
            assert inst.box is not None
            crop = crop_around(inst.box, r.width, r.height)
            tasks.append(ImageTask(r.id, r.path, file_of(r), r.width, r.height, crop=crop, instance_id=inst.id))
    return tasks
