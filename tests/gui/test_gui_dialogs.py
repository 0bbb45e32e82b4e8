"""New project, edit keypoints, exports, shortcuts help: through the dialogs' own widgets."""

from __future__ import annotations

import json

import pytest
from gui_helpers import click_image, wait_shown
from pycocotools.coco import COCO
from PyQt6.QtCore import Qt

from labeler.errors import LabelerError
from labeler.gui.schema_dialog import EditSchemaDialog, NewProjectDialog, SchemaEditor, apply_schema_edit, default_project_path
from labeler.store import Schema
from labeler.store.testing import write_image


def test_schema_editor_builds_and_validates(qtbot):
    editor = SchemaEditor()
    qtbot.addWidget(editor)
    editor.entry.setText("nose, left_eye, right_eye")
    qtbot.keyClick(editor.entry, Qt.Key.Key_Return)
    assert editor.keypoint_names() == ["nose", "left_eye", "right_eye"]
    editor.edges.a.setCurrentText("nose")
    editor.edges.b.setCurrentText("left_eye")
    editor.edges.add.click()
    editor.flips.a.setCurrentText("left_eye")
    editor.flips.b.setCurrentText("right_eye")
    editor.flips.add.click()
    assert editor.edit().schema == Schema(("nose", "left_eye", "right_eye"), (("nose", "left_eye"),),
                                           (("left_eye", "right_eye"),))
    editor.names.item(1).setText("eye_l")  # a rename follows into edges and pairs
    assert editor.edit().schema.skeleton == (("nose", "eye_l"),)
    editor.add_keypoints(["nose"])
    assert "listed twice" in editor.error.text()
    with pytest.raises(LabelerError, match="listed twice"):
        editor.edit()


def test_new_project_dialog_creates_and_opens(qtbot, make_window, tmp_path):
    folder = tmp_path / "birds"
    for i in range(3):
        write_image(folder / f"b{i}.jpg", "rgb", (80, 60), seed=i)
    (folder / "broken.jpg").write_bytes(b"")
    dialog = NewProjectDialog(folder=str(folder))
    qtbot.addWidget(dialog)
    assert dialog.project.text() == str(default_project_path(folder)) == str(tmp_path / "birds.labeler")
    dialog.editor.add_keypoints(["beak", "tail"])
    dialog._accept()
    assert dialog.result() == NewProjectDialog.DialogCode.Accepted
    window = make_window()
    job = window.create_project(*dialog.values())
    qtbot.waitUntil(lambda: job.is_finished, timeout=20_000)
    assert window.project is not None and window.project.path == tmp_path / "birds.labeler"
    assert window.image_list.model.rowCount() == 3
    assert window.schema.keypoints == ("beak", "tail")
    assert "1 unreadable file(s) skipped" in window.statusBar().currentMessage()
    dialog2 = NewProjectDialog(folder=str(folder))
    qtbot.addWidget(dialog2)
    dialog2._accept()  # the project file exists now
    assert "already exists" in dialog2.message.text()


def test_edit_keypoints_renames_adds_removes_and_reorders(qtbot, window, monkeypatch):
    wait_shown(qtbot, window)
    click_image(qtbot, window, 20, 20)  # nose
    click_image(qtbot, window, 30, 20)  # left_eye
    dialog = EditSchemaDialog(window.schema)
    qtbot.addWidget(dialog)
    ed = dialog.editor
    ed.names.item(0).setText("snout")
    ed.names.setCurrentRow(3)
    ed.names.item(3).setSelected(True)
    ed._remove_selected()  # tail
    ed.add_keypoints(["chin"])
    ed.names.setCurrentRow(3)
    ed._move(-3)  # chin first
    edit = ed.edit()
    assert edit.renames == {"nose": "snout"} and edit.removed == ("tail",) and edit.added == ("chin",)
    schema = apply_schema_edit(window.project, edit)
    assert schema.keypoints == ("chin", "snout", "left_eye", "right_eye")
    assert schema.skeleton == (("snout", "left_eye"), ("snout", "right_eye"))
    assert schema.flip_pairs == (("left_eye", "right_eye"),)
    rows = window.project.points(window.current.id)
    assert set(rows) == {"snout", "left_eye"}  # renaming kept the point


def test_exports_from_the_window(qtbot, window, tmp_path):
    wait_shown(qtbot, window)
    for x in (20, 30, 40, 50):
        click_image(qtbot, window, x, 20)
    window.step_image(1)
    wait_shown(qtbot, window)
    for x in (22, 33, 44, 55):
        click_image(qtbot, window, x, 25)
    out = tmp_path / "labels.json"
    job = window.export_coco(out)
    qtbot.waitUntil(lambda: job.is_finished)
    coco = COCO(str(out))
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) == 2 and all(a["num_keypoints"] == 4 for a in anns)
    assert coco.loadCats(coco.getCatIds())[0]["keypoints"] == ["nose", "left_eye", "right_eye", "tail"]
    pairs = tmp_path / "pairs"
    job = window.export_spair(pairs)
    qtbot.waitUntil(lambda: job.is_finished)
    assert job.error is None, job.error
    meta = json.loads((pairs / "labeler_export.json").read_text(encoding="utf-8"))
    assert len(meta["images"]) == 2
    assert "wrote" in window.statusBar().currentMessage()


def test_shortcuts_dialog_lists_the_table(qtbot, window):
    from labeler.gui.help_dialog import ShortcutsDialog, rows
    from labeler.gui.shortcuts import MOUSE, SHORTCUTS

    dialog = ShortcutsDialog(window)
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == len(SHORTCUTS) + len(MOUSE) == len(rows())
    texts = {dialog.table.item(r, 2).text() for r in range(dialog.table.rowCount())}
    assert all(s.description in texts for s in SHORTCUTS)


def test_enter_in_the_names_field_adds_names_and_does_not_create(qtbot, tmp_path):
    """The field says "Enter adds": Enter once also pressed Create, making the project before
    the skeleton and pairs were entered. Names typed but not added count when Create is pressed;
    a name already listed is not added twice."""
    folder = tmp_path / "birds"
    write_image(folder / "b.jpg", "rgb", (80, 60))
    dialog = NewProjectDialog(folder=str(folder))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.editor.entry.setFocus()
    qtbot.keyClicks(dialog.editor.entry, "nose, left eye")
    qtbot.keyClick(dialog.editor.entry, Qt.Key.Key_Return)
    assert dialog.editor.keypoint_names() == ["nose", "left eye"]
    assert dialog.isVisible() and dialog.result() == 0
    dialog.editor.entry.insert("nose, tail ü")  # (QtTest types ASCII only)
    qtbot.keyClick(dialog.editor.entry, Qt.Key.Key_Enter)
    assert dialog.editor.keypoint_names() == ["nose", "left eye", "tail ü"]
    assert "already in the list" in dialog.editor.error.text() and "nose" in dialog.editor.error.text()
    qtbot.keyClicks(dialog.editor.entry, "right eye")  # typed, not added
    dialog._accept()
    assert dialog.result() == NewProjectDialog.DialogCode.Accepted
    assert dialog.values()[2].keypoints == ("nose", "left eye", "tail ü", "right eye")


def test_failed_create_brings_the_dialog_back_filled_in(qtbot, make_window, tmp_path, monkeypatch):
    """A folder with no readable images: the reason is shown in the New project dialog, which
    comes back with everything typed (keypoints, pairs), instead of being lost."""
    Dialog = NewProjectDialog
    folder = tmp_path / "bad photos ü"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"not a jpeg")
    window = make_window()
    reopened = []

    def fake_exec(self):
        reopened.append((self.folder.text(), self.editor.keypoint_names(), self.editor.flips.pairs(), self.message.text()))
        return Dialog.DialogCode.Rejected

    monkeypatch.setattr(Dialog, "exec", fake_exec)
    schema = Schema(("l", "r"), (), (("l", "r"),))
    job = window.create_project(folder, tmp_path / "x.labeler", schema, None, reopen_on_failure=True)
    qtbot.waitUntil(lambda: job.is_finished and bool(reopened), timeout=10_000)
    text, names, flips, message = reopened[0]
    assert text == str(folder) and names == ["l", "r"] and flips == [("l", "r")]
    assert "can be read" in message and "a.jpg" in message
    assert not (tmp_path / "x.labeler").exists() and window.project is None
    write_image(folder / "ok.png", "rgb", (40, 30))
    blocker = tmp_path / "a file"
    blocker.write_text("")
    reopened.clear()
    job = window.create_project(folder, blocker / "x.labeler", schema, None, reopen_on_failure=True)
    qtbot.waitUntil(lambda: job.is_finished and bool(reopened), timeout=10_000)
    assert reopened[0][3].startswith(f"cannot create {blocker / 'x.labeler'}")  # the OS's reason, not "a bug"


def test_unreadable_files_are_listed_after_creating(qtbot, make_window, tmp_path):
    folder = tmp_path / "mixed"
    write_image(folder / "good.jpg", "rgb", (80, 60))
    (folder / "broken.png").write_bytes(b"nope")
    window = make_window()
    job = window.create_project(folder, tmp_path / "mixed.labeler", Schema(("a",)), None)
    qtbot.waitUntil(lambda: job.is_finished and window.files.skipped_box is not None, timeout=10_000)
    assert "broken.png" in window.files.skipped_box.text()
    window.files.skipped_box.close()


def test_schema_change_runs_off_the_ui_thread_and_edits_wait(qtbot, window, monkeypatch):
    """Removing a keypoint counts and deletes its points project-wide (1.1 s at 10k images once
    froze the window): it runs in the background, asks first, and edits wait until it is done."""
    from PyQt6.QtWidgets import QMessageBox

    wait_shown(qtbot, window)
    click_image(qtbot, window, 20, 20)  # nose
    click_image(qtbot, window, 30, 20)  # left_eye
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Yes)
    editor = SchemaEditor(window.schema)
    qtbot.addWidget(editor)
    editor.names.item(0).setText("snout")
    editor.names.item(1).setSelected(True)
    editor._remove_selected()  # left_eye, which has a point
    job = window.change_schema(editor.edit())
    assert job is not None and window.schema_job is job
    click_image(qtbot, window, 40, 40)
    assert "updating the keypoints" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: window.schema_job is None and window.schema.keypoints[0] == "snout")
    assert asked and "left_eye (1 points)" in asked[0]
    assert window.schema.keypoints == ("snout", "right_eye", "tail")
    assert set(window.project.points(window.current.id)) == {"snout"}
    assert window.keypoints.status_of("snout") == "placed"


def test_export_the_disk_refuses_is_a_reason_not_a_bug(qtbot, window, tmp_path):
    """Exporting under a path whose "folder" is a file: the dialog gives the OS's reason as a
    user error (it once showed "Something went wrong … a bug in labeler")."""
    from labeler.gui import errors

    blocker = tmp_path / "a file"
    blocker.write_text("")
    errors.reporter().dialogs.clear()
    job = window.export_spair(blocker / "pairs")
    qtbot.waitUntil(lambda: job.is_finished and bool(errors.reporter().dialogs))
    box = errors.reporter().dialogs[-1]
    assert box.windowTitle() != "Something went wrong" and str(blocker) in box.text()
    box.close()


def test_a_plan_that_lands_after_its_dialog_was_deleted_is_dropped(qtbot, window):
    """Closing the propagate dialog while its plan is computed raised 'wrapped C/C++ object has
    been deleted' in the event loop (seen in CI); the result now finds no one to deliver to."""
    import threading

    from PyQt6 import sip

    from labeler.gui import background
    from labeler.gui.propagate_dialog import PropagateDialog
    from labeler.propagation import plan_propagation

    release = threading.Event()

    def slow_plan(project, config):  # noqa: ANN001
        release.wait(10)
        return plan_propagation(project, config)

    dialog = PropagateDialog(window.project, None, window, plan_fn=slow_plan)
    dialog.deleteLater()
    qtbot.waitUntil(lambda: sip.isdeleted(dialog))
    release.set()
    assert background.wait_all(10000)
    qtbot.wait(200)  # the queued result reaches the UI thread: nothing may raise there
