"""The image canvas: a QGraphicsView whose scene coordinates are image pixels.

The pixmap sits at (0, 0) unscaled, so a scene position is the project's continuous pixel
coordinate (pixel i covers [i, i+1); see labeler.correspondence.base). The canvas only shows
and reports: a click asks for a point to be placed, a drag reports where a point was dropped;
the main window turns those into undoable store edits and hands the new rows back.
"""

from __future__ import annotations

from collections.abc import Mapping

from PyQt6.QtCore import QPoint, QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPixmap, QTransform, QWheelEvent
from PyQt6.QtWidgets import QApplication, QGraphicsPixmapItem, QGraphicsScene, QGraphicsView

from labeler.gui.canvas_items import Z_POINT, EdgeItem, EdgeShadow, Placeholder, PointItem
from labeler.gui.style import keypoint_colour
from labeler.gui.view_options import adjusted
from labeler.store import PREDICTED, ImageRecord, PointRecord, Schema

MIN_SCALE, MAX_SCALE = 0.01, 64.0
#: screen pixels (Manhattan) before a press on a point becomes a drag, at least; the platform's
#: QApplication.startDragDistance() (10 px by default) when larger: a hand's wobble while clicking
#: a point must never move it
DRAG_THRESHOLD = 3


def drag_distance() -> int:
    return max(DRAG_THRESHOLD, QApplication.startDragDistance())
#: Held with a click, places the current keypoint again though it is already confirmed.
REPLACE_MODIFIER = Qt.KeyboardModifier.AltModifier
REPLACE_KEY = "Alt"


#: W (zoom to a point) keeps at least this many image pixels around the point in view, or a
#: third of the image's longer side when that is more ...
FOCUS_CONTEXT_PX = 200
#: ... and never magnifies more than this (400 %), unless the image's fit is already larger
FOCUS_MAX_ZOOM = 4.0


def focus_zoom(image_w: float, image_h: float, view_w: float, view_h: float) -> float:
    """The zoom for "zoom to a point": 3x the fitted zoom, bounded so that a context window
    (:data:`FOCUS_CONTEXT_PX`, or a third of the image) fits the view and at most
    :data:`FOCUS_MAX_ZOOM`; never below the fitted zoom (the whole image is the most context)."""
    fit = min(view_w / max(image_w, 1.0), view_h / max(image_h, 1.0))
    context = max(FOCUS_CONTEXT_PX, max(image_w, image_h) / 3)
    return max(fit, min(fit * 3.0, min(view_w, view_h) / context, FOCUS_MAX_ZOOM))


class Canvas(QGraphicsView):
    place_requested = pyqtSignal(str, float, float, bool)  # keypoint, x, y, occluded
    point_moved = pyqtSignal(str, float, float)  # keypoint, x, y (a drag ended)
    point_clicked = pyqtSignal(str)  # a point was clicked without moving it
    context_requested = pyqtSignal(str, QPoint)  # keypoint, global position
    cursor_moved = pyqtSignal(float, float)  # image coordinates under the mouse
    zoom_changed = pyqtSignal(float)
    refused = pyqtSignal(str)  # a click that was not turned into an edit, and why

    def __init__(self, parent=None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.setMouseTracking(True)
        self.setBackgroundBrush(QColor("#0f1217"))
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._pixmap_item = QGraphicsPixmapItem()
        self._pixmap_item.setZValue(0)
        self.scene().addItem(self._pixmap_item)
        self._placeholder = Placeholder(QRectF(0, 0, 1, 1))
        self.scene().addItem(self._placeholder)
        self._image: ImageRecord | None = None
        self._schema = Schema()
        self._points: dict[str, PointItem] = {}
        self._edges: list[tuple[EdgeItem, EdgeShadow]] = []
        self._current: str | None = None
        self._show_names = False
        self._records: dict[str, PointRecord] = {}  # the image's rows, drawn or not
        self.hidden: set[str] = set()  # keypoints not drawn (View options)
        self.show_skeleton = True
        self.point_scale = 1.0
        self._source: QImage | None = None  # the pixels as decoded (before brightness/contrast)
        self._adjust = (0.0, 1.0)  # brightness (-1..1), contrast (factor)
        self._drag: tuple[PointItem, QPointF, QPoint, bool] | None = None  # item, offset, press pos, moved
        self._pan_from: QPoint | None = None
        self._mouse: QPoint | None = None  # last mouse position over the viewport
        self._hovered: str | None = None
        self.image_shown = False  # the decoded pixels are on screen (not the placeholder)
        self._hint = ""
        #: Keep the zoom and view centre when the next image has the same size (else fit).
        self.keep_view = True
        self._fitted = True  # the view is "zoom to fit": it stays fitted when the window resizes

    # -- what is shown -------------------------------------------------------------------------
    def set_hint(self, text: str) -> None:
        """A line or two shown in the middle while no image is (e.g. how to start)."""
        self._hint = text
        self.viewport().update()

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        if self._image is None and self._hint:
            painter.save()
            painter.resetTransform()
            painter.setPen(QColor("#8a93a2"))
            font = painter.font()
            font.setPointSizeF(12)
            painter.setFont(font)
            painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, self._hint)
            painter.restore()

    @property
    def image(self) -> ImageRecord | None:
        return self._image

    @property
    def image_rect(self) -> QRectF:
        if self._image is None:
            return QRectF()
        return QRectF(0, 0, self._image.width, self._image.height)

    def clear(self) -> None:
        self._image = None
        self._clear_points()
        self._pixmap_item.setPixmap(QPixmap())
        self._placeholder.setVisible(False)
        self.image_shown = False
        self._source = None
        self._records = {}

    def show_image(self, image: ImageRecord, schema: Schema, points: Mapping[str, PointRecord]) -> None:
        """Show ``image``'s points at once over a placeholder; the pixels follow (set_pixels)."""
        same_size = self._image is not None and (self._image.width, self._image.height) == (image.width, image.height)
        keep = self.keep_view and same_size and not self._fitted
        centre = self.mapToScene(self.viewport().rect().center()) if keep else None
        self._image = image
        self._schema = schema
        self._pixmap_item.setPixmap(QPixmap())
        self._pixmap_item.setTransform(QTransform())
        self.image_shown = False
        self._source = None
        rect = self.image_rect
        self._placeholder.setRect(rect)
        self._placeholder.set_message("")
        self._placeholder.setVisible(True)
        margin = max(rect.width(), rect.height()) * 0.25
        self.scene().setSceneRect(rect.adjusted(-margin, -margin, margin, margin))
        self._clear_points()
        self.set_points(points)
        if centre is None:
            self.fit()
        else:  # same pixel grid: the annotator keeps looking at the same spot, at the same zoom
            self.centerOn(centre)

    def set_pixels(self, qimage: QImage) -> None:
        """Show decoded pixels: a preview of a big image or the full decode, both stretched over
        the registered size, so the image keeps one geometry (the one clicks map to)."""
        self._source = qimage
        if self._adjust != (0.0, 1.0):
            qimage = adjusted(qimage, *self._adjust)
        pixmap = QPixmap.fromImage(qimage)
        self._pixmap_item.setPixmap(pixmap)
        rect = self.image_rect
        scale = QTransform()
        if pixmap.width() and (pixmap.width(), pixmap.height()) != (int(rect.width()), int(rect.height())):
            # a preview, or a file changed since it was registered: stretch it over the registered size
            scale = QTransform.fromScale(rect.width() / pixmap.width(), rect.height() / pixmap.height())
        # always set: a preview's scale left in place drew the full decode after it 2.5x too big
        self._pixmap_item.setTransform(scale)
        self._placeholder.setVisible(False)
        self.image_shown = True
        self._update_pixmap_mode()

    def show_failure(self, message: str) -> None:
        self._pixmap_item.setPixmap(QPixmap())
        self._placeholder.setVisible(True)
        self._placeholder.set_message(message)
        self.image_shown = False

    @property
    def shown_pixels(self) -> QImage:
        """The pixels on screen (after brightness/contrast)."""
        return self._pixmap_item.pixmap().toImage()

    def drawn_edges(self) -> list[tuple[str, str]]:
        return [(edge.a, edge.b) for edge, _ in self._edges]

    @property
    def drawn_rect(self) -> QRectF:
        """Where the pixels are drawn, in image coordinates (equals image_rect once shown)."""
        return self._pixmap_item.sceneBoundingRect()

    @property
    def failure_message(self) -> str:
        return self._placeholder.message if self._placeholder.isVisible() else ""

    def set_points(self, points: Mapping[str, PointRecord]) -> None:
        """Draw these rows (absent and hidden ones are not drawn); items are reused, so no flicker."""
        self._records = dict(points)
        keep = set()
        for index, name in enumerate(self._schema.keypoints):
            rec = points.get(name)
            if rec is None or rec.x is None or rec.y is None or name in self.hidden:
                continue
            keep.add(name)
            item = self._points.get(name)
            if item is None:
                item = PointItem(name, keypoint_colour(index), rec)
                item.setScale(self.point_scale)
                item.set_label_visible(self._show_names)
                item.set_current(name == self._current)
                self.scene().addItem(item)
                self._points[name] = item
            else:
                item.update_record(rec)
        for name in [n for n in self._points if n not in keep]:
            item = self._points.pop(name)
            self.scene().removeItem(item)
            if self._hovered == name:
                self._hovered = None
        self._rebuild_edges()
        self._place_labels()

    def _place_labels(self) -> None:
        """Names near the view's edge go to the side where they are seen whole."""
        view = self.viewport().rect()
        for item in self._points.values():
            p = self.mapFromScene(item.pos())
            item.place_label(view.right() - p.x(), p.y() - view.top())

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        self._place_labels()

    def point_item(self, name: str) -> PointItem | None:
        return self._points.get(name)

    def drawn_points(self) -> dict[str, PointItem]:
        return dict(self._points)

    def set_current_keypoint(self, name: str | None) -> None:
        self._current = name
        for n, item in self._points.items():
            item.set_current(n == name)

    # -- view options (labeler.gui.view_options) --------------------------------------------
    def set_hidden(self, names: set[str]) -> None:
        self.hidden = set(names)
        self.set_points(self._records)

    def set_show_skeleton(self, show: bool) -> None:
        self.show_skeleton = show
        self._rebuild_edges()

    def set_point_scale(self, scale: float) -> None:
        self.point_scale = scale
        for item in self._points.values():
            item.setScale(scale)
        self._place_labels()

    def set_adjust(self, brightness: float, contrast: float) -> None:
        """Brightness (-1..1, added) and contrast (a factor around mid-grey) of the shown pixels;
        the image itself is never changed."""
        self._adjust = (float(brightness), float(contrast))
        if self._source is not None and self.image_shown:
            source = self._source
            self.set_pixels(source)

    @property
    def show_names(self) -> bool:
        return self._show_names

    @property
    def adjust(self) -> tuple[float, float]:
        """(brightness, contrast) of the shown pixels."""
        return self._adjust

    def set_show_names(self, show: bool) -> None:
        self._show_names = show
        for item in self._points.values():
            item.set_label_visible(show)

    @property
    def dragging(self) -> bool:
        return self._drag is not None

    @property
    def hovered_keypoint(self) -> str | None:
        """The keypoint under the mouse, if any (keys O, X, Delete act on it first)."""
        return self._hovered

    def focus_on(self, name: str) -> None:
        """Zoom in on a point and centre it, bounded (:func:`focus_zoom`): enough of the image
        around it stays in view to judge it, and small images are not blown up."""
        item = self._points.get(name)
        if item is None:
            return
        rect = self.image_rect
        view = self.viewport().rect()
        target = focus_zoom(rect.width(), rect.height(), view.width(), view.height())
        if abs(target - self.zoom) > 1e-9:
            self.resetTransform()
            self.scale(target, target)
        self.centerOn(item.pos())
        self._fitted = False
        self._zoomed()

    def points_under_mouse(self) -> list[str]:
        """Every point under the mouse, topmost first (stacked predictions)."""
        if self._mouse is None:
            return []
        out = []
        for item in self.items(self._mouse):
            found = item if isinstance(item, PointItem) else item.parentItem()
            if isinstance(found, PointItem) and found.name not in out:
                out.append(found.name)
        return out

    def cycle_under_mouse(self) -> str | None:
        """Bring the next of the stacked points under the mouse to the top (a press grabs it)."""
        names = self.points_under_mouse()
        if not names:
            return None
        # the topmost goes to the bottom of the stack: the next one is now on top
        chosen = names[1] if len(names) > 1 else names[0]
        order = names[1:] + names[:1]
        for depth, name in enumerate(order):
            self._points[name].setZValue(Z_POINT + 0.5 - depth * 0.01)
        for name, item in self._points.items():
            item.set_hovered(name == chosen)
        self._hovered = chosen
        return chosen

    # -- zoom ----------------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self.transform().m11()

    @property
    def fitted(self) -> bool:
        """True while the view is "zoom to fit" (no zoom or pan since)."""
        return self._fitted

    def view_centre(self) -> QPointF:
        """The image point in the middle of the view."""
        return self.mapToScene(self.viewport().rect().center())

    def fit(self) -> None:
        rect = self.image_rect
        if rect.isEmpty():
            return
        self.resetTransform()
        self.fitInView(rect.adjusted(-rect.width() * 0.01, -rect.height() * 0.01, rect.width() * 0.01, rect.height() * 0.01),
                       Qt.AspectRatioMode.KeepAspectRatio)
        self._fitted = True
        self._zoomed()

    def actual_size(self) -> None:
        """100 %, keeping the image point under the mouse where it is (else the view's centre)."""
        view = self.viewport().rect()
        at = self._mouse if self._mouse is not None and view.contains(self._mouse) else view.center()
        spot = self.mapToScene(at)
        self.resetTransform()
        self.centerOn(spot)
        drift = self.mapFromScene(spot) - at  # centerOn put spot in the middle: move it back under the mouse
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + drift.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + drift.y())
        self._fitted = False
        self._zoomed()

    def resizeEvent(self, event) -> None:  # noqa: ANN001
        super().resizeEvent(event)
        if self._fitted and self._image is not None:
            self.fit()  # a fitted image stays fitted when the window or a panel is resized

    def zoom_by(self, factor: float, anchor: QPoint | None = None) -> None:
        target = min(max(self.zoom * factor, MIN_SCALE), MAX_SCALE)
        factor = target / self.zoom
        if anchor is None:
            old = self.transformationAnchor()
            self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
            self.scale(factor, factor)
            self.setTransformationAnchor(old)
        else:
            self.scale(factor, factor)
        self._fitted = False
        self._zoomed()

    def _zoomed(self) -> None:
        self._update_pixmap_mode()
        self._place_labels()
        self.zoom_changed.emit(self.zoom)

    def _update_pixmap_mode(self) -> None:
        # smooth when shrinking, crisp pixels when magnifying (the annotator sees real pixels)
        mode = Qt.TransformationMode.FastTransformation if self.zoom >= 2 else Qt.TransformationMode.SmoothTransformation
        self._pixmap_item.setTransformationMode(mode)

    # -- internals -----------------------------------------------------------------------------
    def _clear_points(self) -> None:
        for item in self._points.values():
            self.scene().removeItem(item)
        self._points.clear()
        for edge, shadow in self._edges:
            self.scene().removeItem(edge)
            self.scene().removeItem(shadow)
        self._edges.clear()
        self._drag = None
        self._hovered = None

    def _rebuild_edges(self) -> None:
        for edge, shadow in self._edges:
            self.scene().removeItem(edge)
            self.scene().removeItem(shadow)
        self._edges.clear()
        for a, b in self._schema.skeleton if self.show_skeleton else ():
            if a in self._points and b in self._points:
                edge = EdgeItem(a, b)
                shadow = EdgeShadow(edge)
                self.scene().addItem(shadow)
                self.scene().addItem(edge)
                self._edges.append((edge, shadow))
        self._update_edges()

    def _update_edges(self) -> None:
        for edge, shadow in self._edges:
            pa, pb = self._points[edge.a], self._points[edge.b]
            edge.set_ends(pa.pos(), pb.pos(), PREDICTED in (pa.record.status, pb.record.status))
            shadow.follow()

    def _point_at(self, pos: QPoint) -> PointItem | None:
        for item in self.items(pos):
            if isinstance(item, PointItem):
                return item
            parent = item.parentItem()
            if isinstance(parent, PointItem):
                return parent
        return None

    def _clamp(self, p: QPointF) -> QPointF:
        rect = self.image_rect
        return QPointF(min(max(p.x(), 0.0), rect.width()), min(max(p.y(), 0.0), rect.height()))

    # -- mouse ---------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        button = event.button()
        mods = event.modifiers()
        item = self._point_at(pos)
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and mods & Qt.KeyboardModifier.ControlModifier):
            self._start_pan(pos)
            return
        if button == Qt.MouseButton.RightButton:
            if item is not None:
                self.context_requested.emit(item.name, event.globalPosition().toPoint())
            else:
                self._start_pan(pos)
            return
        if button != Qt.MouseButton.LeftButton or self._image is None:
            super().mousePressEvent(event)
            return
        if not self.image_shown:
            # a placeholder (still decoding, or the file is gone): nothing to aim at yet
            self.refused.emit(self.failure_message and f"cannot label this image: {self.failure_message}"
                              or "the image is still loading: click again once it shows")
            return
        scene_pos = self.mapToScene(pos)
        if item is not None:
            self._drag = (item, item.pos() - scene_pos, pos, False)
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if self.image_rect.contains(scene_pos) and self._current is not None:
            placed = self._records.get(self._current)  # hidden or not
            if placed is not None and placed.confirmed and placed.x is not None and not mods & REPLACE_MODIFIER:
                # one stray click must never move a finished point: drag it, or Alt+click
                self.refused.emit(f"{self._current} is already placed: drag it to move it, "
                                  f"or {REPLACE_KEY}+click to place it here")
                return
            p = self._clamp(scene_pos)
            self.place_requested.emit(self._current, p.x(), p.y(), bool(mods & Qt.KeyboardModifier.ShiftModifier))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        self._mouse = pos
        scene_pos = self.mapToScene(pos)
        if self._pan_from is not None:
            delta = pos - self._pan_from
            self._pan_from = pos
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
            self._fitted = False
            return
        if self._drag is not None:
            item, offset, press, moved = self._drag
            if not moved and (pos - press).manhattanLength() < drag_distance():
                return
            item.setPos(self._clamp(scene_pos + offset))
            self._update_edges()
            self._place_labels()
            self._drag = (item, offset, press, True)
            return
        if self._image is not None:
            self.cursor_moved.emit(scene_pos.x(), scene_pos.y())
        item = self._point_at(pos)
        self._hovered = item.name if item is not None else None
        if item is None:
            inside = self.image_rect.contains(scene_pos)
            self.viewport().setCursor(Qt.CursorShape.CrossCursor if inside else Qt.CursorShape.ArrowCursor)
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None and event.button() in (
            Qt.MouseButton.MiddleButton, Qt.MouseButton.RightButton, Qt.MouseButton.LeftButton
        ):
            self._pan_from = None
            self.viewport().unsetCursor()
            return
        if self._drag is not None and event.button() == Qt.MouseButton.LeftButton:
            item, _, _, moved = self._drag
            self._drag = None
            self.viewport().unsetCursor()
            if moved:
                p = item.pos()
                self.point_moved.emit(item.name, p.x(), p.y())
            else:
                self.point_clicked.emit(item.name)
            return
        super().mouseReleaseEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y() or event.angleDelta().x()
        if delta:
            self.zoom_by(1.0015 ** delta, anchor=event.position().toPoint())
        event.accept()

    def leaveEvent(self, event) -> None:  # noqa: ANN001
        self._hovered = None
        self._mouse = None  # keys that act "at the mouse" act at the view's centre now
        super().leaveEvent(event)

    def _start_pan(self, pos: QPoint) -> None:
        self._pan_from = pos
        self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
