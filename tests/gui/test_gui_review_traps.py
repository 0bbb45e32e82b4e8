"""The review loop without traps (issue 23 §2): bounded zoom to a point, a wobble is not a
drag, Ctrl+0 zooms at the mouse, undo says what it undid."""

from __future__ import annotations

import random

import pytest
from gui_helpers import click_image, drag_point, key, label_and_predict, viewport_pos, wait_shown
from PyQt6.QtCore import QPoint, QPointF, Qt
from PyQt6.QtWidgets import QApplication

from labeler.gui.canvas import FOCUS_CONTEXT_PX, FOCUS_MAX_ZOOM, Canvas, drag_distance, focus_zoom
from labeler.store import ImageRecord, Project, Schema


def test_zoom_to_a_point_is_bounded_for_any_image_and_view():
    """Generated sizes, tiny to huge: never below the fit, never above the cap unless the fit
    is, and the context window (or the whole image) stays in view."""
    rng = random.Random(23)
    for _ in range(2000):
        iw, ih = rng.choice([rng.uniform(8, 200), rng.uniform(200, 8000)]), rng.uniform(8, 8000)
        vw, vh = rng.uniform(120, 3000), rng.uniform(120, 2000)
        z = focus_zoom(iw, ih, vw, vh)
        fit = min(vw / iw, vh / ih)
        assert z >= fit - 1e-9
        assert z <= max(fit, FOCUS_MAX_ZOOM) + 1e-9
        context = max(FOCUS_CONTEXT_PX, max(iw, ih) / 3)
        assert z <= fit + 1e-9 or min(vw, vh) / z >= context - 1e-6, (iw, ih, vw, vh, z)


def _record(width: int, height: int) -> ImageRecord:
    return ImageRecord(id=1, path="big.jpg", width=width, height=height, orientation=1, sha256="", size_bytes=0,
                       review_status="unlabeled", missing=False, added_at=0.0)


@pytest.mark.parametrize("spot", [(150, 100), (640, 300), (400, 420)])
def test_ctrl_0_keeps_the_image_point_under_the_mouse(qtbot, spot):
    canvas = Canvas()
    qtbot.addWidget(canvas)
    canvas.resize(800, 600)
    canvas.show()
    qtbot.waitExposed(canvas)
    canvas.show_image(_record(3000, 2000), Schema(keypoints=[]), {})
    canvas.fit()
    at = QPoint(*spot)
    qtbot.mouseMove(canvas.viewport(), at)
    under = canvas.mapToScene(at)
    canvas.actual_size()
    assert canvas.zoom == pytest.approx(1.0)
    after = canvas.mapToScene(at)
    assert (after.x(), after.y()) == pytest.approx((under.x(), under.y()), abs=1.5)


def test_a_wobble_while_clicking_a_point_does_not_move_it(qtbot, window):
    wait_shown(qtbot, window)
    click_image(qtbot, window, 40, 30)  # nose placed (confirmed)
    image = window.current.id
    before = window.project.points(image)["nose"]
    steps = window.undo_stack.count()
    assert drag_distance() >= QApplication.startDragDistance() >= 3
    vp = window.canvas.viewport()
    press = viewport_pos(window, before.x, before.y)
    rng = random.Random(3)
    for _ in range(5):  # wobbles up to just under the drag distance, in any direction
        qtbot.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, press)
        for _ in range(3):
            dx = rng.randint(-(drag_distance() - 1), drag_distance() - 1)
            dy = rng.choice([-1, 1]) * rng.randint(0, drag_distance() - 1 - abs(dx))
            qtbot.mouseMove(vp, press + QPoint(dx, dy))
        qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, press + QPoint(dx, dy))
    after = window.project.points(image)["nose"]
    assert (after.x, after.y) == (before.x, before.y) and window.undo_stack.count() == steps
    drag_point(qtbot, window, (before.x, before.y), (before.x + 20, before.y + 10))  # a real drag still moves it
    moved = window.project.points(image)["nose"]
    assert moved.x == pytest.approx(before.x + 20, abs=1)


def test_undo_and_redo_say_what_they_did(qtbot, window):
    wait_shown(qtbot, window)
    click_image(qtbot, window, 40, 30)
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.statusBar().currentMessage().startswith("undone: place nose")
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.statusBar().currentMessage().startswith("redone: place nose")


#: image index -> keypoint -> (x, y, confidence): image 1 has low points, image 2 none
PREDICTIONS = {
    1: {"nose": (48.0, 20.0, 0.9), "left_eye": (30.0, 30.0, 0.3), "right_eye": (66.0, 30.0, 0.1), "tail": (48.0, 66.0, 0.7)},
    2: {"nose": (40.0, 25.0, 0.8), "left_eye": (30.0, 30.0, 0.95), "right_eye": (66.0, 30.0, 0.95), "tail": (48.0, 60.0, 0.95)},
}


@pytest.fixture
def predicted(project_path):
    return label_and_predict(project_path, PREDICTIONS)


def statuses(path, image_id):
    with Project.open(path) as p:
        return {n: r.status for n, r in p.points(image_id).items()}


def test_skip_and_no_object_move_on_in_list_order_past_flagged_images_and_wrap(qtbot, window):
    ids = [window.image_list.model.row_at(r)[0] for r in range(window.image_list.model.rowCount())]
    window.show_image(ids[2])
    key(qtbot, window, Qt.Key.Key_K)
    assert window.current.id == ids[3]
    window.show_image(ids[1])
    key(qtbot, window, Qt.Key.Key_K)
    assert window.current.id == ids[3]  # not onto ids[2], skipped already
    window.show_image(ids[-1])
    key(qtbot, window, Qt.Key.Key_X, Qt.KeyboardModifier.ShiftModifier)  # the last row: wraps, does not stay
    assert window.current.id == ids[0]
    assert "no object" in window.statusBar().currentMessage()
    for image_id in (ids[0], ids[3], ids[4]):  # K on every other image: nowhere left to go
        window.show_image(image_id)
        key(qtbot, window, Qt.Key.Key_K)
    assert window.current.id == ids[4]
    assert "every other image of the list is skipped or has no object" in window.statusBar().currentMessage()


def test_flagged_images_leave_the_queue_and_hide_their_predictions(qtbot, make_window, project_path, predicted):
    window = make_window(project_path)
    wait_shown(qtbot, window)
    assert "2 image(s) with predictions to review" in window.review_label.text()
    window.show_image(predicted[1])
    assert set(window.canvas.drawn_points()) == set(PREDICTIONS[1])
    key(qtbot, window, Qt.Key.Key_K)
    assert window.current.id == predicted[2]  # the review queue's next, not merely the next row
    assert "1 image(s) with predictions to review" in window.review_label.text()
    window.show_image(predicted[1])
    assert window.canvas.drawn_points() == {} and window.current_points == {}
    key(qtbot, window, Qt.Key.Key_Return)
    assert "is flagged skipped: its predictions are out of review" in window.statusBar().currentMessage()
    assert set(statuses(project_path, predicted[1]).values()) == {"predicted"}
    key(qtbot, window, Qt.Key.Key_K)  # cleared: back in the queue, predictions shown again
    assert set(window.canvas.drawn_points()) == set(PREDICTIONS[1])
    assert "2 image(s) with predictions to review" in window.review_label.text()


def test_shift_space_accepts_everything_low_ones_too_in_one_key(qtbot, make_window, project_path, predicted):
    window = make_window(project_path)  # the policy is "ask": Space would ask (the fixture fails on a question)
    window.show_image(predicted[1])
    wait_shown(qtbot, window)
    key(qtbot, window, Qt.Key.Key_Space, Qt.KeyboardModifier.ShiftModifier)
    assert set(statuses(project_path, predicted[1]).values()) == {"accepted"}
    assert window.current.id == predicted[2]
    assert "accepted all 4 prediction(s), low ones too" in window.statusBar().currentMessage()
    window.actions["undo"].trigger()  # one undo step
    assert set(statuses(project_path, predicted[1]).values()) == {"predicted"}


def test_a_missing_file_says_it_cannot_be_labelled_and_its_error_leaves_with_it(qtbot, window):
    wait_shown(qtbot, window)
    rows = window.image_list.model.rows()
    window.project.image_path(rows[2][0]).unlink()
    window.show_image(rows[2][0])
    qtbot.waitUntil(lambda: bool(window.canvas.failure_message))
    hint = window.keypoints.hint.text()
    assert "Cannot be labelled" in hint and "file not found" in hint and "Click the image" not in hint
    assert "file not found" in window.statusBar().currentMessage()
    window.step_image(1)
    wait_shown(qtbot, window)
    assert window.statusBar().currentMessage() == ""  # the previous image's error is not left standing
    assert window.keypoints.hint.text().startswith("Click the image to place")
    window.session.say("a notice, not an error")
    window.step_image(1)
    assert window.statusBar().currentMessage() == "a notice, not an error"  # notices run their time


def test_the_session_s_errors_show_as_errors(qtbot, window):
    window.session.say("refused", error=True)
    assert "ff9b9b" in window.statusBar().styleSheet() and window.run_log.lines()[-1].endswith("refused")
    window.session.say("fine")
    assert window.statusBar().styleSheet() == ""


def test_file_names_wrap_whole_onto_two_lines_before_any_is_shortened(qapp):
    from PyQt6.QtGui import QFont, QFontMetrics

    from labeler.gui.image_list import name_lines

    fm = QFontMetrics(QFont())
    rng = random.Random(5)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789_-. "
    for _ in range(400):
        name = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) + ".jpg"
        width = rng.randint(40, 240)
        lines = name_lines(name, fm, width)
        assert 1 <= len(lines) <= 2
        assert all(fm.horizontalAdvance(line) <= width for line in lines)
        if fm.horizontalAdvance(name) <= 2 * width - fm.horizontalAdvance("W" * 12):  # room to spare: whole
            assert "".join(lines) == name, (name, width, lines)


def test_at_1024x700_names_keypoint_rows_and_states_are_whole(qtbot, make_window, tmp_path):
    from PyQt6.QtGui import QFontMetrics

    from labeler.gui.image_list import name_lines
    from labeler.store import find_image_files, probe_files, relative_to_root
    from labeler.store.testing import write_image

    root = tmp_path / "images"
    names = ["cat_1_mirror.jpg", "cat_10_reference.jpg", "cat_2_zoom.jpg"]
    for i, name in enumerate(names):
        write_image(root / name, "rgb", (160, 120), seed=i)
    probed, _ = probe_files([(f, relative_to_root(f, root)) for f in find_image_files(root)], progress=False)
    keypoints = ("left_eye", "right_eye", "nose", "left_ear", "right_ear", "tail_tip")
    with Project.create(tmp_path / "six.labeler", root, keypoints, (), (), images=probed) as p:
        first = p.image_index()[0][0]
        p.write_predictions([(first, {k: (10.0 + 10 * i, 20.0, 0.72) for i, k in enumerate(keypoints)})],
                            method="test", model=None)
    window = make_window(tmp_path / "six.labeler")
    window.resize(1024, 700)
    qtbot.wait(300)  # docks fitted after the resize
    wait_shown(qtbot, window)
    table = window.keypoints.table
    for row in range(len(keypoints)):
        state = table.item(row, 2)
        assert table.viewport().rect().contains(table.visualItemRect(state)), f"row {row + 1} is cut"
        assert table.columnWidth(2) >= table.fontMetrics().horizontalAdvance(state.text()) + 6, state.text()
    view = window.image_list.view
    delegate = view.itemDelegate()
    fm = QFontMetrics(delegate.name_font(view.font()))
    width = delegate.text_width(view.visualRect(window.image_list.model.index(0)))
    for name in names:
        assert "".join(name_lines(name, fm, width)) == name


def test_the_propagate_dialog_shows_every_line_of_its_texts(qtbot, window):
    from labeler.gui.propagate_dialog import PropagateDialog

    dialog = PropagateDialog(window.project, None, window)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    screen = dialog.screen().availableGeometry()
    assert dialog.height() <= screen.height() and dialog.width() <= screen.width()
    dialog.resize(dialog.width(), 520)  # a short screen: the texts scroll, they are not squeezed
    for i in range(dialog.method.count()):  # every method's summary (3 to 5 lines at this width)
        dialog.method.setCurrentIndex(i)
        qtbot.wait(20)
        label = dialog.method_info
        shown = label.visibleRegion().boundingRect().height()  # clipped by nothing around it
        assert shown >= label.heightForWidth(label.width()), dialog.method.currentText()
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=10_000)
    qtbot.wait(20)
    plan = dialog.plan_label
    assert plan.height() >= plan.heightForWidth(plan.width())
