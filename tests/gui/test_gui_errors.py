"""Errors become dialogs with the reason, never crashes: the global hook, missing images,
files that are not projects, failures in background jobs."""

from __future__ import annotations

import sys
import threading

import pytest
from gui_helpers import wait_shown
from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication, QMessageBox

from labeler.errors import UserInputError
from labeler.gui import errors
from labeler.store import Project


def open_boxes():
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]


def close_boxes():
    for box in open_boxes():
        box.close()


@pytest.mark.qt_no_exception_capture
def test_global_hook_logs_and_shows_a_dialog(qtbot, window, monkeypatch, tmp_path):
    log_file = errors.setup_logging(tmp_path / "gui.log")
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # both restored afterwards
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    errors.install_exception_hook(window)
    reporter = errors.reporter()
    before = len(reporter.shown)

    def broken_slot():
        raise RuntimeError("boom in a slot")

    QTimer.singleShot(0, broken_slot)
    qtbot.waitUntil(lambda: len(reporter.shown) > before)
    assert "RuntimeError: boom in a slot" in reporter.shown[-1]
    assert "Your labels are safe" in reporter.shown[-1]
    qtbot.waitUntil(lambda: bool(open_boxes()))
    assert "boom in a slot" in log_file.read_text(encoding="utf-8")
    def broken_thread():
        raise ValueError("boom in a thread")

    t = threading.Thread(target=broken_thread)
    t.start()
    t.join()
    qtbot.waitUntil(lambda: "ValueError: boom in a thread" in reporter.shown[-1])
    errors.excepthook(UserInputError, UserInputError("plain reason for the user"), None)
    qtbot.waitUntil(lambda: reporter.shown[-1] == "plain reason for the user")
    assert window.isVisible()  # still running
    close_boxes()


def test_missing_image_shows_a_placeholder(qtbot, window):
    wait_shown(qtbot, window)
    rows = window.image_list.model.rows()
    gone = window.project.image_path(rows[2][0])
    gone.unlink()
    window.show_image(rows[2][0])
    qtbot.waitUntil(lambda: bool(window.canvas.failure_message))
    assert "file not found" in window.canvas.failure_message and str(gone) in window.canvas.failure_message
    assert not window.canvas.image_shown
    window.step_image(1)  # and the app goes on
    wait_shown(qtbot, window)
    assert window.canvas.image_shown


def test_bad_project_file_is_a_dialog(qtbot, make_window, tmp_path):
    window = make_window()
    reporter = errors.reporter()
    bad = tmp_path / "notes.labeler"
    bad.write_text("not a database", encoding="utf-8")
    assert not window.open_project(bad)
    qtbot.waitUntil(lambda: "not a labeler project" in reporter.shown[-1])
    assert not window.open_project(tmp_path / "nope.labeler")
    qtbot.waitUntil(lambda: "nope.labeler" in reporter.shown[-1])
    assert window.project is None
    close_boxes()


def test_background_failures_reach_the_user(qtbot, window, tmp_path):
    reporter = errors.reporter()
    blocker = tmp_path / "a_file"
    blocker.write_text("x", encoding="utf-8")
    job = window.export_coco(blocker / "cannot" / "be" / "here.json")  # parent is a file
    qtbot.waitUntil(lambda: job.is_finished)
    assert job.error is not None and reporter.shown
    close_boxes()


def test_moved_images_folder_is_said_and_can_be_located(qtbot, make_window, tmp_path):
    """The images folder moved: the project opens, a dialog says why the images are missing and
    offers to locate the folder; after locating it the images show and labels are untouched."""
    from labeler.store import find_image_files, probe_files, relative_to_root
    from labeler.store.testing import write_image

    root = tmp_path / "photos"
    for i in range(3):
        write_image(root / f"p{i}.jpg", "rgb", (80, 60), seed=i)
    probed, _ = probe_files([(f, relative_to_root(f, root)) for f in find_image_files(root)], progress=False)
    path = tmp_path / "moved.labeler"
    with Project.create(path, root, ("a", "b"), images=probed) as p:
        p.set_points(p.image_index()[0][0], {"a": (10.0, 20.0)})
    moved = root.rename(tmp_path / "photos moved ü")
    window = make_window(path)
    qtbot.waitUntil(lambda: window.files.locate_box is not None and window.files.locate_box.isVisible())
    assert str(root) in window.files.locate_box.text()
    window.files.locate_box.close()
    qtbot.waitUntil(lambda: bool(window.canvas.failure_message))
    assert window.relocate_images(moved)
    wait_shown(qtbot, window)
    assert window.canvas.image_shown and set(window.current_points) == {"a"}
    with Project.open(path) as p:
        assert p.images_root == moved and p.images_root_found


def test_error_text_is_plain_not_markup(qtbot, window):
    """A path or keypoint name with "<" must show as typed in an error dialog."""
    from PyQt6.QtCore import Qt

    errors.show_error(UserInputError("<b>x</b>.png: damaged"), window)
    box = errors.reporter().dialogs[-1]
    assert box.textFormat() == Qt.TextFormat.PlainText and box.text() == "<b>x</b>.png: damaged"
    box.close()


def test_error_dialog_text_is_cleaned_and_bounded():
    from labeler.errors import UserInputError
    from labeler.gui.errors import describe

    _, text = describe(UserInputError("no image '\x1b]0;x\x07" + "y" * 1_000_000 + "\u202egpj.exe'"))
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    assert len(text) < 2000
