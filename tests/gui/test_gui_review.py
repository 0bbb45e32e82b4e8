"""Review: next to review walks least-confident first, Space/Enter accept, accept above a
threshold (one undo step), and re-propagate uses corrections as references."""

from __future__ import annotations

import pytest
from gui_helpers import drag_point, key, wait_shown
from PyQt6.QtCore import Qt

from labeler.gui.review import AcceptAboveDialog
from labeler.store import ACCEPTED, CORRECTED, PREDICTED, REVIEW_PREDICTED, REVIEWED, Project

#: image index (in path order) -> confidence of every keypoint predicted on it
CONFIDENCE = {1: 0.9, 2: 0.2, 3: 0.6, 4: 0.4}


@pytest.fixture
def predicted(project_path):
    """Image 0 labelled; images 1-4 predicted with the confidences above; image 5 untouched."""
    with Project.open(project_path) as p:
        ids = [r[0] for r in p.image_index()]
        p.set_points(ids[0], {"nose": (48, 20), "left_eye": (30, 30), "right_eye": (66, 30), "tail": (48, 66)})
        names = ("nose", "left_eye", "right_eye", "tail")
        items = [(ids[i], {n: (15.0 + 20 * k + i, 30.0, c) for k, n in enumerate(names)}) for i, c in CONFIDENCE.items()]
        p.write_predictions(items, method="test", model=None, signature="s1")
    return ids


def statuses(path):
    with Project.open(path) as p:
        return {i: s for i, _, s in p.image_index()}


def test_next_to_review_goes_least_confident_first(qtbot, make_window, project_path, predicted):
    window = make_window(project_path)
    order = []
    for _ in range(4):
        key(qtbot, window, Qt.Key.Key_N)
        order.append(window.current.id)
    assert order == [predicted[2], predicted[4], predicted[3], predicted[1]]
    key(qtbot, window, Qt.Key.Key_N)  # every one passed over once: the queue starts again
    assert window.current.id == predicted[2]
    assert "4 image(s) with predictions to review" in window.review_label.text()


def test_space_accepts_and_moves_on_enter_accepts_in_place(qtbot, make_window, project_path, predicted):
    window = make_window(project_path)
    window.review_panel.set_policy("all")  # low confidences too (test_gui_point_review covers the others)
    key(qtbot, window, Qt.Key.Key_N)
    first = window.current.id
    assert all(item.predicted for item in window.canvas.drawn_points().values())
    key(qtbot, window, Qt.Key.Key_Space)
    assert statuses(project_path)[first] == REVIEWED
    second = window.current.id
    assert second == predicted[4]
    key(qtbot, window, Qt.Key.Key_Return)
    assert window.current.id == second and statuses(project_path)[second] == REVIEWED
    assert not any(item.predicted for item in window.canvas.drawn_points().values())
    assert window.keypoints.status_of("tail") == "accepted"
    window.actions["undo"].trigger()  # one step takes the whole image back
    assert statuses(project_path)[second] == REVIEW_PREDICTED
    window.actions["undo"].trigger()  # and the previous accept: the view follows it
    assert statuses(project_path)[first] == REVIEW_PREDICTED
    assert window.current.id == first


def test_correction_then_accept_keeps_the_correction(qtbot, make_window, project_path, predicted):
    window = make_window(project_path)
    window.review_panel.set_policy("all")
    window.show_image(predicted[2])
    wait_shown(qtbot, window)
    drag_point(qtbot, window, (17, 30), (20, 50))  # nose
    key(qtbot, window, Qt.Key.Key_Return)
    with Project.open(project_path) as p:
        rows = p.points(predicted[2])
    assert rows["nose"].status == CORRECTED
    assert {rows[n].status for n in ("left_eye", "right_eye", "tail")} == {ACCEPTED}


@pytest.mark.parametrize("bulk", [False, True], ids=["per-image reads", "bulk reads"])
def test_accept_above_threshold_is_one_undo_step(qtbot, make_window, project_path, predicted, monkeypatch, bulk):
    if bulk:  # the code path of big projects: one read of every point, one restore transaction
        monkeypatch.setattr("labeler.gui.commands.BULK_IMAGES", 1)
        monkeypatch.setattr("labeler.gui.commands.BULK_ROWS", 1)
    window = make_window(project_path)
    dialog = AcceptAboveDialog([0.9, 0.2, 0.6, None], 0.5)
    assert dialog.qualifying() == 2
    assert "median 0.60, highest 0.90" in dialog.count.text()  # helps pick a threshold
    dialog.spin.setValue(0.95)
    assert dialog.qualifying() == 0 and not dialog.ok.isEnabled()
    monkeypatch.setattr(AcceptAboveDialog, "exec", lambda self: (self.spin.setValue(0.5), 1)[1])
    window.actions["accept_above"].trigger()
    qtbot.waitUntil(lambda: window.labeling.bulk_job is not None and window.labeling.bulk_job.is_finished)
    assert "accepted 8 prediction(s)" in window.statusBar().currentMessage()
    s = statuses(project_path)
    assert [s[predicted[i]] for i in (1, 2, 3, 4)] == [REVIEWED, REVIEW_PREDICTED, REVIEWED, REVIEW_PREDICTED]
    window.actions["undo"].trigger()
    if bulk:  # written off the UI thread (28 s for 60,000 rows once froze the window); edits wait
        assert window.history_job is not None
        window.labeling.accept_current()
        assert "bulk edit" in window.statusBar().currentMessage()
        qtbot.waitUntil(lambda: window.history_job is None)
    s = statuses(project_path)
    assert [s[predicted[i]] for i in (1, 2, 3, 4)] == [REVIEW_PREDICTED] * 4
    assert window.undo_stack.index() == 0
    window.actions["redo"].trigger()
    qtbot.waitUntil(lambda: window.history_job is None)
    assert statuses(project_path)[predicted[3]] == REVIEWED and window.undo_stack.index() == 1
    with Project.open(project_path) as p:
        assert {r.status for r in p.points(predicted[1]).values()} == {ACCEPTED}


def test_repropagate_uses_corrections_as_references(qtbot, make_window, project_path, predicted):
    from labeler.propagation import PropagationConfig, plan_propagation

    window = make_window(project_path)
    config = PropagationConfig(method="classical", device="cpu", flip=False, overrides={"work_side": 64, "step": 4})
    with qtbot.waitSignal(window.runner.finished, timeout=120_000):
        window.start_propagation(config)
    window.show_image(predicted[2])
    wait_shown(qtbot, window)
    before = plan_propagation(window.project, config)
    assert before.targets == 0 and before.reference_images == 1  # everything up to date
    start = (window.current_points["tail"].x, window.current_points["tail"].y)
    drag_point(qtbot, window, start, (60, 60))
    after = plan_propagation(window.project, config)
    assert after.reference_images == 2  # the correction is a reference now
    assert after.targets == 5  # so every unreviewed image is stale (the corrected one keeps 3 predictions)
    window.actions["repropagate"].trigger()  # says which method and model first
    assert "method classical" in window.propagation.repropagate_box.text()
    with qtbot.waitSignal(window.runner.finished, timeout=120_000) as done:
        window.propagation.repropagate_box.run_button.click()
    assert done.args[0].predicted_images == 5
    with Project.open(project_path) as p:
        assert p.points(predicted[2])["tail"].status == CORRECTED  # never overwritten
        assert p.points(predicted[5])["nose"].status == PREDICTED


@pytest.mark.parametrize("flag", ["skip", "no_object", "later"])
def test_bulk_accept_and_the_count_pass_over_flagged_images(qtbot, make_window, project_path, predicted, monkeypatch, flag):
    """Ctrl+Shift+A goes through the store's rule: a flagged image's predictions stay; the
    window's "to review" count leaves flagged images out; Space on one says why (issue 21 §9)."""
    with Project.open(project_path) as p:
        p.set_image_flag([predicted[1], predicted[3]], flag)  # both would qualify at 0.5
    window = make_window(project_path)
    qtbot.waitUntil(lambda: "2 image(s) with predictions to review" in window.review_label.text())
    monkeypatch.setattr(AcceptAboveDialog, "exec", lambda self: (self.spin.setValue(0.3), 1)[1])
    window.actions["accept_above"].trigger()
    qtbot.waitUntil(lambda: window.labeling.bulk_job is not None and window.labeling.bulk_job.is_finished)
    assert "accepted 4 prediction(s)" in window.statusBar().currentMessage()  # image 4 (0.4) only
    with Project.open(project_path) as p:
        for i in (1, 3):
            assert {r.status for r in p.points(predicted[i]).values()} == {PREDICTED}
    window.show_image(predicted[1])
    window.labeling.accept_current()
    assert "is flagged" in window.statusBar().currentMessage()
    with Project.open(project_path) as p:
        assert {r.status for r in p.points(predicted[1]).values()} == {PREDICTED}
