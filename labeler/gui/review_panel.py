"""The review panel: what awaits review, the buttons of the review loop, and the two settings
that decide what Space/Enter do with low-confidence predictions.

A prediction below the threshold is "low": W / Shift+W walk them point by point, and
Space/Enter on an image that has some either ask first, accept only those at or above the
threshold, or accept everything (the policy, said in the panel and remembered).
"""

from __future__ import annotations

from collections.abc import Mapping

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from labeler.gui.settings import AppSettings
from labeler.store import PREDICTED, PointRecord

ASK, ABOVE, ALL = "ask", "above", "all"
#: Space/Enter policies for an image with predictions below the threshold: (id, combo text).
POLICIES: tuple[tuple[str, str], ...] = (
    (ASK, "ask first"),
    (ABOVE, "accept only those at or above it"),
    (ALL, "accept them all"),
)
DEFAULT_THRESHOLD = 0.5

#: The panel's buttons: action name (from the shortcut table) -> short text.
BUTTONS: tuple[tuple[str, str], ...] = (
    ("next_to_review", "Next image"),
    ("accept_and_next", "Accept && next"),
    ("previous_low_point", "◀ Low point"),
    ("next_low_point", "Low point ▶"),
    ("accept_above", "Accept all ≥ …"),
    ("repropagate", "Re-propagate"),
)


def low_points(points: Mapping[str, PointRecord], threshold: float) -> list[str]:
    """Predictions below ``threshold`` (unknown confidence counts as low), least confident first."""
    low = [p for p in points.values() if p.status == PREDICTED and (p.confidence is None or p.confidence < threshold)]
    low.sort(key=lambda p: (-1.0 if p.confidence is None else p.confidence, p.name))
    return [p.name for p in low]


class ReviewPanel(QGroupBox):
    settings_changed = pyqtSignal()

    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__("Review", parent)
        self.settings = settings
        self.summary = QLabel("")
        self.summary.setObjectName("muted")
        self.summary.setWordWrap(True)
        self.buttons: dict[str, QPushButton] = {}
        grid = QGridLayout()
        grid.setSpacing(4)
        for i, (action, text) in enumerate(BUTTONS):
            b = QPushButton(text)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setMinimumWidth(40)  # a narrow panel clips a label rather than squeezing the image
            b.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            b.setStyleSheet("padding: 5px 2px;")  # the app's 14 px sides clipped the labels
            b.setMinimumHeight(b.sizeHint().height())  # a short window clips the text below, not the buttons
            grid.addWidget(b, i // 2, i % 2)
            self.buttons[action] = b
        self.buttons["accept_and_next"].setObjectName("primary")
        self.threshold_spin = QDoubleSpinBox()
        self.threshold_spin.setRange(0.0, 1.0)
        self.threshold_spin.setSingleStep(0.05)
        self.threshold_spin.setDecimals(2)
        self.threshold_spin.setValue(self._stored_threshold())
        self.threshold_spin.setToolTip("Predictions below this confidence are low: W walks them, Space/Enter treat them as set below")
        self.threshold_spin.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.policy_combo = QComboBox()
        for key, text in POLICIES:
            self.policy_combo.addItem(text, key)
        self.policy_combo.setCurrentIndex(max(0, self.policy_combo.findData(self._stored_policy())))
        self.policy_combo.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.policy_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.policy_combo.setMinimumContentsLength(8)
        self.policy_text = QLabel("")
        self.policy_text.setObjectName("muted")
        self.policy_text.setWordWrap(True)
        form = QFormLayout()
        form.setContentsMargins(0, 4, 0, 0)
        form.addRow("Low below", self.threshold_spin)
        form.addRow("Space/Enter", self.policy_combo)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addLayout(grid)
        layout.addLayout(form)
        layout.addWidget(self.policy_text)
        self.threshold_spin.valueChanged.connect(self._changed)
        self.policy_combo.currentIndexChanged.connect(self._changed)
        self._update_text()

    # -- settings ------------------------------------------------------------------------------
    def _stored_threshold(self) -> float:
        try:
            return min(max(float(self.settings.value("review/low_threshold", DEFAULT_THRESHOLD)), 0.0), 1.0)
        except (TypeError, ValueError):
            return DEFAULT_THRESHOLD

    def _stored_policy(self) -> str:
        value = str(self.settings.value("review/low_policy", ASK))
        return value if value in dict(POLICIES) else ASK

    @property
    def threshold(self) -> float:
        return float(self.threshold_spin.value())

    @property
    def policy(self) -> str:
        return str(self.policy_combo.currentData())

    def set_policy(self, policy: str) -> None:
        self.policy_combo.setCurrentIndex(self.policy_combo.findData(policy))

    def _changed(self) -> None:
        self.settings.set_value("review/low_threshold", self.threshold)
        self.settings.set_value("review/low_policy", self.policy)
        self._update_text()
        self.settings_changed.emit()

    def _update_text(self) -> None:
        t = f"{self.threshold:.2f}"
        self.policy_text.setText({
            ASK: f"Below {t}: Space/Enter ask before accepting (Shift+Space: all).",
            ABOVE: f"Space/Enter accept only predictions ≥ {t}; lower ones stay (W).",
            ALL: f"Space/Enter accept every prediction, also those below {t}.",
        }[self.policy])

    def set_summary(self, text: str) -> None:
        self.summary.setText(text)


class LowConfidenceBox(QMessageBox):
    """Space/Enter met predictions below the threshold: accept all, only those above, or none."""

    def __init__(self, low: int, total: int, threshold: float, lowest: float | None, parent: QWidget | None = None) -> None:
        lowest_text = "unknown" if lowest is None else f"{lowest:.2f}"
        super().__init__(
            QMessageBox.Icon.Question, "Low-confidence predictions",
            f"{low} of the {total} predictions on this image are below {threshold:.2f} (lowest {lowest_text}).\n"
            "Accept them too? (A: all. Shift+Space accepts all without asking; the review panel sets "
            "the threshold, and whether to ask.)",
            QMessageBox.StandardButton.NoButton, parent,
        )
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.above_button = self.addButton(f"Accept only ≥ {threshold:.2f}", QMessageBox.ButtonRole.AcceptRole)
        self.all_button = self.addButton("&Accept all", QMessageBox.ButtonRole.YesRole)
        self.cancel_button = self.addButton(QMessageBox.StandardButton.Cancel)
        self.setDefaultButton(self.above_button)

    def choice(self) -> str | None:
        """ABOVE, ALL or None (cancelled), after exec()."""
        clicked = self.clickedButton()
        if clicked is self.above_button:
            return ABOVE
        if clicked is self.all_button:
            return ALL
        return None
