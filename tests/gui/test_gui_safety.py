"""Traps an annotator fell into: a big photo drawn 2.5x too large on first view, labelling a
missing file, a stray click moving a finished point, random-weight models taken for real ones,
bad pairs in the New project dialog, a re-propagate that started unseen, vanished messages,
coordinates of the last image, clipped names, an invisible checkbox tick."""

from __future__ import annotations

import pytest
from gui_helpers import click_image, key, tolerance, viewport_pos, wait_shown
from PIL import Image, ImageDraw
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QImage

from labeler.store import PREDICTED, Project, find_image_files, probe_files, relative_to_root


def stored(window, image_id=None):
    with Project.open(window.project.path) as p:
        return p.points(window.current.id if image_id is None else image_id)


def test_a_5200_px_image_keeps_one_geometry_from_preview_to_full_and_clicks_map(qtbot, make_window, tmp_path):
    root = tmp_path / "big"
    root.mkdir()
    im = Image.new("RGB", (5200, 5200), (40, 60, 80))
    ImageDraw.Draw(im).ellipse((2500, 1200, 2700, 1400), fill=(250, 250, 250))  # the "eye"
    im.save(root / "big.jpg", quality=70)
    probed, _ = probe_files([(f, relative_to_root(f, root)) for f in find_image_files(root)], progress=False)
    path = tmp_path / "big.labeler"
    Project.create(path, root, ("eye", "nose"), (), (), images=probed).close()
    window = make_window(path)
    sizes = []
    window.loader.loaded.connect(lambda ticket, image_id, image: sizes.append(image.width()))
    image_id = window.current.id
    qtbot.waitUntil(lambda: image_id in window.loader.decoded and window.canvas.image_shown, timeout=60_000)
    qtbot.waitUntil(lambda: 5200 in sizes, timeout=10_000)
    assert min(sizes) < 5200  # a preview came first
    drawn = window.canvas.drawn_rect
    assert (drawn.x(), drawn.y(), drawn.width(), drawn.height()) == pytest.approx((0, 0, 5200, 5200), abs=1)
    key(qtbot, window, Qt.Key.Key_F)
    click_image(qtbot, window, 2600, 1300)
    eye = stored(window)["eye"]
    assert eye.x == pytest.approx(2600, abs=tolerance(window)) and eye.y == pytest.approx(1300, abs=tolerance(window))


def test_clicks_wait_until_the_pixels_are_shown(qtbot, window):
    wait_shown(qtbot, window)
    record = window.current
    window.canvas.show_image(record, window.schema, {})  # the placeholder, pixels still decoding
    assert not window.canvas.image_shown
    click_image(qtbot, window, 30, 30)
    assert stored(window) == {}
    assert "still loading" in window.statusBar().currentMessage()


def test_a_missing_image_cannot_be_labelled_and_the_list_marks_it(qtbot, window):
    wait_shown(qtbot, window)
    rows = window.image_list.model.rows()
    target = rows[3][0]
    window.image_list.view.scrollTo(window.image_list.model.index(3))
    qtbot.waitUntil(lambda: isinstance(window.thumbs.get(target), QImage), timeout=10_000)  # its picture is listed
    window.project.image_path(target).unlink()
    window.loader.forget(target)
    window.show_image(target)
    qtbot.waitUntil(lambda: bool(window.canvas.failure_message))
    click_image(qtbot, window, 30, 30)
    assert stored(window) == {}
    assert "cannot label this image" in window.statusBar().currentMessage()
    key(qtbot, window, Qt.Key.Key_X)  # no key labels it either
    assert stored(window) == {}
    model = window.image_list.model
    assert model.is_missing(target)
    assert "file missing" in model.data(model.index(model.row_of(target)), Qt.ItemDataRole.ToolTipRole)
    assert not isinstance(window.thumbs.get(target), QImage)  # the old picture is gone from the list
    qtbot.waitUntil(lambda: window.project.image(target).missing)  # and the store knows


def test_a_plain_click_never_moves_a_confirmed_point(qtbot, window):
    wait_shown(qtbot, window)
    click_image(qtbot, window, 30, 30)  # nose placed; current moves on
    key(qtbot, window, Qt.Key.Key_1)  # nose is current again (as after the last keypoint)
    before = stored(window)["nose"]
    click_image(qtbot, window, 60, 45)
    assert stored(window)["nose"] == before
    assert "Alt+click" in window.statusBar().currentMessage()
    assert window.undo_stack.count() == 1
    click_image(qtbot, window, 60, 45, Qt.KeyboardModifier.AltModifier)  # deliberate
    after = stored(window)["nose"]
    assert after.x == pytest.approx(60, abs=tolerance(window))
    assert window.undo_stack.undoText() == "re-place nose (30, 30) → (60, 45)"
    assert window.actions["undo"].text() == "&Undo re-place nose (30, 30) → (60, 45)"


def test_a_click_still_places_over_a_prediction(qtbot, window):
    wait_shown(qtbot, window)
    window.project.write_predictions([(window.current.id, {"nose": (30.0, 30.0, 0.4)})], method="test", model=None)
    window.refresh_current()
    key(qtbot, window, Qt.Key.Key_1)
    click_image(qtbot, window, 60, 45)
    row = stored(window)["nose"]
    assert row.status != PREDICTED and row.x == pytest.approx(60, abs=tolerance(window))


def test_random_weight_models_are_marked_and_never_bulk_accepted_silently(qtbot, make_window, project_path, monkeypatch):
    from labeler.gui.propagate_dialog import PropagateDialog
    from labeler.gui.review import AcceptAboveDialog
    from labeler.propagation import PropagationConfig

    with Project.open(project_path) as p:
        ids = [r[0] for r in p.image_index()]
        p.set_points(ids[0], {"nose": (48, 20), "left_eye": (30, 30), "right_eye": (66, 30), "tail": (48, 66)})
        p.write_predictions([(ids[1], {"nose": (20.0, 20.0, 1.0)})], method="dift", model="tiny-random")
        p.write_predictions([(ids[2], {"nose": (20.0, 20.0, 0.99)})], method="dift", model="sd-2-1")
    window = make_window(project_path)
    dialog = PropagateDialog(window.project, PropagationConfig(method="dift", model="tiny-random"), window)
    assert not dialog.model_warning.isHidden()
    assert "TEST MODEL" in dialog.model_warning.text()
    index = dialog.model.findText("tiny-random")
    assert "random weights" in dialog.model.itemData(index, Qt.ItemDataRole.ToolTipRole)
    qtbot.waitUntil(lambda: "TEST MODEL" in dialog.plan_label.text(), timeout=20_000)  # the plan says it too
    dialog.model.setCurrentText("sd-2-1")
    assert "TEST MODEL" not in dialog.model_warning.text() and dialog.model_warning.isHidden()
    dialog.reject()

    seen = []

    def answer(self):
        seen.append((self.test_warning.text(), self.qualifying()))
        self.spin.setValue(0.97)
        seen.append((self.test_warning.text(), self.qualifying()))
        return 1

    monkeypatch.setattr(AcceptAboveDialog, "exec", answer)
    window.actions["accept_above"].trigger()
    qtbot.waitUntil(lambda: window.labeling.bulk_job is not None and window.labeling.bulk_job.is_finished)
    assert "TEST MODEL" in seen[-1][0] and "tiny-random" in seen[-1][0] and seen[-1][1] == 1
    with Project.open(project_path) as p:
        assert p.points(ids[1])["nose"].status == PREDICTED  # left for the person to look at
        assert p.points(ids[2])["nose"].status != PREDICTED


def test_new_project_dialog_refuses_self_edges_and_repeated_pairs(qtbot):
    from labeler.gui.schema_dialog import NewProjectDialog

    dialog = NewProjectDialog()
    qtbot.addWidget(dialog)
    editor = dialog.editor
    editor.add_keypoints(["a", "b", "c"])
    edges = editor.edges
    edges.a.setCurrentText("a")
    edges.b.setCurrentText("a")
    assert not edges.add.isEnabled() and "cannot pair with itself" in edges.reason.text()
    edges.add.click()
    assert edges.pairs() == []
    edges.b.setCurrentText("b")
    assert edges.add.isEnabled() and edges.reason.text() == ""
    edges.add.click()
    edges.a.setCurrentText("b")
    edges.b.setCurrentText("a")
    assert not edges.add.isEnabled() and "already listed" in edges.reason.text()
    flips = editor.flips
    flips.a.setCurrentText("a")
    flips.b.setCurrentText("b")
    flips.add.click()
    flips.a.setCurrentText("c")
    flips.b.setCurrentText("b")
    assert not flips.add.isEnabled() and "b is already in the pair a ↔ b" in flips.reason.text()
    flips._add()
    assert flips.pairs() == [("a", "b")]


def test_repropagate_says_which_method_and_model_before_starting(qtbot, window):
    from labeler.propagation import PropagationConfig

    window.propagation.remember_config(PropagationConfig(method="dift", model="tiny-random", device="cpu"))
    window.actions["repropagate"].trigger()
    box = window.propagation.repropagate_box
    assert box is not None and box.isVisible()
    assert "method dift" in box.text() and "tiny-random" in box.text() and "TEST MODEL" in box.text()
    assert not window.runner.running
    box.reject()


def test_the_run_log_keeps_finished_messages(qtbot, window):
    window.session.say("propagation done: 5 image(s) predicted")
    window.statusBar().clearMessage()  # what the timer does after a few seconds
    assert window.run_log.lines()[-1].endswith("propagation done: 5 image(s) predicted")
    assert window.log_dock.toggleViewAction().text() == "Run &log"


def test_cursor_coordinates_reset_on_image_change(qtbot, window):
    wait_shown(qtbot, window)
    qtbot.mouseMove(window.canvas.viewport(), viewport_pos(window, 20, 20))
    qtbot.mouseMove(window.canvas.viewport(), viewport_pos(window, 40, 30))
    qtbot.waitUntil(lambda: window.cursor_label.text().startswith("x "))
    window.step_image(1)
    assert window.cursor_label.text() == ""


def test_names_are_not_clipped_at_the_image_edge(qtbot, window):
    wait_shown(qtbot, window)
    window.set_current_keypoint("right_eye")
    click_image(qtbot, window, 95, 1)  # top-right corner
    window.canvas.set_show_names(True)
    item = window.canvas.point_item("right_eye")
    label = item.label
    rect = label.deviceTransform(window.canvas.viewportTransform()).mapRect(label.boundingRect()).toRect()
    assert window.canvas.viewport().rect().contains(rect), (rect, window.canvas.viewport().rect())


def test_a_checked_checkbox_shows_a_tick(qtbot):
    from PyQt6.QtWidgets import QCheckBox

    from labeler.gui.style import stylesheet

    box = QCheckBox("")
    qtbot.addWidget(box)
    box.setStyleSheet(stylesheet())
    box.setChecked(True)
    box.resize(30, 24)
    img = box.grab().toImage()
    white = sum(1 for x in range(img.width()) for y in range(img.height())
                if min(img.pixelColor(x, y).red(), img.pixelColor(x, y).green(), img.pixelColor(x, y).blue()) > 220)
    assert white >= 6  # the tick's white strokes on the blue box




def test_a_1024_by_700_window_keeps_the_image_large_and_every_toolbar_button(qtbot, window):
    window.resize(1024, 700)
    wait_shown(qtbot, window)
    qtbot.waitUntil(lambda: window.canvas.width() >= 0.55 * 1024)  # was ~470 px
    bar = window.toolbar

    def all_buttons_shown():
        buttons = [bar.widgetForAction(a) for a in bar.actions() if not a.isSeparator()]
        return all(b is not None and b.isVisible() and bar.rect().contains(b.geometry()) for b in buttons)

    qtbot.waitUntil(all_buttons_shown)
    window.resize(760, 600)  # narrower still: texts go, every button stays
    qtbot.waitUntil(lambda: bar.compact and all_buttons_shown())
    window.resize(1500, 800)
    qtbot.waitUntil(lambda: not bar.compact)  # texts come back when there is room


def test_the_keypoint_hint_says_how_to_move_a_placed_point(qtbot, window):
    wait_shown(qtbot, window)
    assert "Click the image to place <b>nose</b>" in window.keypoints.hint.text()
    click_image(qtbot, window, 30, 30)
    key(qtbot, window, Qt.Key.Key_1)
    assert "<b>nose</b> is placed: drag it to move it; Alt+click" in window.keypoints.hint.text()
