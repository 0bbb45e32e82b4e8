"""Look of the app: stylesheet, icons (small SVGs in resources/icons), keypoint colours."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PyQt6.QtGui import QColor, QIcon

from labeler.paths import resources_dir

#: Distinct colours that read on light and dark photos alike (bright, saturated).
KEYPOINT_PALETTE: tuple[str, ...] = (
    "#ff5c5c", "#ffa53d", "#ffe03d", "#7ee05c", "#2ee6b0", "#3db4ff", "#8f7bff", "#ff66c4",
    "#d9a3ff", "#b6f03c", "#5ce1f0", "#ff8a5c", "#c0c8d4", "#ffc2e0", "#8fd0a0", "#ffd18a",
)

#: Review-status colours used by the image list and the counts.
STATUS_COLOURS: dict[str, str] = {
    "unlabeled": "#6b7380",
    "partial": "#e0a63a",
    "predicted": "#3db4ff",
    "reviewed": "#4cd17a",
}


def keypoint_colour(index: int) -> QColor:
    return QColor(KEYPOINT_PALETTE[index % len(KEYPOINT_PALETTE)])


def confidence_colour(confidence: float | None) -> QColor:
    """Red (0) through yellow to green (1); grey when the engine gave no confidence."""
    if confidence is None:
        return QColor("#a0a6b0")
    c = min(max(float(confidence), 0.0), 1.0)
    return QColor.fromHsvF(c * 0.33, 0.85, 1.0)


def resource(name: str) -> Path:
    return resources_dir() / name


@cache
def icon(name: str) -> QIcon:
    """``resources/icons/<name>.svg`` (an empty icon when the file is missing)."""
    path = resource(f"icons/{name}.svg")
    return QIcon(str(path)) if path.is_file() else QIcon()


def stylesheet() -> str:
    """The app's stylesheet; ``@RESOURCES@`` in it becomes the resources folder (Qt reads a
    relative ``url()`` against the working directory, not the stylesheet's folder)."""
    path = resource("style.qss")
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    return text.replace("@RESOURCES@", resource("").as_posix().rstrip("/"))
