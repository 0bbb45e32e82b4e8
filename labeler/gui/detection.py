"""Boxes from a detector in the app (Objects > Find objects with a detector…): the same
detection as ``labeler propagate --boxes detect --prompt`` (one code path,
:func:`labeler.propagation.detect_boxes.propose_boxes`), run off the UI thread.

The dialog asks what to find (a text prompt, e.g. "a bird"), with which OWLv2 detector (a hub id
from the local cache, a local folder, or ``tiny-random`` for tests), the lowest score kept, how
many boxes per image at most, and on which images (this one, or the images a propagation would
predict, optionally narrowed by a pattern). Only images without any box get proposals. The boxes
are stored as *detected* (drawn dashed) for the annotator to keep, adjust (B), or delete
(Shift+Delete) before Propagate predicts keypoints into them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from labeler.correspondence.detection import DEFAULT_DETECTOR, TINY
from labeler.display import shown
from labeler.errors import LabelerError, UserInputError
from labeler.gui import background
from labeler.propagation import PropagationConfig

MAX_PROMPT = 200  # characters: a description, not a document


@dataclass(frozen=True)
class DetectRequest:
    prompt: str
    detector: str
    threshold: float = 0.2
    max_boxes: int = 20
    image_ids: tuple[int, ...] | None = None  # None: the images a propagation would predict
    images: str | None = None  # a pattern over image paths (with image_ids None)

    def check(self) -> None:
        """What the CLI refuses is refused here too, with the same words."""
        if not self.prompt.strip():
            raise UserInputError('say what to find, e.g. "a bird"')
        if len(self.prompt) > MAX_PROMPT or not self.prompt.isprintable():
            raise UserInputError(f"the prompt is at most {MAX_PROMPT} printable characters")
        if not self.detector.strip():
            raise UserInputError(f"name a detector: a hub id such as {DEFAULT_DETECTOR}, a folder, or {TINY}")
        if not (math.isfinite(self.threshold) and 0.0 <= self.threshold <= 1.0):
            raise UserInputError(f"the lowest score is between 0 and 1, not {self.threshold!r}")
        if self.max_boxes < 1:
            raise UserInputError(f"at most boxes must be at least 1, not {self.max_boxes!r}")

    def config(self) -> PropagationConfig:
        """The run's image selection, as ``propagate --images`` takes it."""
        config = PropagationConfig(image_ids=self.image_ids, images=self.images or None)
        config.check()
        return config


def detect(project, request: DetectRequest, report=None):  # noqa: ANN001, ANN201 - Project, Report, BoxProposals
    """Load the detector and store its boxes (on a pool thread): the CLI's path."""
    from labeler.correspondence.detection import load_detector
    from labeler.propagation.detect_boxes import propose_boxes

    request.check()
    config = request.config()
    detector = load_detector(request.detector.strip(), device="cpu")
    progress = None if report is None else (lambda done, total: report(done, total, "finding objects"))
    found = propose_boxes(project, config, detector, request.prompt.strip(), threshold=request.threshold,
                          max_boxes=request.max_boxes, progress=progress)
    return detector.name, found


def summary(name: str, prompt: str, found) -> str:  # noqa: ANN001 - a BoxProposals
    n = sum(len(v) for v in found.boxes.values())
    text = f"detector {name}: {n} box(es) of {shown(prompt)!s} on {len(found.boxes)} of {found.images} image(s)"
    if not found.images and not found.already_boxed and not found.failed:
        text += " (reviewed, flagged and missing images are left out)"
    if found.already_boxed:
        text += f"; {found.already_boxed} image(s) already had boxes and were left alone"
    if found.failed:
        text += f"; {len(found.failed)} failed ({shown(found.failed[0][0])!s}: {found.failed[0][1]})"
    if n:
        text += ". Check them (dashed): I selects, B redraws, Shift+Delete deletes; then Propagate predicts into them"
    return text


class DetectDialog(QDialog):
    def __init__(self, current_path: str | None, last: DetectRequest | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Find objects with a detector")
        self.current_path = current_path
        layout = QVBoxLayout(self)
        intro = QLabel("Boxes around each object the prompt describes, stored as <i>detected</i> for you to keep, "
                       "adjust or delete before Propagate predicts keypoints into them. Images that already "
                       "have a box are left alone.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.prompt = QLineEdit(last.prompt if last else "")
        self.prompt.setMaxLength(MAX_PROMPT)
        self.prompt.setPlaceholderText("a bird")
        self.prompt.textChanged.connect(lambda _: self.error.clear())
        form.addRow("Find:", self.prompt)
        self.detector = QComboBox()
        self.detector.setEditable(True)
        self.detector.addItems([DEFAULT_DETECTOR, TINY])
        if last is not None:
            self.detector.setCurrentText(last.detector)
        browse = QPushButton("Folder…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.detector, 1)
        row.addWidget(browse)
        form.addRow("Detector:", row)
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 1.0)
        self.threshold.setSingleStep(0.05)
        self.threshold.setValue(last.threshold if last else 0.2)
        form.addRow("Lowest score:", self.threshold)
        self.max_boxes = QSpinBox()
        self.max_boxes.setRange(1, 500)
        self.max_boxes.setValue(last.max_boxes if last else 20)
        form.addRow("At most, per image:", self.max_boxes)
        self.this_image = QRadioButton(f"This image ({current_path})" if current_path else "This image")
        self.this_image.setEnabled(current_path is not None)
        self.to_propagate = QRadioButton("The images a propagation would predict (not reviewed), matching:")
        group = QButtonGroup(self)
        group.addButton(self.this_image)
        group.addButton(self.to_propagate)
        (self.this_image if current_path is not None else self.to_propagate).setChecked(True)
        self.pattern = QLineEdit(last.images or "" if last else "")
        self.pattern.setPlaceholderText("every image (or a pattern such as nest/*.jpg)")
        form.addRow("Images:", self.this_image)
        form.addRow("", self.to_propagate)
        form.addRow("", self.pattern)
        layout.addLayout(form)
        self.error = QLabel()
        self.error.setStyleSheet("color: #c0392b")
        self.error.setWordWrap(True)
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.find = buttons.addButton("Find objects", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.request: DetectRequest | None = None

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "An OWLv2 checkpoint folder")
        if folder:
            self.detector.setCurrentText(folder)

    def build(self, current_id: int | None) -> DetectRequest:
        mine = self.this_image.isChecked() and current_id is not None
        return DetectRequest(
            prompt=self.prompt.text(), detector=self.detector.currentText(), threshold=self.threshold.value(),
            max_boxes=self.max_boxes.value(), image_ids=(current_id,) if mine else None,
            images=None if mine else (self.pattern.text().strip() or None))

    def _accept(self) -> None:
        try:
            request = self.build(0)
            request.check()
            if request.images is not None:
                PropagationConfig(images=request.images).check()
        except LabelerError as exc:
            self.error.setText(str(exc))
            return
        self.accept()


class Detection(QObject):
    """Objects > Find objects with a detector…: the dialog, the background job, the result."""

    done = pyqtSignal(object)  # the BoxProposals (tests, and whoever wants to follow)

    def __init__(self, session) -> None:  # noqa: ANN001 - a gui Session
        super().__init__(session)
        self.session = session
        self.last: DetectRequest | None = None
        self.job: background.BackgroundJob | None = None
        self.dialog_box: DetectDialog | None = None

    def dialog(self) -> None:
        s = self.session
        if s.project is None:
            return
        if self.job is not None and not self.job.is_finished:
            s.say("the detector is still finding objects", error=True)
            return
        box = self.dialog_box = DetectDialog(s.current.path if s.current else None, self.last, s.dialog_parent)
        box.accepted.connect(lambda: self.start(box.build(s.current.id if s.current else None)))
        box.open()

    def start(self, request: DetectRequest) -> background.BackgroundJob | None:
        s = self.session
        project = s.project
        if project is None or s.refuse_if_busy():
            return None
        try:
            request.check()
        except LabelerError as exc:
            s.say(str(exc), error=True)
            return None
        self.last = request
        s.say(f"finding {shown(request.prompt.strip())!s} with {request.detector.strip()}…")

        def done(result) -> None:  # noqa: ANN001 - (name, BoxProposals)
            name, found = result
            s.say(summary(name, request.prompt.strip(), found), error=bool(found.failed))
            if s.project is project and s.current is not None:
                s.show(s.current.id)  # the boxes drawn, its instances fresh
            self.done.emit(found)

        def failed(exc: BaseException) -> None:
            if s.project is not project:  # closed (another project opened) while it ran
                s.say("finding objects stopped: its project was closed", error=True)
            elif isinstance(exc, LabelerError):
                s.say(f"finding objects: {exc}", error=True)
            else:
                s.show_error(exc)

        self.job = background.run_in_background(
            lambda report: detect(project, request, report), done, failed,
            on_progress=lambda d, t, text: s.say(f"{text}: {d} of {t} image(s)"),
        )
        return self.job
