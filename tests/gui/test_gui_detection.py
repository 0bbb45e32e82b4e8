"""Boxes from a detector in the app (Objects > Find objects with a detector…, Ctrl+Shift+B): the
CLI's detection path, off the UI thread; detected boxes are drawn dashed for the annotator to
keep, redraw or delete before Propagate predicts into them. The tiny random detector stands in."""

from __future__ import annotations

import os

from gui_helpers import drag_point, key, wait_shown
from PyQt6.QtCore import Qt

from labeler.gui.detection import DetectRequest
from labeler.store import Project


def _boxes(path, image):
    with Project.open(path) as p:  # a second connection: what is on disk
        return [(i.box_source, i.box) for i in p.instances(image)]


def _messages(window):
    said = []
    window.session.message.connect(lambda text, error: said.append((text, error)))
    return said


def test_the_dialog_runs_the_detector_and_the_boxes_are_reviewed_in_the_window(qtbot, window):
    wait_shown(qtbot, window)
    said = _messages(window)
    image = window.current.id
    key(qtbot, window, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    box = window.instances.detection.dialog_box
    qtbot.waitUntil(box.isVisible)
    box.find.click()  # no prompt: said in the dialog, which stays open, nothing runs
    assert box.isVisible() and "what to find" in box.error.text() and window.instances.detection.job is None
    box.prompt.setText("a bird")
    box.detector.setCurrentText("tiny-random")
    box.threshold.setValue(0.0)
    box.max_boxes.setValue(3)
    if os.environ.get("LABELER_SHOT"):
        box.grab().save(os.environ["LABELER_SHOT"].replace(".png", "-dialog.png"))
    box.find.click()
    job = window.instances.detection.job
    qtbot.waitUntil(lambda: job.is_finished, timeout=60000)
    assert job.error is None
    found = _boxes(window.project.path, image)
    assert len(found) == 3 and {s for s, _ in found} == {"detected"}
    assert any("3 box(es) of a bird on 1 of 1 image(s)" in t for t, _ in said)
    wait_shown(qtbot, window)
    qtbot.waitUntil(lambda: len(window.instances.items) == 3)
    assert all(r.pen().style() == Qt.PenStyle.DashLine for r, _ in window.instances.items)  # detected: dashed
    if os.environ.get("LABELER_SHOT"):
        window.grab().save(os.environ["LABELER_SHOT"])
    key(qtbot, window, Qt.Key.Key_B)  # adjust the selected one: a drawn box now
    drag_point(qtbot, window, (10, 10), (50, 40))
    key(qtbot, window, Qt.Key.Key_I)
    key(qtbot, window, Qt.Key.Key_Delete, Qt.KeyboardModifier.ShiftModifier)  # and delete another
    after = _boxes(window.project.path, image)
    assert len(after) == 2 and sorted(s for s, _ in after) == ["detected", "drawn"]
    # run again: the image has boxes now, so it is left alone (a person's boxes are never second-guessed)
    job = window.instances.detection.start(DetectRequest("a bird", "tiny-random", 0.0, 3, image_ids=(image,)))
    qtbot.waitUntil(lambda: job.is_finished, timeout=60000)
    assert _boxes(window.project.path, image) == after
    assert "already had boxes" in said[-1][0]


def test_a_detector_that_cannot_load_is_one_message_and_stores_nothing(qtbot, window, tmp_path):
    wait_shown(qtbot, window)
    said = _messages(window)
    image = window.current.id
    job = window.instances.detection.start(DetectRequest("a bird", str(tmp_path / "no-such-model"), image_ids=(image,)))
    qtbot.waitUntil(lambda: job.is_finished, timeout=60000)
    assert said[-1][1] is True and "cannot load the detector" in said[-1][0]
    assert [s for s, _ in _boxes(window.project.path, image)] in ([], [None])
    for bad, words in ((DetectRequest("  ", "tiny-random"), "what to find"),
                       (DetectRequest("a\x1b[31mbird", "tiny-random"), "printable"),
                       (DetectRequest("a bird", "tiny-random", images="  x/*.nothing"), "matches no image")):
        job = window.instances.detection.start(bad)
        if job is not None:
            qtbot.waitUntil(lambda: job.is_finished, timeout=60000)
        assert said[-1][1] is True and words in said[-1][0], said[-1]
    window.project.set_image_flag(image, "skip")  # out of review: nothing to find on, and it says why
    job = window.instances.detection.start(DetectRequest("a bird", "tiny-random", 0.0, image_ids=(image,)))
    qtbot.waitUntil(lambda: job.is_finished, timeout=60000)
    assert "on 0 of 0 image(s) (reviewed, flagged and missing images are left out)" in said[-1][0]
    assert [s for s, _ in _boxes(window.project.path, image)] in ([], [None])


def test_detected_boxes_are_propagated_into_then_reviewed_object_by_object(qtbot, make_window, project_path):
    from gui_helpers import label_first_image

    from labeler.propagation import PropagationConfig

    label_first_image(project_path)
    window = make_window(project_path)
    wait_shown(qtbot, window)
    window.step_image(1)
    wait_shown(qtbot, window)
    target = window.current.id
    job = window.instances.detection.start(DetectRequest("a bird", "tiny-random", 0.0, 2, image_ids=(target,)))
    qtbot.waitUntil(lambda: job.is_finished, timeout=60000)
    objects = [i.id for i in window.project.instances(target)]
    assert len(objects) == 2
    with qtbot.waitSignal(window.runner.finished, timeout=120_000):
        window.start_propagation(PropagationConfig(method="classical", image_ids=(target,), flip=False))
    with Project.open(project_path) as p:
        assert all(p.points(target, o) for o in objects)  # a prediction in each detected box
        first = p.instances_to_review(target)[0]
    window.show_image(target)
    wait_shown(qtbot, window)
    assert window.instances.current == first
    key(qtbot, window, Qt.Key.Key_Space, Qt.KeyboardModifier.ShiftModifier)
    assert (window.current.id, window.instances.current) == (target, next(o for o in objects if o != first))
    key(qtbot, window, Qt.Key.Key_Space, Qt.KeyboardModifier.ShiftModifier)  # the last object: then the queue
    assert "accepted all 4 prediction(s)" in window.statusBar().currentMessage()
    with Project.open(project_path) as p:
        assert p.instances_to_review(target) == [] and p.image(target).review_status == "reviewed"
