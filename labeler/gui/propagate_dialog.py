"""Propagate dialog: method, model, preset, device and batch size, with the plan shown before
anything runs (how many references and targets, what it costs), computed off the UI thread by
:func:`labeler.propagation.plan_propagation`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from labeler.cluster.connection import ClusterOptions
from labeler.correspondence.cards import all_cards, is_test_model
from labeler.correspondence.method_info import describe as describe_method
from labeler.correspondence.method_info import recommended_method
from labeler.correspondence.fusion_config import FUSION_PAPER_PRESETS
from labeler.correspondence.registry import METHODS, presets_for
from labeler.errors import LabelerError, UserInputError
from labeler.gui.background import run_in_background
from labeler.gui.cluster_panel import RunOnBox
from labeler.propagation import PropagationConfig, PropagationPlan
from labeler.store import Project

METHOD_TEXT = {
    "dift": "DIFT: diffusion features (Tang et al. 2023), one UNet pass per image",
    "attention": "Attention: optimised prompts (Hedlin et al. 2023), slow, strong on hard pairs",
    "classical": "Classical: dense SIFT, no model, no GPU (quick baseline)",
    "fusion": "Fusion: SD + DINOv2 features (Zhang et al. 2023/2024), most accurate",
}
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "float16", "bfloat16")
DEFAULT_MODEL_TEXT = "(method's default)"
TEST_MODEL_TEXT = "TEST MODEL with random weights: its predictions carry no content (tests and timing only)"


def parse_settings(text: str) -> dict[str, Any]:
    """``"resolution=256, ensemble=2"`` -> overrides (values read as JSON when they parse)."""
    out: dict[str, Any] = {}
    for part in [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]:
        name, sep, value = part.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UserInputError(f"engine setting {part!r}: expected NAME=VALUE, e.g. resolution=256")
        try:
            out[name.strip()] = json.loads(value)
        except ValueError:
            out[name.strip()] = value.strip()
    return out


def format_settings(overrides: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in overrides.items())


def describe_plan(plan: PropagationPlan) -> str:
    lines = [
        f"<b>{plan.targets}</b> image(s) to predict"
        + (f", {plan.up_to_date} already up to date (skipped)" if plan.up_to_date else ""),
        f"References: {plan.reference_images} image(s); keypoints with a reference: "
        f"{', '.join(plan.keypoints_with_reference) or 'none'}",
        f"Cost: {plan.cost.description}",
    ]
    if plan.flip:
        lines.append("Flip-aware: each target is also matched mirrored, the better pose is kept.")
    lines += [f"<span style='color:#e0a63a'>⚠ {w}</span>" for w in plan.warnings]
    return "<br>".join(lines)


class RepropagateBox(QMessageBox):
    """Says how "Re-propagate unreviewed" will run (method, model, preset, device) before it does."""

    def __init__(self, config: PropagationConfig, parent: QWidget | None = None) -> None:
        model = config.model or "the method's default model"
        test = " (a TEST MODEL with random weights: its predictions carry no content)" if is_test_model(config.model) else ""
        super().__init__(
            QMessageBox.Icon.Question, "Re-propagate unreviewed",
            f"Predict every unreviewed image again with\n\n  method {config.method}, {model}{test},\n"
            f"  preset {config.preset}, device {config.device}\n\n"
            "Every correction and accepted point is a reference now.",
            QMessageBox.StandardButton.NoButton, parent,
        )
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.run_button = self.addButton("Re-propagate", QMessageBox.ButtonRole.AcceptRole)
        self.change_button = self.addButton("Change settings…", QMessageBox.ButtonRole.ActionRole)
        self.addButton(QMessageBox.StandardButton.Cancel)
        self.setDefaultButton(self.run_button)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)


class WrappedLabel(QLabel):
    """A word-wrapped label that asks for the height its text needs at its width (a wrapped
    QLabel in a form gets too little, and its last lines were clipped)."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setWordWrap(True)

    def resizeEvent(self, event) -> None:  # noqa: ANN001
        super().resizeEvent(event)
        self._fit()

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        super().setText(text)
        self._fit()

    def _fit(self) -> None:
        if self.width() > 0:
            need = self.heightForWidth(self.width())
            if need > 0 and need != self.minimumHeight():
                self.setMinimumHeight(need)


class PropagateDialog(QDialog):
    def __init__(
        self,
        project: Project,
        initial: PropagationConfig | None = None,
        parent: QWidget | None = None,
        *,
        plan_fn: Callable[[Project, PropagationConfig], PropagationPlan] | None = None,
        cluster: ClusterOptions | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Propagate keypoints")
        self.resize(640, 680)
        self.project = project
        from labeler.propagation import plan_propagation

        self._plan_fn = plan_fn or plan_propagation
        initial = initial or PropagationConfig(method=recommended_method())
        self.method = QComboBox()
        for m in METHODS:
            self.method.addItem(METHOD_TEXT.get(m, m), m)
        self.method_info = WrappedLabel("")
        self.method_info.setObjectName("methodInfo")
        self.method_info.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.setToolTip("A model card key, a Hugging Face id, a local folder or a .safetensors file")
        browse = QPushButton("Folder…")
        browse.clicked.connect(self._browse_model)
        self.preset = QComboBox()  # filled per method by _fill_presets
        self.device = QComboBox()
        self.device.addItems(DEVICES)
        self.dtype = QComboBox()
        self.dtype.addItems(DTYPES)
        self.batch = QSpinBox()
        self.batch.setRange(1, 256)
        self.max_refs = QSpinBox()
        self.max_refs.setRange(1, 256)
        self.images = QLineEdit()
        self.images.setPlaceholderText("all images (or a pattern such as nest/*.jpg)")
        self.flip = QCheckBox("Flip-aware matching (when the schema has left/right pairs)")
        self.force = QCheckBox("Predict again images that are already up to date")
        self.settings = QLineEdit()
        self.settings.setPlaceholderText("engine settings, e.g. resolution=512, ensemble=2")
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(browse)
        self.model_warning = WrappedLabel("")
        self.model_warning.setObjectName("error")
        self.model_warning.setVisible(False)
        form = QFormLayout()
        form.addRow("Method", self.method)
        form.addRow("", self.method_info)
        form.addRow("Model", model_row)
        form.addRow("", self.model_warning)
        form.addRow("Preset", self.preset)
        form.addRow("Device", self.device)
        form.addRow("Precision", self.dtype)
        form.addRow("Batch size", self.batch)
        form.addRow("References per keypoint", self.max_refs)
        form.addRow("Images", self.images)
        form.addRow("", self.flip)
        form.addRow("", self.force)
        form.addRow("Settings", self.settings)
        self.plan_label = WrappedLabel("computing the plan…")
        self.plan_label.setTextFormat(Qt.TextFormat.RichText)
        plan_box = QGroupBox("Plan")
        QVBoxLayout(plan_box).addWidget(self.plan_label)
        self.error = WrappedLabel("")
        self.error.setObjectName("error")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Propagate")
        self.ok.setObjectName("primary")
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        # everything but the buttons scrolls when the screen is shorter than the dialog (1024 x 700)
        body = QWidget()
        inner = QVBoxLayout(body)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addLayout(form)
        self.run_on = RunOnBox(cluster)
        inner.addWidget(self.run_on)
        inner.addWidget(plan_box, 1)
        inner.addWidget(self.error)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(body)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(buttons)
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        if screen is not None and not screen.isEmpty():
            wide = max(640, body.minimumSizeHint().width() + 2 * layout.contentsMargins().left() + 20)
            self.resize(min(wide, screen.width() - 40), min(700, screen.height() - 60))
        self.plan: PropagationPlan | None = None
        self._plan_timer = QTimer(self)
        self._plan_timer.setSingleShot(True)
        self._plan_timer.setInterval(250)
        self._plan_timer.timeout.connect(self._compute_plan)
        self._plan_serial = 0
        self._load(initial)
        for w in (self.method, self.model, self.preset, self.device, self.dtype):
            w.currentIndexChanged.connect(self._changed)
        self.model.editTextChanged.connect(self._changed)
        self.model.editTextChanged.connect(self._update_model_warning)
        for w in (self.batch, self.max_refs):
            w.valueChanged.connect(self._changed)
        for w in (self.images, self.settings):
            w.textChanged.connect(self._changed)
        for w in (self.flip, self.force):
            w.toggled.connect(self._changed)
        self.method.currentIndexChanged.connect(self._fill_models)
        self.method.currentIndexChanged.connect(self._fill_presets)
        self._update_model_warning()
        self._compute_plan()

    # -- config <-> widgets --------------------------------------------------------------------
    def _load(self, c: PropagationConfig) -> None:
        self.method.setCurrentIndex(max(0, self.method.findData(c.method)))
        self._fill_models()
        self.model.setCurrentText(c.model or DEFAULT_MODEL_TEXT)
        self._fill_presets()
        self.preset.setCurrentText(c.preset)
        self.device.setCurrentText(c.device)
        self.dtype.setCurrentText(c.dtype)
        self.batch.setValue(c.batch_size)
        self.max_refs.setValue(c.max_references)
        self.images.setText(c.images or "")
        self.flip.setChecked(c.flip is not False)
        self.force.setChecked(c.force)
        self.settings.setText(format_settings(dict(c.overrides)))

    def _fill_models(self) -> None:
        method = self.method.currentData()
        self.method_info.setText(describe_method(method) if method else "")
        keep = self.model.currentText()
        self.model.blockSignals(True)
        self.model.clear()
        self.model.addItem(DEFAULT_MODEL_TEXT)
        if method != "classical":
            cards = [(k, c) for k, c in all_cards().items() if method in c.methods or not c.methods]
            for key, card in cards:
                if not card.test_only:
                    self.model.addItem(key)
            tests = [key for key, card in cards if card.test_only]
            if tests:  # last, apart, and said to be what they are
                self.model.insertSeparator(self.model.count())
                for key in tests:
                    self.model.addItem(key)
                    self.model.setItemData(self.model.count() - 1, TEST_MODEL_TEXT, Qt.ItemDataRole.ToolTipRole)
        self.model.setEnabled(method != "classical")
        self.model.setCurrentText(keep if keep and method != "classical" else DEFAULT_MODEL_TEXT)
        self.model.blockSignals(False)
        self._update_model_warning()

    def _fill_presets(self) -> None:
        """The presets the chosen method offers (fusion's paper-named ones too); the current one
        kept where the new method has it, else ``fast``."""
        method = self.method.currentData() or "dift"
        keep = self.preset.currentText()
        self.preset.blockSignals(True)
        self.preset.clear()
        self.preset.addItems(list(presets_for(method)))
        if method == "fusion":
            for name, text in FUSION_PAPER_PRESETS.items():
                self.preset.setItemData(self.preset.findText(name), text, Qt.ItemDataRole.ToolTipRole)
        self.preset.setCurrentText(keep if self.preset.findText(keep) >= 0 else "fast")
        self.preset.blockSignals(False)

    def _update_model_warning(self) -> None:
        test = self.method.currentData() != "classical" and is_test_model(self.model.currentText().strip())
        self.model_warning.setText(f"⚠ {self.model.currentText().strip()}: {TEST_MODEL_TEXT}" if test else "")
        self.model_warning.setVisible(test)

    def _browse_model(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Diffusers model folder")
        if folder:
            self.model.setCurrentText(folder)

    def config(self) -> PropagationConfig:
        """The chosen settings (raises LabelerError for bad input)."""
        model = self.model.currentText().strip()
        config = PropagationConfig(
            method=self.method.currentData(),
            model=None if not model or model == DEFAULT_MODEL_TEXT or self.method.currentData() == "classical" else model,
            preset=self.preset.currentText(),
            device=self.device.currentText(),
            dtype=self.dtype.currentText(),
            batch_size=self.batch.value(),
            images=self.images.text().strip() or None,
            force=self.force.isChecked(),
            flip=None if self.flip.isChecked() else False,
            max_references=self.max_refs.value(),
            overrides=parse_settings(self.settings.text()),
        )
        config.check()
        return config

    # -- the plan ------------------------------------------------------------------------------
    def _changed(self) -> None:
        self._plan_timer.start()

    def _compute_plan(self) -> None:
        try:
            config = self.config()
        except LabelerError as exc:
            self._show_error(str(exc))
            return
        self._plan_serial += 1
        serial = self._plan_serial
        self.plan_label.setText("computing the plan…")
        run_in_background(
            lambda: self._plan_fn(self.project, config),
            lambda plan: self._plan_ready(serial, plan),
            lambda exc: self._plan_failed(serial, exc),
            owner=self,
        )

    def _plan_ready(self, serial: int, plan: PropagationPlan) -> None:
        if serial != self._plan_serial:
            return  # settings changed meanwhile: a newer plan is coming
        self.plan = plan
        self.error.setText("")
        self.plan_label.setText(describe_plan(plan))
        self.ok.setEnabled(bool(plan.keypoints_with_reference) and (plan.targets > 0 or self.force.isChecked()))

    def _plan_failed(self, serial: int, exc: BaseException) -> None:
        if serial != self._plan_serial:
            return
        if not isinstance(exc, LabelerError):
            raise exc
        self._show_error(str(exc))

    def _show_error(self, text: str) -> None:
        self.plan = None
        self.plan_label.setText("")
        self.error.setText(text)
        self.ok.setEnabled(False)

    def cluster(self) -> ClusterOptions | None:
        """Where to run: None for this machine, else the Ray cluster's options."""
        return self.run_on.options()

    def _accept(self) -> None:
        try:
            self.config()
            self.cluster()
        except LabelerError as exc:
            self._show_error(str(exc))
            return
        self.accept()
