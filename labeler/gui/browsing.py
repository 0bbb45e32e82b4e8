"""Which image is on screen, and keeping it and the image list true to the store.

:class:`Browser` shows an image (its points from the store, its pixels from the loader,
neighbours prefetched), steps through the list and the review queue, re-reads what another
process or a batch wrote (polling), and keeps the status line about the image and the review
summary current. Other controllers ask for images through the session's signals.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from PyQt6.QtCore import QObject, QTimer, pyqtSignal
from PyQt6.QtGui import QImage
from PyQt6.QtWidgets import QLabel

from labeler.errors import LabelerError
from labeler.gui import background
from labeler.gui.canvas import Canvas
from labeler.gui.image_list import BY_CONFIDENCE, ImageListPanel, Listing, fetch_listing
from labeler.gui.image_loader import ImageLoader, ThumbnailLoader
from labeler.gui.keypoint_panel import KeypointPanel
from labeler.gui.session import Session
from labeler.gui.settings import AppSettings
from labeler.store import FLAGS_OUT_OF_REVIEW, REVIEW_PREDICTED, REVIEWED, PointRecord, awaits_review

log = logging.getLogger(__name__)

POLL_MS = 500  # how often other processes' writes are looked for


class Browser(QObject):
    #: an image id now on screen (its points shown; pixels may still be loading)
    shown = pyqtSignal(int)

    def __init__(self, session: Session, canvas: Canvas, image_list: ImageListPanel, keypoints: KeypointPanel,
                 loader: ImageLoader, thumbs: ThumbnailLoader | None, settings: AppSettings, *,
                 image_label: QLabel, cursor_label: QLabel, review_label: QLabel) -> None:
        super().__init__(session)
        self.session, self.canvas, self.image_list, self.keypoints = session, canvas, image_list, keypoints
        self.loader, self.thumbs, self.settings = loader, thumbs, settings
        self.image_label, self.cursor_label, self.review_label = image_label, cursor_label, review_label
        self._ticket = 0
        self._last_row = 0
        self._refresh_job: background.BackgroundJob | None = None
        self._refresh_again = False
        self._points_stale = False
        loader.loaded.connect(self._pixels_loaded)
        loader.failed.connect(self._pixels_failed)
        canvas.cursor_moved.connect(lambda x, y: cursor_label.setText(f"x {x:.1f}  y {y:.1f}"))
        image_list.image_activated.connect(self.show_image)
        image_list.filter_changed.connect(self._filter_changed)
        image_list.refresh_wanted.connect(self.refresh_index)
        session.image_wanted.connect(self.show_image)
        session.step_wanted.connect(self.step_image)
        session.refresh_wanted.connect(self.refresh_all)
        session.images_removed.connect(self._images_removed)

        self.poll_timer = QTimer(self)
        self.poll_timer.setInterval(POLL_MS)
        self.poll_timer.timeout.connect(self._poll)
        self.poll_timer.start()
        self.last_image_timer = QTimer(self)
        self.last_image_timer.setSingleShot(True)
        self.last_image_timer.setInterval(1500)
        self.last_image_timer.timeout.connect(self.remember_image)
        self.index_timer = QTimer(self)
        self.index_timer.setSingleShot(True)
        self.index_timer.setInterval(150)
        self.index_timer.timeout.connect(self.refresh_index)

    # -- showing ---------------------------------------------------------------------------------
    def show_image(self, image_id: int) -> None:
        s = self.session
        project = s.project
        if project is None:
            return
        try:
            record = project.image(image_id)
        except LabelerError as exc:  # deleted by another process meanwhile
            s.say(str(exc), error=True)
            self.refresh_index()
            return
        s.current = record
        s.current_points = self._shown_points(image_id, project.points(image_id))
        self.cursor_label.setText("")  # the last image's coordinates mean nothing here
        self.canvas.show_image(record, s.schema, s.current_points)
        self.keypoints.set_points(s.current_points, fresh=True)
        first_open = next((n for n in s.schema.keypoints if n not in s.current_points), None)
        if first_open is not None:
            s.select_keypoint(first_open)
        self.image_list.select(image_id)
        self.shown.emit(image_id)
        row = self.image_list.model.row_of(image_id)
        if row is not None:
            self._last_row = row
        self.last_image_timer.start()  # remembered once the annotator stays on an image
        self.update_image_label()
        try:
            path = project.image_path(record)
        except LabelerError as exc:  # a link leading outside the images folder: never read
            self._ticket = 0
            self.canvas.show_failure(str(exc))
            self.session.say(str(exc), error=True)
            return
        cached = self.loader.cached(record.id, path)
        neighbours = self._neighbours(image_id)
        if cached is not None:
            self._ticket = 0
            self.canvas.set_pixels(cached)
            self.loader.prefetch(neighbours)
        else:
            self._ticket = self.loader.request(record.id, path, prefetch=neighbours)
        self.canvas.setFocus()

    def _shown_points(self, image_id: int, points: dict[str, PointRecord]) -> dict[str, PointRecord]:
        """A flagged image left the review queue: its predictions are not shown (nor accepted);
        its confirmed points are."""
        if self.image_list.flag_of(image_id) in FLAGS_OUT_OF_REVIEW:
            return {n: p for n, p in points.items() if p.confirmed}
        return points

    def flag_changed(self, image_id: int) -> None:
        if self.session.current_id == image_id:
            self.refresh_current()
        self.update_review_label(None)

    def remember_image(self) -> None:
        s = self.session
        if s.project is not None and s.current is not None:
            self.settings.set_last_image(s.project.path, s.current.path)

    def _neighbours(self, image_id: int) -> list[tuple[int, Path]]:
        project = self.session.project
        model = self.image_list.model
        row = model.row_of(image_id)
        if project is None or row is None:
            return []
        out = []
        for r in (row + 1, row - 1, row + 2):
            found = model.row_at(r)
            if found is not None:
                with contextlib.suppress(LabelerError):  # refused files are not prefetched
                    out.append((found[0], project.image_file(found[1])))
        return out

    def _pixels_loaded(self, ticket: int, image_id: int, image: QImage) -> None:
        if ticket == self._ticket and self.session.current_id == image_id:
            self.canvas.set_pixels(image)

    def _pixels_failed(self, ticket: int, image_id: int, message: str) -> None:
        s = self.session
        if ticket == self._ticket and s.current_id == image_id:
            self.canvas.show_failure(message)
            try:
                where = f"{s.project.image_path(s.current)}: " if s.project is not None else ""
            except LabelerError:
                where = ""
            reason = message[len(where):] if where and message.startswith(where) else message
            self.keypoints.set_blocked(reason + (". File > Locate images folder." if "not found" in reason else ""))
            s.say(message, error=True)
            if s.project is not None and not s.project.image_on_disk(s.current):
                self._mark_missing(image_id)

    def _mark_missing(self, image_id: int) -> None:
        """The file is gone: the list says so (not the old thumbnail) and the store records it."""
        project = self.session.project
        if project is None:
            return
        self.image_list.model.set_missing(image_id, True)
        if self.thumbs is not None:
            self.thumbs.forget(image_id)
        background.run_in_background(lambda: project.check_missing([image_id]), lambda _: None, lambda exc: None)

    # -- moving ----------------------------------------------------------------------------------
    def step_image(self, step: int) -> None:
        model = self.image_list.model
        n = model.rowCount()
        if n == 0:
            return
        current = self.session.current_id
        row = model.row_of(current) if current is not None else None
        if row is None:  # the current image left the filtered list: continue where it was
            target = min(self._last_row, n - 1) if step > 0 else max(min(self._last_row, n) - 1, 0)
        else:
            target = row + step
        if 0 <= target < n:
            self.show_image(model.row_at(target)[0])  # type: ignore[index]
        else:
            self.session.say("last image of the list" if step > 0 else "first image of the list")

    def jump_image(self, row: int) -> None:
        model = self.image_list.model
        if model.rowCount():
            self.show_image(model.row_at(row % model.rowCount())[0])  # type: ignore[index]

    def next_to_review(self) -> None:
        s = self.session
        if s.navigator is None:
            return
        target = s.navigator.next_image(s.current_id)
        if target is None:
            s.say("nothing to review: no predictions await review")
            return
        if target == s.current_id:
            s.say("this is the last image to review")
        self.show_image(target)

    def prefetch_review_queue(self) -> None:
        navigator = self.session.navigator
        if navigator is not None:
            background.run_in_background(navigator.fetch, navigator.set_queue, lambda exc: None)

    def restart_queue(self) -> None:
        """New predictions: walk the review queue from its start again."""
        if self.session.navigator is not None:
            self.session.navigator.reset()
            self.prefetch_review_queue()

    def _filter_changed(self) -> None:
        if self.session.current is not None:
            self.image_list.select(self.session.current.id)
        self.canvas.setFocus()

    def _images_removed(self, ids: set[int]) -> None:
        s = self.session
        if s.current_id in ids:
            s.current = None
            self.canvas.clear()
            self.refresh_index()
            if self.image_list.model.rowCount():
                self.jump_image(0)
        else:
            self.refresh_index()

    # -- refreshing ------------------------------------------------------------------------------
    def refresh_all(self) -> None:
        self.refresh_current()
        self.refresh_index()

    def refresh_current(self) -> None:
        """Re-read the current image's points (after an edit, a batch, another process)."""
        s = self.session
        if s.project is None or s.current is None:
            return
        if self.canvas.dragging:
            self._points_stale = True  # after the drag
            return
        self._points_stale = False
        try:
            s.current_points = self._shown_points(s.current.id, s.project.points(s.current.id))
            record = s.project.image(s.current.id)
        except LabelerError:
            self.refresh_index()
            return
        s.current = record
        self.canvas.set_points(s.current_points)
        self.keypoints.set_points(s.current_points)
        self.image_list.set_status(record.id, record.review_status)
        self.image_list.set_confirmed(record.id, sum(1 for p in s.current_points.values() if p.confirmed))
        self.update_image_label()

    def refresh_after_drag(self) -> None:
        """A drag ended: what arrived during it is shown now."""
        if self._points_stale:
            self.refresh_current()

    def refresh_index(self) -> None:
        """Reload the image list off the UI thread (one query), keeping the selection."""
        project = self.session.project
        if project is None:
            return
        if self._refresh_job is not None and not self._refresh_job.is_finished:
            self._refresh_again = True
            return

        def done(listing: Listing) -> None:
            self._refresh_job = None
            if self.session.project is project:
                self.image_list.set_listing(listing, keep=self.session.current_id)
                self.update_review_label(listing.rows)
            if self._refresh_again:
                self._refresh_again = False
                self.refresh_index()

        def failed(exc: BaseException) -> None:
            self._refresh_job = None
            log.warning("refreshing the image list failed: %s", exc)

        by_confidence = self.image_list.sort_key == BY_CONFIDENCE
        self._refresh_job = background.run_in_background(
            lambda: fetch_listing(project, least_confident=by_confidence), done, failed)

    def _poll(self) -> None:
        project = self.session.project
        if project is None:
            return
        try:
            changed = project.has_changed()
        except LabelerError:
            return
        if changed:
            self.refresh_all()
        elif self._points_stale and not self.canvas.dragging:
            self.refresh_current()

    def edited(self, image_ids: set[int], from_history: bool) -> None:
        """The editor wrote ``image_ids`` (``from_history``: an undo or redo)."""
        current = self.session.current_id
        if current in image_ids:
            self.refresh_current()
        elif from_history and len(image_ids) == 1:
            self.show_image(next(iter(image_ids)))  # follow undo/redo to where it happened
        if len(image_ids) > 1 or from_history or current is None or current not in image_ids:
            self.index_timer.start()
        else:
            self.update_review_label(None)

    def predicted(self, image_ids: tuple[int, ...]) -> None:
        if self.session.current_id in image_ids:
            self.refresh_current()
        self.index_timer.start()

    # -- status lines ----------------------------------------------------------------------------
    def update_review_label(self, rows: list[tuple[int, str, str]] | None) -> None:
        if rows is None:
            rows = self.image_list.all_rows()
        self.review_label.setText(review_label_text(rows, self.image_list.flag_of))

    def update_image_label(self) -> None:
        s = self.session
        c = s.current
        if c is None or s.project is None:
            self.image_label.setText("")
            return
        n_conf = sum(1 for p in s.current_points.values() if p.confirmed)
        n_pred = sum(1 for p in s.current_points.values() if not p.confirmed)
        self.image_label.setText(
            f"{c.path}   {c.width}×{c.height}   {n_conf}/{len(s.schema.keypoints)} confirmed"
            + (f", {n_pred} predicted" if n_pred else "")
        )


def review_label_text(rows, flag_of) -> str:  # noqa: ANN001 - index rows (id, path, status); id -> flag
    """The review panel's line. "Label an image, then Propagate" only while nothing was reviewed
    or held back: after the last prediction is decided it says so, and predictions on flagged
    images (out of review, not counted) are named, so the annotator knows where they went."""
    n = sum(1 for r in rows if awaits_review(r[2], flag_of(r[0])))  # the store's rule
    if n:
        return f"{n} image(s) with predictions to review."
    held = sum(1 for r in rows if r[2] == REVIEW_PREDICTED and flag_of(r[0]) in FLAGS_OUT_OF_REVIEW)
    if held:
        return f"No predictions to review ({held} flagged image(s) hold some)."
    if any(r[2] == REVIEWED for r in rows):
        return "No predictions left to review."
    return "No predictions to review. Label an image, then Propagate."
