"""Point-by-point review: W walks the low-confidence points (zooming to each), C / R / Shift+R
decide one point, Space/Enter treat low predictions as the review panel says, stacked
predictions are told apart and Tab picks which one a drag grabs."""

from __future__ import annotations

import pytest
from gui_helpers import drag_point, key, label_and_predict, viewport_pos, wait_shown
from PyQt6.QtCore import Qt

from labeler.gui.canvas import FOCUS_MAX_ZOOM
from labeler.gui.canvas_items import ring_width
from labeler.gui.review_panel import ABOVE, LowConfidenceBox, ReviewPanel
from labeler.store import ABSENT, ACCEPTED, CORRECTED, PREDICTED, Project

#: image index -> keypoint -> (x, y, confidence)
PREDICTIONS = {
    1: {"nose": (48.0, 20.0, 0.9), "left_eye": (30.0, 30.0, 0.3), "right_eye": (66.0, 30.0, 0.1), "tail": (48.0, 66.0, 0.7)},
    2: {"nose": (40.0, 25.0, 0.2), "left_eye": (30.0, 30.0, 0.95), "right_eye": (66.0, 30.0, 0.95), "tail": (48.0, 60.0, 0.95)},
}


@pytest.fixture
def predicted(project_path):
    return label_and_predict(project_path, PREDICTIONS)


def rows(path, image_id):
    with Project.open(path) as p:
        return p.points(image_id)


def test_w_walks_low_points_across_images_zooming_to_each(qtbot, make_window, project_path, predicted):
    window = make_window(project_path)
    wait_shown(qtbot, window)
    assert window.current.id == predicted[0]
    fitted = window.canvas.zoom
    visited = []
    for _ in range(2):
        key(qtbot, window, Qt.Key.Key_W)
        visited.append((window.current.id, window.current_keypoint))
        if len(visited) == 1:  # image 0 holds no prediction: done with it
            assert "img00.jpg done with its low points; now img01.jpg" in window.statusBar().currentMessage()
    assert visited == [(predicted[1], "right_eye"), (predicted[1], "left_eye")]
    # the image's last low point: its other predictions are pointed out before the walk moves on
    key(qtbot, window, Qt.Key.Key_W)
    assert window.current.id == predicted[1]
    said = window.statusBar().currentMessage()
    assert "img01.jpg: last low point of this image" in said and "2 ≥ 0.50 await review" in said
    key(qtbot, window, Qt.Key.Key_W)  # again: on to the next image, and it says which
    assert (window.current.id, window.current_keypoint) == (predicted[2], "nose")
    # a 96 x 72 image already fills the view at its fit: W does not blow it up further
    assert fitted > FOCUS_MAX_ZOOM and window.canvas.zoom <= fitted * 1.03
    centre = window.canvas.view_centre()
    assert (centre.x(), centre.y()) == pytest.approx((40.0, 25.0), abs=1.0)  # the point is in the middle
    said = window.statusBar().currentMessage()
    # it left image 1 with all 4 predictions undecided: it says so, never "done"
    assert "img01.jpg left with 4 prediction(s) undecided; now img02.jpg: nose: prediction 0.20" in said
    key(qtbot, window, Qt.Key.Key_W, Qt.KeyboardModifier.ShiftModifier)
    assert (window.current.id, window.current_keypoint) == (predicted[1], "left_eye")
    key(qtbot, window, Qt.Key.Key_W)  # image 1's last low point: its other predictions are said first
    key(qtbot, window, Qt.Key.Key_W)
    assert (window.current.id, window.current_keypoint) == (predicted[2], "nose")
    key(qtbot, window, Qt.Key.Key_W)  # image 2's only low point: said again
    key(qtbot, window, Qt.Key.Key_W)  # past the last: round again, as N does with images
    assert (window.current.id, window.current_keypoint) == (predicted[1], "right_eye")
    window.review_panel.threshold_spin.setValue(0.05)  # nothing that low anywhere
    key(qtbot, window, Qt.Key.Key_W)
    assert "4 ≥ 0.05 await review" in window.statusBar().currentMessage()  # this image's first
    key(qtbot, window, Qt.Key.Key_W)
    assert "no more predictions below 0.05" in window.statusBar().currentMessage()


def test_c_and_r_decide_one_point_and_the_walk_moves_on(qtbot, make_window, project_path, predicted):
    window = make_window(project_path)
    wait_shown(qtbot, window)
    key(qtbot, window, Qt.Key.Key_W)  # image 1, right_eye 0.1
    key(qtbot, window, Qt.Key.Key_R)  # rejected: back to unlabelled, walk goes to left_eye
    r = rows(project_path, predicted[1])
    assert "right_eye" not in r and r["nose"].status == PREDICTED
    assert window.current_keypoint == "left_eye"
    key(qtbot, window, Qt.Key.Key_R, Qt.KeyboardModifier.ShiftModifier)  # rejected as absent
    assert rows(project_path, predicted[1])["left_eye"].visibility == ABSENT
    assert window.current.id == predicted[1]  # the image's other predictions are pointed out first
    assert "2 ≥ 0.50 await review" in window.statusBar().currentMessage()
    key(qtbot, window, Qt.Key.Key_W)
    assert window.current.id == predicted[2]  # on to the next image's low point
    wait_shown(qtbot, window)
    window.show_image(predicted[1])
    wait_shown(qtbot, window)
    key(qtbot, window, Qt.Key.Key_F)
    qtbot.mouseMove(window.canvas.viewport(), viewport_pos(window, 48, 66))  # over tail
    qtbot.waitUntil(lambda: window.canvas.hovered_keypoint == "tail")
    key(qtbot, window, Qt.Key.Key_C)  # the point under the mouse, nothing else
    r = rows(project_path, predicted[1])
    assert r["tail"].status == ACCEPTED and r["nose"].status == PREDICTED
    assert window.undo_stack.undoText() == "accept tail"
    window.actions["undo"].trigger()
    assert rows(project_path, predicted[1])["tail"].status == PREDICTED


def test_space_with_low_predictions_asks_or_accepts_only_those_above(qtbot, make_window, project_path, predicted,
                                                                     monkeypatch, settings):
    window = make_window(project_path)
    panel = window.review_panel
    assert panel.policy == "ask" and "ask before accepting" in panel.policy_text.text()
    asked = []

    def answer_above(self):
        asked.append(self.text())
        self.above_button.click()
        return 0

    monkeypatch.setattr(LowConfidenceBox, "exec", answer_above)
    window.show_image(predicted[1])
    key(qtbot, window, Qt.Key.Key_Return)
    assert "2 of the 4 predictions on this image are below 0.50 (lowest 0.10)" in asked[0]
    r = rows(project_path, predicted[1])
    assert {n: p.status for n, p in r.items()} == {"nose": ACCEPTED, "tail": ACCEPTED, "left_eye": PREDICTED,
                                                   "right_eye": PREDICTED}
    assert "2 below left to review" in window.statusBar().currentMessage()

    panel.set_policy(ABOVE)  # no question any more; said in the panel
    panel.threshold_spin.setValue(0.25)
    assert "accept only predictions ≥ 0.25" in panel.policy_text.text()
    window.show_image(predicted[2])
    key(qtbot, window, Qt.Key.Key_Space)
    assert len(asked) == 1
    r = rows(project_path, predicted[2])
    assert r["nose"].status == PREDICTED and r["tail"].status == ACCEPTED
    again = ReviewPanel(settings)  # remembered
    assert again.policy == ABOVE and again.threshold == pytest.approx(0.25)

    def cancel(self):
        self.cancel_button.click()
        return 0

    panel.set_policy("ask")
    monkeypatch.setattr(LowConfidenceBox, "exec", cancel)
    here = window.current.id
    key(qtbot, window, Qt.Key.Key_Space)  # cancelled: nothing accepted, and it stays here
    assert here == predicted[1]  # the next to review: its low points are still there
    assert window.current.id == here and rows(project_path, here)["left_eye"].status == PREDICTED


def test_stacked_predictions_are_told_apart_and_tab_picks_the_one_a_drag_grabs(qtbot, window):
    wait_shown(qtbot, window)
    image = window.current.id
    window.project.write_predictions(
        [(image, {"nose": (40.0, 30.0, 0.2), "tail": (40.0, 30.0, 0.9)})], method="test", model=None)
    window.refresh_current()
    nose, tail = window.canvas.point_item("nose"), window.canvas.point_item("tail")
    assert nose.colour != tail.colour  # rings in the keypoint's colour, not the confidence's
    assert ring_width(0.2) < ring_width(0.9)  # confidence is the ring's thickness (and a bar)
    assert nose.label.text() == "nose  0.20"  # the number on hover
    qtbot.mouseMove(window.canvas.viewport(), viewport_pos(window, 40, 30))
    qtbot.waitUntil(lambda: window.canvas.hovered_keypoint is not None)
    stack = window.canvas.points_under_mouse()
    assert set(stack) == {"nose", "tail"}
    key(qtbot, window, Qt.Key.Key_Tab)
    chosen = window.canvas.points_under_mouse()[0]
    assert chosen == stack[1] and window.current_keypoint == chosen and window.canvas.hovered_keypoint == chosen
    drag_point(qtbot, window, (40, 30), (60, 50))
    r = rows(window.project.path, image)
    other = stack[0]
    assert r[chosen].status == CORRECTED and r[chosen].x == pytest.approx(60, abs=1)
    assert r[other].status == PREDICTED and r[other].x == 40.0
