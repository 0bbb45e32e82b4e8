"""What the canvas draws over the image: keypoints, skeleton edges, the placeholder.

Keypoints ignore the view's transformation, so they keep their on-screen size at any zoom;
their position is still the scene position = continuous image pixels (pixel i covers [i, i+1)).

Looks (readable on any photo: every mark has a dark outline):
  confirmed visible   filled disc in the keypoint's colour
  confirmed occluded  translucent disc with a dashed outline
  predicted           hollow ring in the keypoint's colour (stacked predictions stay told apart),
                      thicker the more confident, with a small bar under it (length and colour,
                      red low -> green high, = confidence); the number shows on hover
  absent              not drawn (the keypoint panel lists it)
"""

from __future__ import annotations

from PyQt6.QtCore import QLineF, QPointF, QRectF, Qt
from PyQt6.QtGui import QBrush, QColor, QFont, QPainter, QPainterPath, QPen
from PyQt6.QtWidgets import (
    QGraphicsItem,
    QGraphicsLineItem,
    QGraphicsRectItem,
    QGraphicsSimpleTextItem,
    QStyleOptionGraphicsItem,
    QWidget,
)

from labeler.gui.style import confidence_colour
from labeler.store import OCCLUDED, PREDICTED, PointRecord

RADIUS = 5.5  # confirmed disc, screen pixels
RING = 8.0  # prediction ring
HIT = 11.0  # grab radius
OUTLINE = QColor(10, 12, 16, 230)
Z_EDGE, Z_POINT, Z_LABEL = 10, 20, 30


def ring_width(confidence: float | None) -> float:
    """A prediction ring's pen width on screen: 1 px at confidence 0 (or unknown), 4 px at 1."""
    c = 0.0 if confidence is None else min(max(float(confidence), 0.0), 1.0)
    return 1.0 + 3.0 * c


class PointItem(QGraphicsItem):
    """One keypoint of the current image (the canvas moves it while dragging)."""

    def __init__(self, name: str, colour: QColor, record: PointRecord) -> None:
        super().__init__()
        self.name = name
        self.colour = colour
        self.record = record
        self.current = False
        self.hovered = False
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setAcceptHoverEvents(True)
        self.setZValue(Z_POINT)
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        self.label = QGraphicsSimpleTextItem(name, self)
        font = QFont()
        font.setPointSizeF(9.5)
        font.setBold(True)
        self.label.setFont(font)
        self.label.setBrush(QBrush(QColor("#ffffff")))
        self.label.setPen(QPen(OUTLINE, 0.6))
        self.label.setPos(RING + 3, -RING - 10)
        self.label.setZValue(Z_LABEL)
        self.label.setVisible(False)
        self.always_show_label = False
        self.update_record(record)

    @property
    def predicted(self) -> bool:
        return self.record.status == PREDICTED

    def update_record(self, record: PointRecord) -> None:
        self.prepareGeometryChange()
        self.record = record
        if record.x is not None and record.y is not None:
            self.setPos(QPointF(record.x, record.y))
        self._update_tooltip()
        text = self.name
        if record.status == PREDICTED:
            text += f"  {'?' if record.confidence is None else f'{record.confidence:.2f}'}"
        if self.label.text() != text:
            self.label.setText(text)
        self.update()

    def set_hovered(self, hovered: bool) -> None:
        if hovered != self.hovered:
            self.hovered = hovered
            self.label.setVisible(hovered or self.always_show_label)
            self.update()

    def _update_tooltip(self) -> None:
        r = self.record
        what = {"manual": "placed", "accepted": "accepted prediction", "corrected": "corrected prediction"}.get(
            r.status, "prediction"
        )
        conf = f", confidence {r.confidence:.2f}" if r.confidence is not None else ""
        occ = ", occluded" if r.visibility == OCCLUDED else ""
        self.setToolTip(f"{self.name}: {what}{occ}{conf}\n({r.x:.1f}, {r.y:.1f})" if r.x is not None else self.name)

    def set_current(self, current: bool) -> None:
        if current != self.current:
            self.current = current
            self.update()

    def place_label(self, room_right: float, room_above: float) -> None:
        """Put the name where the view shows it: right and above the point by default, left
        when the viewport ends within its width, below when it ends above (screen pixels)."""
        w = self.label.boundingRect().width()
        x = RING + 3 if room_right >= RING + 3 + w + 2 else -(RING + 3 + w)
        y = -RING - 10 if room_above >= RING + 10 + 2 else RING - 2
        if (x, y) != (self.label.pos().x(), self.label.pos().y()):
            self.label.setPos(x, y)

    def set_label_visible(self, always: bool) -> None:
        self.always_show_label = always
        self.label.setVisible(always or self.hovered)

    # -- QGraphicsItem -------------------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        r = HIT + 3
        return QRectF(-r, -r, 2 * r, 2 * r + 2)  # + the confidence bar

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addEllipse(QPointF(0, 0), HIT, HIT)
        return path

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        r = self.record
        emphasis = 1.25 if (self.hovered or self.current) else 1.0
        if self.current:
            painter.setPen(QPen(QColor(255, 255, 255, 200), 1.5, Qt.PenStyle.DotLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawEllipse(QPointF(0, 0), RING + 4.5, RING + 4.5)
        if r.status == PREDICTED:
            conf = 0.0 if r.confidence is None else min(max(float(r.confidence), 0.0), 1.0)
            width = ring_width(r.confidence)
            rad = RING * emphasis
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(OUTLINE, width + 2.4))
            painter.drawEllipse(QPointF(0, 0), rad, rad)
            painter.setPen(QPen(self.colour, width))
            painter.drawEllipse(QPointF(0, 0), rad, rad)
            painter.setPen(QPen(OUTLINE, 1.0))
            painter.setBrush(QBrush(self.colour))
            painter.drawEllipse(QPointF(0, 0), 1.8 * emphasis, 1.8 * emphasis)
            # the confidence bar under the ring: full width = 1.0
            bar = QRectF(-RING, RING + 3.0, 2 * RING, 3.0)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QBrush(OUTLINE))
            painter.drawRect(bar.adjusted(-1, -1, 1, 1))
            painter.setBrush(QBrush(confidence_colour(r.confidence)))
            painter.drawRect(QRectF(bar.left(), bar.top(), bar.width() * conf, bar.height()))
        elif r.visibility == OCCLUDED:
            rad = RADIUS * emphasis
            fill = QColor(self.colour)
            fill.setAlpha(90)
            painter.setBrush(QBrush(fill))
            painter.setPen(QPen(OUTLINE, 3.2))
            painter.drawEllipse(QPointF(0, 0), rad, rad)
            pen = QPen(self.colour, 2.0, Qt.PenStyle.DashLine)
            pen.setDashPattern([2.0, 1.6])
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawEllipse(QPointF(0, 0), rad, rad)
        else:
            rad = RADIUS * emphasis
            painter.setPen(QPen(OUTLINE, 1.8))
            painter.setBrush(QBrush(self.colour))
            painter.drawEllipse(QPointF(0, 0), rad, rad)

    def hoverEnterEvent(self, event) -> None:  # noqa: ANN001
        self.hovered = True
        self.label.setVisible(True)
        self.update()
        super().hoverEnterEvent(event)

    def hoverLeaveEvent(self, event) -> None:  # noqa: ANN001
        self.hovered = False
        self.label.setVisible(self.always_show_label)
        self.update()
        super().hoverLeaveEvent(event)


class EdgeItem(QGraphicsLineItem):
    """A skeleton edge; cosmetic pen (constant width on screen), dashed if an end is predicted."""

    def __init__(self, a: str, b: str) -> None:
        super().__init__()
        self.a, self.b = a, b
        self.setZValue(Z_EDGE)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def set_ends(self, pa: QPointF, pb: QPointF, predicted: bool) -> None:
        pen = QPen(QColor(235, 238, 242, 210), 1.6, Qt.PenStyle.DashLine if predicted else Qt.PenStyle.SolidLine)
        pen.setCosmetic(True)
        self.setPen(pen)
        self.setLine(QLineF(pa, pb))


class EdgeShadow(QGraphicsLineItem):
    """A dark line under an edge so it reads on bright backgrounds."""

    def __init__(self, edge: EdgeItem) -> None:
        super().__init__()
        self.setZValue(Z_EDGE - 1)
        pen = QPen(QColor(0, 0, 0, 150), 3.4)
        pen.setCosmetic(True)
        self.setPen(pen)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.edge = edge

    def follow(self) -> None:
        self.setLine(self.edge.line())


class Placeholder(QGraphicsRectItem):
    """Shown where the image should be while it decodes, or when it cannot be read."""

    def __init__(self, rect: QRectF) -> None:
        super().__init__(rect)
        self.setBrush(QBrush(QColor("#232833")))
        pen = QPen(QColor("#3a4251"), 1)
        pen.setCosmetic(True)
        self.setPen(pen)
        self.setZValue(-1)
        self.message = ""  # as given (the text drawn breaks it after the path)
        self.text = QGraphicsSimpleTextItem("", self)
        self.text.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.text.setBrush(QBrush(QColor("#ff9b9b")))
        font = QFont()
        font.setPointSizeF(11)
        self.text.setFont(font)

    def set_message(self, message: str) -> None:
        self.message = message
        self.text.setText(message.replace(": ", ":\n", 1))  # the path, then why: each on its own line
        self.text.setPos(self.rect().topLeft() + QPointF(self.rect().width() * 0.02, self.rect().height() * 0.02))
