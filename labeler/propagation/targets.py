"""Which images a run predicts.

Targets are the selected images (all, ``--images GLOB``, and/or explicit ids) whose points are
not all confirmed (review status other than "reviewed"). A target already predicted with the
run's signature is up to date and skipped unless ``force``; one predicted with another
signature (older references, other engine settings) is stale and predicted again. Images the
annotator flagged "skip" or "no object" are never targets.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

from labeler.errors import UserInputError
from labeler.propagation.types import PropagationConfig
from labeler.store import FLAG_NO_OBJECT, FLAG_SKIP, REVIEWED, ImageRecord, unicode_key


@dataclass(frozen=True)
class TargetSelection:
    candidates: tuple[ImageRecord, ...]  # selected and not reviewed, files present
    missing: tuple[ImageRecord, ...]  # selected and not reviewed, file not found at the last check
    selected: int  # images the selection matched, any status
    reviewed: int  # of those, fully confirmed (nothing to predict)
    changed: tuple[ImageRecord, ...] = ()  # selected and not reviewed, file now holds another picture
    flagged: tuple[ImageRecord, ...] = ()  # selected, flagged skip or no object: not predicted

    def split(self, signature: str | None, force: bool) -> tuple[list[ImageRecord], list[ImageRecord]]:
        """(to predict, up to date)."""
        if force or signature is None:
            return list(self.candidates), []
        todo = [r for r in self.candidates if r.pred_signature != signature]
        done = [r for r in self.candidates if r.pred_signature == signature]
        return todo, done


def select_targets(records: Sequence[ImageRecord], config: PropagationConfig) -> TargetSelection:
    chosen = list(records)
    if config.image_ids is not None:
        known = {r.id for r in records}
        unknown = [i for i in config.image_ids if i not in known]
        if unknown:
            raise UserInputError(f"no image with id {unknown[0]} in this project")
        wanted = set(config.image_ids)
        chosen = [r for r in chosen if r.id in wanted]
    if config.images is not None:
        # Names compared in one Unicode normalisation: a pattern typed in NFC matches a file named in NFD.
        pattern = unicode_key(config.images.strip().replace("\\", "/"))
        chosen = [r for r in chosen if fnmatch.fnmatchcase(unicode_key(r.path), pattern)]
        if not chosen:
            raise UserInputError(
                f"--images {config.images!r} matches no image of the project "
                "(patterns match paths relative to the images root, e.g. 'nest/*.jpg' or '*/0*.png')"
            )
    open_ = [r for r in chosen if r.review_status != REVIEWED]
    flagged = [r for r in open_ if r.flag in (FLAG_SKIP, FLAG_NO_OBJECT)]
    open_ = [r for r in open_ if r.flag not in (FLAG_SKIP, FLAG_NO_OBJECT)]
    return TargetSelection(
        candidates=tuple(r for r in open_ if not r.missing and not r.changed),
        missing=tuple(r for r in open_ if r.missing),
        selected=len(chosen),
        reviewed=len(chosen) - len(open_) - len(flagged),
        flagged=tuple(flagged),
        changed=tuple(r for r in open_ if r.changed and not r.missing),
    )
