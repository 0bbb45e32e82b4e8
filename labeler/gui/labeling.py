"""Placing and editing points, the current keypoint, undo/redo, and accepting predictions.

:class:`Labeling` turns canvas gestures and keys into :class:`~labeler.gui.editing.Editor`
edits (each undoable). Every edit goes through :meth:`Labeling.attempt`: refused while a bulk
job writes or when the image on screen cannot be read, and a store refusal becomes a message.
"""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import QObject, QPoint
from PyQt6.QtWidgets import QMenu

from labeler.correspondence.cards import is_test_model
from labeler.errors import LabelerError
from labeler.gui import background
from labeler.gui.browsing import Browser
from labeler.gui.canvas import Canvas
from labeler.gui.commands import StoreEdit
from labeler.gui.keypoint_panel import KeypointPanel
from labeler.gui.object_review import ObjectWalk
from labeler.gui.point_review import PointReview
from labeler.gui.progress_panel import ProgressPanel
from labeler.gui.review import AcceptAboveDialog
from labeler.gui.review_panel import ReviewPanel
from labeler.gui.session import Session
from labeler.gui.settings import AppSettings
from labeler.store import Schema


class Labeling(QObject):
    def __init__(self, session: Session, canvas: Canvas, keypoints: KeypointPanel, progress: ProgressPanel,
                 settings: AppSettings, browser: Browser, review_panel: ReviewPanel) -> None:
        super().__init__(session)
        self.session, self.canvas, self.keypoints, self.progress = session, canvas, keypoints, progress
        self.settings, self.browser = settings, browser
        self.auto_advance = True
        self.bulk_job: background.BackgroundJob | None = None
        self.point_menu: QMenu | None = None
        self.objects = ObjectWalk(session)  # Space goes to the image's next object first
        browser.shown.connect(self.objects.reset)
        self.review = PointReview(session, review_panel, canvas, self.attempt, objects=ObjectWalk(session))
        browser.shown.connect(self.review.objects.reset)
        canvas.place_requested.connect(self.place)
        canvas.point_moved.connect(self.move)
        canvas.point_clicked.connect(self.set_current_keypoint)
        canvas.context_requested.connect(self.show_point_menu)
        keypoints.keypoint_selected.connect(self.set_current_keypoint)
        session.keypoint_wanted.connect(self.set_current_keypoint)
        session.schema_replaced.connect(self.schema_replaced)

    def schema_replaced(self, schema: Schema) -> None:
        """The keypoints changed (an edit of the schema, an import that created them)."""
        s = self.session
        s.schema = schema
        s.undo_stack.clear()  # snapshots name keypoints that may have changed
        self.keypoints.set_schema(schema)
        self.set_current_keypoint(self.keypoints.current)
        if s.current is not None:
            self.browser.show_image(s.current.id)
        self.browser.refresh_index()

    # -- the current keypoint --------------------------------------------------------------------
    def set_current_keypoint(self, name: str | None) -> None:
        self.session.current_keypoint = name
        self.keypoints.set_current(name)
        self.canvas.set_current_keypoint(name)

    def select_keypoint_index(self, index: int) -> None:
        names = self.session.schema.keypoints
        if 0 <= index < len(names):
            self.set_current_keypoint(names[index])

    def step_keypoint(self, step: int) -> None:
        names = self.session.schema.keypoints
        if not names:
            return
        current = self.session.current_keypoint
        i = names.index(current) if current in names else -step
        self.set_current_keypoint(names[(i + step) % len(names)])

    def _advance_after(self, name: str) -> None:
        if not self.auto_advance:
            return
        names = self.session.schema.keypoints
        start = names.index(name)
        for k in range(1, len(names)):
            candidate = names[(start + k) % len(names)]
            if candidate not in self.session.current_points:
                self.set_current_keypoint(candidate)
                return

    def target_keypoint(self) -> str | None:
        """The keypoint a key acts on: the one under the mouse, else the current one."""
        return self.canvas.hovered_keypoint or self.session.current_keypoint

    def cycle_point(self) -> None:
        name = self.canvas.cycle_under_mouse()
        if name is not None:
            self.set_current_keypoint(name)
            self.session.say(f"{name} on top: a drag grabs it (Tab: the next one under the mouse)")

    # -- undo / redo -------------------------------------------------------------------------------
    def undo(self) -> None:
        self._history(undo=True)

    def redo(self) -> None:
        self._history(undo=False)

    def _history(self, *, undo: bool) -> None:
        """Undo/redo; a bulk edit (thousands of rows) is written off the UI thread, and other
        edits wait until it is done (the stack moves only once the store has it)."""
        s = self.session
        if s.refuse_if_busy():
            return
        stack = s.undo_stack
        if not (stack.canUndo() if undo else stack.canRedo()):
            s.say("nothing to undo" if undo else "nothing to redo")
            return
        cmd = stack.command(stack.index() - 1 if undo else stack.index())
        if not (isinstance(cmd, StoreEdit) and cmd.is_bulk):
            stack.undo() if undo else stack.redo()
            s.say(f"{'undone' if undo else 'redone'}: {cmd.text()} (Ctrl+{'Shift+Z redoes' if undo else 'Z undoes'})")
            return
        what = "Undoing" if undo else "Redoing"
        self.progress.start(f"{what}: {cmd.text()}")
        self.progress.stop.setEnabled(False)
        project = s.project

        def done(_: object) -> None:
            s.history_job = None
            self.progress.finish()
            if s.project is not project:  # closed meanwhile: the stack was cleared
                return
            stack.undo() if undo else stack.redo()
            s.say(f"{'undone' if undo else 'redone'}: {cmd.text()}")

        def failed(exc: BaseException) -> None:
            s.history_job = None
            self.progress.finish()
            s.show_error(exc)
            s.refresh()

        s.history_job = background.run_in_background(lambda: cmd.restore_state(undo), done, failed)

    # -- point edits -------------------------------------------------------------------------------
    def attempt(self, fn: Callable[[], object]) -> object | None:
        """Run an edit; a LabelerError becomes a status-bar message (the edit did nothing)."""
        s = self.session
        if s.refuse_if_busy():
            return None
        if self.canvas.failure_message:  # a missing or unreadable file cannot be labelled
            s.say(f"cannot label this image: {self.canvas.failure_message}", error=True)
            return None
        try:
            return fn()
        except LabelerError as exc:
            s.say(str(exc), error=True)
            self.browser.refresh_current()
            return None

    def place(self, name: str, x: float, y: float, occluded: bool) -> None:
        editor, image_id = self.session.editor, self.session.current_id
        if editor is None or image_id is None:
            return
        if self.attempt(lambda: editor.place(image_id, name, x, y, occluded=occluded)) is not None:
            self._advance_after(name)

    def move(self, name: str, x: float, y: float) -> None:
        editor, image_id = self.session.editor, self.session.current_id
        if editor is None or image_id is None:
            return
        self.attempt(lambda: editor.move(image_id, name, x, y))
        self.browser.refresh_after_drag()

    def point_edit(self, what: str, name: str | None = None) -> None:
        editor, image_id = self.session.editor, self.session.current_id
        if editor is None or image_id is None:
            return
        name = name or self.target_keypoint()
        if name is None:
            return
        fn = getattr(editor, what)
        self.attempt(lambda: fn(image_id, name))

    def swap_pair(self, name: str | None = None) -> None:
        editor, image_id = self.session.editor, self.session.current_id
        if editor is None or image_id is None:
            return
        name = name or self.target_keypoint()
        if name is not None:
            self.attempt(lambda: editor.swap(image_id, name))

    def swap_all_pairs(self) -> None:
        editor, image_id = self.session.editor, self.session.current_id
        if editor is not None and image_id is not None:
            self.attempt(lambda: editor.swap_all(image_id))

    def show_point_menu(self, name: str, where: QPoint) -> None:
        menu = self.point_menu = QMenu(self.session.dialog_parent)
        rec = self.session.current_points.get(name)
        menu.addAction(name.replace("&", "&&")).setEnabled(False)  # "&" would be a mnemonic
        menu.addSeparator()
        entries = [
            ("Visible" if rec is not None and rec.visibility == 1 else "Occluded", "toggle_occluded", "O"),
            ("Absent", "toggle_absent", "X"),
            ("Delete (unlabelled)", "delete", "Del"),
        ]
        for text, what, key in entries:
            a = menu.addAction(f"{text}\t{key}")
            a.triggered.connect(lambda _=False, w=what: self.point_edit(w, name))
        flip = self.session.schema.flip_of(name)
        if flip:
            a = menu.addAction(f"Swap with {flip.replace('&', '&&')}\tS")
            a.triggered.connect(lambda: self.swap_pair(name))
        menu.exec(where)

    # -- accepting predictions -----------------------------------------------------------------------
    def accept_current(self) -> int:
        return int(self.review.accept_image() or 0)

    def accept_and_next(self) -> None:
        s = self.session
        if s.current is not None and any(not p.confirmed for p in s.current_points.values()):
            if self.review.accept_image() is None:
                return  # cancelled (or refused): stay on this image
        if not self.objects.next_object():
            self.browser.next_to_review()

    def accept_all_and_next(self) -> None:
        """Shift+Space: every prediction of this image, the low ones too, in one key (one undo step)."""
        s = self.session
        editor, image = s.editor, s.current
        if editor is None or image is None:
            return
        n = 0
        if any(not p.confirmed for p in s.current_points.values()):
            n = self.attempt(lambda: editor.accept_image(image.id))
            if n is None:
                return  # refused (said why): stay on this image
        if not self.objects.next_object():
            self.browser.next_to_review()
        if n:
            s.say(f"{image.path}: accepted all {n} prediction(s), low ones too (Ctrl+Z undoes)")

    def accept_above_dialog(self) -> None:
        """Confidences are read off the UI thread, the dialog asks, the bulk accept runs off the
        UI thread too; the executed edit is then pushed (one undo step)."""
        s = self.session
        editor, project = s.editor, s.project
        if editor is None or project is None or s.refuse_if_busy():
            return

        def ask(points: list[tuple[float | None, str | None]]) -> None:
            if s.editor is not editor:
                return
            if not points:
                s.say("no predictions await review")
                return
            threshold = float(self.settings.value("review/threshold", 0.5))
            tests = sorted({m for _, m in points if is_test_model(m)})
            dialog = AcceptAboveDialog([c for c, _ in points], threshold, s.dialog_parent,
                                       test_confidences=[c for c, m in points if m in tests], test_models=tests)
            if dialog.exec() != AcceptAboveDialog.DialogCode.Accepted:
                return
            chosen = dialog.threshold
            excluded = dialog.excluded_models
            self.settings.set_value("review/threshold", chosen)
            self.progress.start(f"Accepting predictions ≥ {chosen:.2f}")
            self.progress.stop.setEnabled(False)

            def done(cmd) -> None:  # noqa: ANN001
                self.progress.finish()
                if cmd is None or s.editor is not editor:
                    return
                editor.push(cmd)
                s.say(f"accepted {cmd.result} prediction(s) with confidence ≥ {chosen:.2f} (Ctrl+Z undoes)")

            def failed(exc: BaseException) -> None:
                self.progress.finish()
                s.show_error(exc)

            self.bulk_job = background.run_in_background(
                lambda: editor.accept_above_command(chosen, exclude_models=excluded), done, failed)

        background.run_in_background(lambda: [(p.confidence, p.model) for p in project.review_points()], ask,
                                     s.show_error)
