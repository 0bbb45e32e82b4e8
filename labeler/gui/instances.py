"""Several objects per image in the app: the current image's instances drawn as boxes, each in
its own colour with its name, and the keys that work on them.

The selected instance is the one every existing edit path works on (placing, moving, accepting,
occluded/absent, swap, undo): the store's ``focus_instance`` makes the single-object calls use it,
so nothing else in the window needs to know about instances. I / Shift+I select the next or
previous instance (an image with several objects opens at its least confident object awaiting
review); B then a drag draws (or redraws) the selected instance's box; Ctrl+B adds an
instance and draws its box the same way; Ctrl+D duplicates the selected one (box and points);
Shift+C copies the previous instance's points into the selected one as a start; Shift+Delete
deletes the selected instance and its points.
"""

from __future__ import annotations

from PyQt6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QBrush, QColor, QFont, QPen
from PyQt6.QtWidgets import QGraphicsRectItem, QGraphicsSimpleTextItem

from labeler.errors import LabelerError
from labeler.gui.detection import Detection
from labeler.store import InstanceRecord

#: One colour per instance, by its order on the image (colour-blind-safe Okabe-Ito palette).
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#FFFFFF")
Z_BOX = 5.0  # under the points (canvas_items.Z_POINT), over the picture


def instance_colour(index: int) -> QColor:
    return QColor(PALETTE[index % len(PALETTE)])


def instance_label(index: int, inst: InstanceRecord) -> str:
    source = "" if inst.box_source in (None, "drawn") else f" ({inst.box_source})"
    return f"{index + 1}: {inst.name}{source}" if inst.name else f"{index + 1}{source}"


class Instances(QObject):
    """The instance layer of the canvas and its actions (see the module docs)."""

    changed = pyqtSignal()  # the selection or the instances changed: points must be shown again

    def __init__(self, session, canvas, browser) -> None:  # noqa: ANN001 - gui Session, Canvas, Browser
        super().__init__(canvas)
        self.session = session
        self.canvas = canvas
        self.browser = browser
        self.items: list[tuple[QGraphicsRectItem, QGraphicsSimpleTextItem]] = []
        self.records: list[InstanceRecord] = []
        self.current: int | None = None  # instance id
        self.drawing = False  # the next left drag draws the selected instance's box
        self._start: QPointF | None = None
        self._rubber: QGraphicsRectItem | None = None
        canvas.viewport().installEventFilter(self)
        browser.shown.connect(self.show)
        self.changed.connect(browser.refresh_current)
        session.object_wanted.connect(self.select)  # review going object by object
        self.detection = Detection(session)  # boxes from a detector (labeler.gui.detection)

    def handlers(self) -> dict:
        """Action id (labeler.gui.shortcuts, group Objects) -> what it does."""
        return {
            "next_instance": lambda: self.step(1),
            "previous_instance": lambda: self.step(-1),
            "draw_box": self.start_box,
            "new_instance": self.new_instance,
            "duplicate_instance": self.duplicate_instance,
            "copy_instance_points": self.copy_previous_points,
            "delete_instance": self.delete_instance,
            "detect_objects": self.detection.dialog,
        }

    # -- showing -------------------------------------------------------------------------------
    def show(self, image_id: int | None = None) -> None:
        """Draw the current image's instances (after it is shown, or after they change)."""
        s = self.session
        self._clear()
        if s.project is None or s.current is None:
            return
        try:
            self.records = s.project.instances(s.current.id)
        except LabelerError:
            self.records = []
            return
        focus = s.project.focused_instance(s.current.id)
        ids = [r.id for r in self.records]
        if focus is None and image_id is not None and len(ids) > 1:
            # an image just shown: review starts at its least confident object awaiting review
            waiting = s.project.instances_to_review(s.current.id)
            if waiting and waiting[0] != ids[0]:
                s.project.focus_instance(s.current.id, waiting[0])
                focus = waiting[0]
                self.changed.emit()
        self.current = focus if focus in ids else (ids[0] if ids else None)
        for k, inst in enumerate(self.records):
            colour = instance_colour(k)
            selected = inst.id == self.current
            rect = QGraphicsRectItem()
            pen = QPen(colour, 3.0 if selected else 1.5)
            pen.setCosmetic(True)
            if inst.box_source == "detected":
                pen.setStyle(Qt.PenStyle.DashLine)
            rect.setPen(pen)
            rect.setZValue(Z_BOX)
            text = QGraphicsSimpleTextItem(instance_label(k, inst) + ("  ◀" if selected and len(self.records) > 1 else ""))
            text.setBrush(QBrush(colour))
            font = QFont()
            font.setBold(selected)
            text.setFont(font)
            text.setFlag(text.GraphicsItemFlag.ItemIgnoresTransformations)
            text.setZValue(Z_BOX)
            if inst.box is not None:
                x, y, w, h = inst.box
                rect.setRect(QRectF(x, y, w, h))
                text.setPos(x, y)
            else:
                rect.setVisible(False)
                text.setPos(2.0, 2.0 + 14.0 * k / max(self.canvas.zoom, 0.01))
            self.canvas.scene().addItem(rect)
            self.canvas.scene().addItem(text)
            self.items.append((rect, text))

    def _clear(self) -> None:
        for rect, text in self.items:
            self.canvas.scene().removeItem(rect)
            self.canvas.scene().removeItem(text)
        self.items = []

    # -- selection and edits -------------------------------------------------------------------
    def _image(self) -> int | None:
        s = self.session
        return None if s.project is None or s.current is None else s.current.id

    def select(self, instance_id: int | None) -> None:
        image = self._image()
        if image is None:
            return
        self.session.project.focus_instance(image, instance_id)
        self.changed.emit()
        self.show()

    def step(self, delta: int) -> None:
        """I / Shift+I: the next or previous instance of the image (wrapping)."""
        self.show()  # the image may have gained its first instance since it was shown
        if not self.records:
            return
        ids = [r.id for r in self.records]
        k = ids.index(self.current) if self.current in ids else 0
        self.select(ids[(k + delta) % len(ids)])
        self._say(f"object {ids.index(self.current) + 1 if self.current in ids else 1} of {len(ids)}")

    def _run(self, what: str, edit, done: str = "") -> None:  # noqa: ANN001 - a callable
        try:
            edit()
        except LabelerError as exc:
            self.session.message.emit(f"{what}: {exc}", True)
            return
        self.changed.emit()
        self.show()
        if done:  # object edits are written at once and are not on the undo stack: say what happened
            self._say(f"{done} (object edits are not undone by Ctrl+Z)")

    def _number(self, instance_id: int | None) -> int:
        ids = [r.id for r in self.records]
        return ids.index(instance_id) + 1 if instance_id in ids else 0

    def new_instance(self) -> None:
        """Ctrl+B: a new object on the image, selected, its box drawn by the next drag."""
        image = self._image()
        if image is None:
            return

        def add() -> None:
            made = self.session.project.add_instance(image)
            self.session.project.focus_instance(image, made.id)

        self._run("new object", add)
        self.start_box()

    def start_box(self) -> None:
        """B: the next left drag on the picture draws the selected instance's box."""
        if self._image() is None:
            return
        self.show()
        self.drawing = True
        self.canvas.viewport().setCursor(Qt.CursorShape.CrossCursor)
        self._say("drag a box around the object (Esc cancels)")

    def delete_instance(self) -> None:
        self.show()
        if self.current is None:
            return
        gone, k = self.current, self._number(self.current)
        image = self._image()
        n = len(self.session.project.points(image, gone)) if image is not None else 0
        self._run("delete object", lambda: self.session.project.delete_instance(gone),
                  f"deleted object {k} and its {n} point(s)")

    def duplicate_instance(self) -> None:
        self.show()
        if self.current is None:
            return
        image, src, k = self._image(), self.current, self._number(self.current)

        def dup() -> None:
            made = self.session.project.duplicate_instance(src, offset=(10.0, 10.0))
            self.session.project.focus_instance(image, made.id)

        self._run("duplicate object", dup, f"duplicated object {k} (box and points, 10 px aside)")

    def copy_previous_points(self) -> None:
        """Shift+C: the previous instance's points into the selected one, as a start."""
        self.show()
        ids = [r.id for r in self.records]
        if self.current not in ids or len(ids) < 2:
            return
        k = ids.index(self.current)
        src, dst = ids[k - 1], self.current
        self._run("copy points", lambda: self.session.project.copy_instance_points(src, dst),
                  f"copied object {k}'s points into object {k + 1}")

    def _say(self, text: str) -> None:
        self.session.message.emit(text, False)

    # -- the box drag --------------------------------------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if not self.drawing:
            return False
        kind = event.type()
        if kind == QEvent.Type.KeyPress and event.key() == Qt.Key.Key_Escape:
            self._end_drag()
            return True
        if kind == QEvent.Type.MouseButtonPress and event.button() == Qt.MouseButton.LeftButton:
            self._start = self.canvas.mapToScene(event.position().toPoint())
            self._rubber = QGraphicsRectItem(QRectF(self._start, self._start))
            pen = QPen(QColor("#ffffff"), 1.5, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            self._rubber.setPen(pen)
            self._rubber.setZValue(Z_BOX + 1)
            self.canvas.scene().addItem(self._rubber)
            return True
        if kind == QEvent.Type.MouseMove and self._start is not None and self._rubber is not None:
            here = self.canvas.mapToScene(event.position().toPoint())
            self._rubber.setRect(QRectF(self._start, here).normalized())
            return True
        if kind == QEvent.Type.MouseButtonRelease and self._start is not None:
            here = self.canvas.mapToScene(event.position().toPoint())
            rect = QRectF(self._start, here).normalized()
            self._end_drag()
            self.set_box(rect.x(), rect.y(), rect.width(), rect.height())
            return True
        return False

    def _end_drag(self) -> None:
        if self._rubber is not None:
            self.canvas.scene().removeItem(self._rubber)
        self._rubber = None
        self._start = None
        self.drawing = False
        self.canvas.viewport().unsetCursor()

    def set_box(self, x: float, y: float, w: float, h: float) -> None:
        """The selected instance's box (made first when the image has none), as a drag draws it."""
        image = self._image()
        if image is None:
            return
        if w < 2 or h < 2:
            self._say("box too small: drag from one corner of the object to the other")
            return

        def draw() -> None:
            project = self.session.project
            target = self.current
            if target is None:
                target = project.add_instance(image).id
                project.focus_instance(image, target)
            project.set_box(target, (x, y, w, h))

        self._run("box", draw)
