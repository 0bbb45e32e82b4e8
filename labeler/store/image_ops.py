"""Registering images, listing them (fast, for 100k), finding them, noticing missing files."""

from __future__ import annotations

import os
import stat
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import fields
from pathlib import Path
from types import EllipsisType

from sqlalchemy import Select, bindparam, delete, func, or_, select, update
from labeler.store.dialects import insert as dialect_insert
from sqlalchemy.orm import Session

from labeler.errors import UserInputError
from labeler.imaging import file_sha256, is_image_path
from labeler.store.core import IMAGE_T, ProjectCore, image_record, image_row, in_ids, in_values, now
from labeler.store.models import CacheRow, ImageRow
from labeler.store.records import IMAGE_FLAGS, REVIEW_STATUSES, AddImagesReport, FileCheck, ImageRecord, SkippedFile
from labeler.store.relpaths import (
    OutsideImagesFolder,
    absolute,
    escapes,
    image_file,
    normalise_rel,
    real_image_file,
    relative_to_root,
    unicode_key,
)
from labeler.store.scanning import ProbedImage, check_folder, find_image_files, probe_files

StatusFilter = str | Iterable[str] | None
FlagFilter = str | None | EllipsisType  # ... (Ellipsis): any flag or none


def _statuses(status: StatusFilter) -> list[str] | None:
    if status is None:
        return None
    wanted = [status] if isinstance(status, str) else list(status)
    for st in wanted:
        if st not in REVIEW_STATUSES:
            raise UserInputError(f"unknown review status {st!r}; choose from {', '.join(REVIEW_STATUSES)}")
    return wanted


def _check_flag(flag: str | None) -> None:
    if flag is not None and flag not in IMAGE_FLAGS:
        raise UserInputError(f"unknown image flag {flag!r}; choose from {', '.join(IMAGE_FLAGS)}")


def _filtered(stmt: Select, status: StatusFilter, missing: bool | None, flag: FlagFilter = ..., changed: bool | None = None) -> Select:
    """``flag``: ... (the default) any; None only unflagged images; a flag only those."""
    wanted = _statuses(status)
    if wanted is not None:
        stmt = stmt.where(ImageRow.review_status.in_(wanted))
    if missing is not None:
        stmt = stmt.where(ImageRow.missing == missing)
    if changed is not None:
        stmt = stmt.where(ImageRow.changed == changed)
    if flag is None:
        stmt = stmt.where(ImageRow.flag.is_(None))
    elif flag is not ...:
        _check_flag(flag)
        stmt = stmt.where(ImageRow.flag == flag)
    return stmt


def insert_probed(s: Session, probed: Sequence[ProbedImage]) -> list[str]:
    """Insert images not yet present (inside the caller's write transaction); returns their paths."""
    if not probed:
        return []
    present = set(s.execute(select(ImageRow.path).where(in_values(ImageRow.path, [p.rel for p in probed]))).scalars())
    t = now()
    rows = [
        {
            "path": p.rel,
            "width": p.info.width,
            "height": p.info.height,
            "orientation": p.info.orientation,
            "sha256": p.info.sha256,
            "size_bytes": p.info.size_bytes,
            "mtime_ns": p.info.mtime_ns,
            "changed": False,
            "review_status": "unlabeled",
            "missing": False,
            "added_at": t,
        }
        for p in probed
        if p.rel not in present
    ]
    if rows:
        s.execute(dialect_insert(s, IMAGE_T).on_conflict_do_nothing(index_elements=["path"]), rows)
    return [r["path"] for r in rows]


class ImageOps(ProjectCore):
    @property
    def images_root(self) -> Path:
        return self._root

    # -- registering ---------------------------------------------------------------------------
    def _candidates(self, source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> tuple[list[tuple[Path, str]], list[SkippedFile]]:
        root = self._root
        links: list[SkippedFile] = []
        if isinstance(source, (str, os.PathLike)):
            src = absolute(source)
            if not src.exists():
                raise UserInputError(f"{src} does not exist")
            if src.is_dir():
                check_folder(src)
                if src != absolute(root) and relative_to_root(src, root) is None:
                    raise UserInputError(f"{src} is not inside the project's images root {root}")
                files: list[Path] = find_image_files(src, within=root, skipped=links)
            else:
                files = [src]
        else:
            files = [absolute(f) for f in source]
        outside = [str(f) for f in files if relative_to_root(f, root) is None]
        if outside:
            listed = "\n  ".join(outside[:20]) + ("\n  ..." if len(outside) > 20 else "")
            raise UserInputError(f"these files are not inside the images root {root}:\n  {listed}")
        pairs: list[tuple[Path, str]] = []
        skipped: list[SkippedFile] = links
        seen: set[str] = set()
        for f in files:
            rel = relative_to_root(f, root)
            assert rel is not None
            if rel in seen:
                continue
            seen.add(rel)
            if not f.is_file():
                why = "not a file" if f.exists() else "broken symbolic link" if f.is_symlink() else "file not found"
                skipped.append(SkippedFile(rel, why))
            elif not is_image_path(f):
                skipped.append(SkippedFile(rel, "not an image file type"))
            else:
                try:  # what reading it would refuse is not registered either
                    real_image_file(root, rel)
                    pairs.append((f, rel))
                except OutsideImagesFolder:
                    skipped.append(SkippedFile(rel, "symbolic link leading outside the images folder (not followed)"))
        return pairs, skipped

    def add_images(
        self,
        source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        *,
        progress: bool | None = None,
        workers: int | None = None,
    ) -> AddImagesReport:
        """Register a folder (recursively) or a list of files under the images root.

        Idempotent: known paths are not probed again (a known image marked missing whose file
        is back is un-marked). Unreadable files are skipped and listed with the reason.
        """
        pairs, skipped = self._candidates(source)
        with self._read() as s:
            known = dict(
                s.execute(select(ImageRow.path, ImageRow.missing).where(in_values(ImageRow.path, [r for _, r in pairs]))).all()
            )
        new = [(f, r) for f, r in pairs if r not in known]
        probed, bad = probe_files(new, progress=progress, workers=workers)
        reappeared = [r for _, r in pairs if known.get(r)]
        renamed = self._renames(probed)
        moved = {new_rel for _, _, new_rel in renamed}
        with self._write() as s, s.begin():
            for image_id, _, new_rel in renamed:
                s.execute(update(IMAGE_T).where(IMAGE_T.c.id == image_id).values(path=new_rel, missing=False))
            added = insert_probed(s, [p for p in probed if p.rel not in moved])
            if reappeared:
                s.execute(update(IMAGE_T).where(in_values(IMAGE_T.c.path, reappeared)).values(missing=False))
        return AddImagesReport(
            added=tuple(added),
            already_present=tuple(sorted(set(known) | ({p.rel for p in probed} - set(added) - moved))),
            skipped=tuple(sorted(skipped + bad, key=lambda x: x.path)),
            reappeared=tuple(reappeared),
            renamed=tuple((old, new_rel) for _, old, new_rel in renamed),
        )

    def _renames(self, probed: Sequence[ProbedImage]) -> list[tuple[int, str, str]]:
        """``(image id, old path, new path)`` for new files whose content is exactly that of one
        registered image whose own file is gone: the file was renamed or moved, not copied."""
        by_hash: dict[str, list[ProbedImage]] = {}
        for p in probed:
            if p.info.sha256:
                by_hash.setdefault(p.info.sha256, []).append(p)
        if not by_hash:
            return []
        with self._read() as s:
            rows = s.execute(
                select(ImageRow.id, ImageRow.path, ImageRow.sha256).where(in_values(ImageRow.sha256, list(by_hash)))
            ).all()
        gone: dict[str, list[tuple[int, str]]] = {}
        for image_id, rel, sha in rows:
            if not image_file(self._root, rel, row=image_id).exists():
                gone.setdefault(sha, []).append((image_id, rel))
        out = []
        for sha, olds in gone.items():
            if len(olds) == 1 and len(by_hash[sha]) == 1:  # otherwise ambiguous: leave both as they are
                out.append((olds[0][0], olds[0][1], by_hash[sha][0].rel))
        return out

    def remove_images(self, image_ids: Iterable[int]) -> int:
        """Forget images (their points and cache entries go with them); files are not touched."""
        ids = list(image_ids)
        with self._write() as s, s.begin():
            s.execute(delete(CacheRow).where(in_ids(CacheRow.image_id, ids)))
            return s.execute(delete(ImageRow).where(in_ids(ImageRow.id, ids))).rowcount

    # -- listing -------------------------------------------------------------------------------
    def image_count(self, status: StatusFilter = None, *, missing: bool | None = None, changed: bool | None = None) -> int:
        with self._read() as s:
            return s.execute(_filtered(select(func.count()).select_from(ImageRow), status, missing, changed=changed)).scalar_one()

    def image_index(self, status: StatusFilter = None, *, missing: bool | None = None,
                    flag: FlagFilter = ...) -> list[tuple[int, str, str]]:
        """``(id, path, review_status)`` of every matching image, ordered by path: one query.
        ``flag``: left out, any; None, unflagged images only; a flag, the images that have it."""
        stmt = _filtered(select(ImageRow.id, ImageRow.path, ImageRow.review_status), status, missing, flag)
        with self._read() as s:
            return [tuple(r) for r in s.execute(stmt.order_by(ImageRow.path))]

    def list_images(
        self,
        status: StatusFilter = None,
        *,
        missing: bool | None = None,
        changed: bool | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[ImageRecord]:
        columns = [IMAGE_T.c[f.name] for f in fields(ImageRecord)]
        stmt = _filtered(select(*columns), status, missing, changed=changed).order_by(ImageRow.path).offset(offset)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read() as s:
            rows = s.execute(stmt).all()
        return [
            ImageRecord(*r[:8], bool(r[8]), *r[9:14], None if r[14] is None else bool(r[14]), r[15], r[16], bool(r[17]), *r[18:])
            for r in rows
        ]

    # -- image flags ---------------------------------------------------------------------------
    def set_image_flag(self, image_ids: int | Iterable[int], flag: str | None) -> int:
        """Flag images (skip, no_object, later) or clear their flag (None); returns how many
        images were found. Points are not touched."""
        _check_flag(flag)
        ids = [int(image_ids)] if isinstance(image_ids, int) else [int(i) for i in image_ids]
        with self._write() as s, s.begin():
            return int(s.execute(update(IMAGE_T).where(in_ids(IMAGE_T.c.id, ids)).values(flag=flag)).rowcount)

    def image_flags(self) -> dict[int, str]:
        """image id -> flag, for every flagged image (one query; for listing)."""
        with self._read() as s:
            return dict(s.execute(select(ImageRow.id, ImageRow.flag).where(ImageRow.flag.is_not(None))).all())

    # -- single images -------------------------------------------------------------------------
    def image(self, image_id: int) -> ImageRecord:
        with self._read() as s:
            return image_record(image_row(s, image_id))

    def find_image(self, rel_path: str) -> ImageRecord | None:
        """The image at ``rel_path`` (relative to the images root), or None."""
        if not rel_path or escapes(rel_path):
            return None
        rel = normalise_rel(rel_path)
        with self._read() as s:
            row = s.execute(select(ImageRow).where(ImageRow.path == rel)).scalar()
            if row is None and not rel.isascii():
                row = self._find_by_unicode_key(s, rel)
            return None if row is None else image_record(row)

    @staticmethod
    def _find_by_unicode_key(s: Session, rel: str) -> ImageRow | None:
        """The one image whose path equals ``rel`` up to Unicode normalisation (NFC vs NFD)."""
        forms = {unicodedata.normalize(form, rel) for form in ("NFC", "NFD")} - {rel}
        rows = s.execute(select(ImageRow).where(ImageRow.path.in_(forms))).scalars().all()
        if not rows:  # mixed forms within one path: compare every non-ASCII path
            key = unicode_key(rel)
            ids = [
                i for i, p in s.execute(select(ImageRow.id, ImageRow.path)) if not p.isascii() and unicode_key(p) == key
            ]
            rows = [s.get(ImageRow, i) for i in ids]
        return rows[0] if len(rows) == 1 else None

    def image_by_path(self, path: str | os.PathLike[str]) -> ImageRecord:
        """Like :meth:`find_image` but also takes a path on disk under the root; raises if unknown."""
        text = os.fspath(path)
        found = self.find_image(text)
        if found is None and (Path(text).is_absolute() or Path(text).exists()):
            rel = relative_to_root(text, self._root)
            found = self.find_image(rel) if rel else None
        if found is not None:
            return found
        hint = ""
        name = Path(text.replace("\\", "/")).name
        with self._read() as s:
            similar = s.execute(
                select(ImageRow.path)
                .where(or_(ImageRow.path == name, ImageRow.path.endswith("/" + name)))
                .order_by(ImageRow.path)
                .limit(3)
            ).scalars().all()
        if similar:
            hint = f"; did you mean {' or '.join(similar)}?"
        raise UserInputError(
            f"no image {text!r} in this project (paths are relative to the images root {self._root}){hint}"
        )

    def image_path(self, image: int | ImageRecord) -> Path:
        """The real path of an image's file, to read or copy it now (it may be missing: see
        :meth:`check_missing`). Raises :class:`OutsideImagesFolder` when a symbolic link leads
        outside the images folder (see :func:`~labeler.store.relpaths.real_image_file`)."""
        record = image if isinstance(image, ImageRecord) else self.image(image)
        return real_image_file(self._root, record.path, row=record.id)

    def image_file(self, rel: str) -> Path:
        """The real path of the image stored as ``rel``; refused like :meth:`image_path`."""
        return real_image_file(self._root, rel)

    def image_on_disk(self, image: int | ImageRecord) -> bool:
        """Whether the image's file is there and may be read (inside the images folder)."""
        try:
            return self.image_path(image).is_file()
        except OutsideImagesFolder:
            return False

    def check_missing(self, image_ids: Iterable[int] | None = None) -> list[ImageRecord]:
        """Look for every image file (or those of ``image_ids``); flag the ones gone (and
        un-flag returned ones).

        Returns the images missing now. Never raises for a missing file or images root.
        Files replaced by another picture are flagged too (see :meth:`check_files`)."""
        return list(self.check_files(image_ids).missing)

    def check_files(self, image_ids: Iterable[int] | None = None, *, record: bool = True) -> FileCheck:
        """Look at every image file (or those of ``image_ids``): flag the ones gone (``missing``)
        and the ones that now hold another picture (``changed``: the labels were placed on
        different pixels).

        Size and mtime are compared first; only when either moved is the file hashed, so a
        check of 100k unchanged files costs 100k ``stat`` calls. A touched file with the same
        bytes gets its new mtime recorded; a file put back is un-flagged. ``record=False``
        writes nothing (``status`` on a project it may only read) and returns what it found.
        A file that is now a symbolic link leading outside the images folder counts as gone.
        This is the one check every consumer of labels on pixels runs (exports, propagation,
        ``status``)."""
        stmt = select(
            ImageRow.id, ImageRow.path, ImageRow.missing, ImageRow.changed, ImageRow.size_bytes, ImageRow.mtime_ns, ImageRow.sha256
        )
        if image_ids is not None:
            stmt = stmt.where(in_ids(ImageRow.id, image_ids))
        with self._read() as s:
            rows = s.execute(stmt).all()
        changes = []
        now_state: dict[int, tuple[bool, bool]] = {}
        for image_id, rel, was_missing, was_changed, size, mtime, sha in rows:
            try:
                file = real_image_file(self._root, rel, row=image_id)
                st = file.stat()
                gone = not stat.S_ISREG(st.st_mode)
            except (OSError, OutsideImagesFolder):  # a link leading outside counts as gone
                gone = True
            now_changed, now_mtime = bool(was_changed), mtime
            if not gone and (st.st_size != size or st.st_mtime_ns != mtime):
                try:
                    digest = file_sha256(file)
                except OSError:
                    digest = None  # unreadable now: reading it later says why
                if digest is not None and sha:
                    now_changed = digest != sha
                    if not now_changed:
                        now_mtime = st.st_mtime_ns
            now_state[image_id] = (gone, now_changed)
            if (gone, now_changed, now_mtime) != (bool(was_missing), bool(was_changed), mtime):
                changes.append({"i": image_id, "m": gone, "c": now_changed, "t": now_mtime})
        if not record:
            ids = set(now_state)
            listed = [r for r in self.list_images() if r.id in ids]
            return FileCheck(
                missing=tuple(r for r in listed if now_state[r.id][0]),
                changed=tuple(r for r in listed if now_state[r.id][1] and not now_state[r.id][0]),
            )
        if changes:
            with self._write() as s, s.begin():
                stmt = (
                    update(IMAGE_T)
                    .where(IMAGE_T.c.id == bindparam("i"))
                    .values(missing=bindparam("m"), changed=bindparam("c"), mtime_ns=bindparam("t"))
                )
                s.execute(stmt, changes)
        return FileCheck(missing=tuple(self.list_images(missing=True)), changed=tuple(self.list_images(changed=True)))
