"""Image-level status, one key each: K skip, Shift+X no object, M flag for later; the list
filters each, the review queue passes over skipped / no-object images."""

from __future__ import annotations

from gui_helpers import key, wait_shown
from PyQt6.QtCore import Qt

from labeler.gui.image_list import FlagRole
from labeler.store import FLAG_LATER, FLAG_NO_OBJECT, FLAG_SKIP, Project


def flags(path):
    with Project.open(path) as p:
        return p.image_flags()


def test_one_key_each_flags_filters_and_clears(qtbot, window):
    wait_shown(qtbot, window)
    ids = [r[0] for r in window.image_list.model.rows()]
    key(qtbot, window, Qt.Key.Key_K)
    assert flags(window.project.path) == {ids[0]: FLAG_SKIP}
    assert window.current.id == ids[1]  # decided: on to the next image
    key(qtbot, window, Qt.Key.Key_X, Qt.KeyboardModifier.ShiftModifier)
    assert window.current.id == ids[2]
    key(qtbot, window, Qt.Key.Key_M)
    assert window.current.id == ids[2]  # "later" stays
    assert flags(window.project.path) == {ids[0]: FLAG_SKIP, ids[1]: FLAG_NO_OBJECT, ids[2]: FLAG_LATER}
    model = window.image_list.model
    assert model.data(model.index(model.row_of(ids[1])), FlagRole) == FLAG_NO_OBJECT
    assert "1&nbsp;skipped" in window.image_list.counts.text()
    for flag, expected in ((FLAG_SKIP, ids[0]), (FLAG_NO_OBJECT, ids[1]), (FLAG_LATER, ids[2])):
        window.image_list.set_flag_filter(flag)
        assert [r[0] for r in model.rows()] == [expected]
    window.image_list.set_filter(None)
    window.show_image(ids[0])
    key(qtbot, window, Qt.Key.Key_K)  # again: cleared, and it stays
    assert window.current.id == ids[0]
    assert ids[0] not in flags(window.project.path)
    assert "no longer skipped" in window.statusBar().currentMessage()


def test_the_review_queue_passes_over_skipped_and_no_object_images(qtbot, make_window, project_path):
    with Project.open(project_path) as p:
        ids = [r[0] for r in p.image_index()]
        p.set_points(ids[0], {"nose": (48, 20), "left_eye": (30, 30), "right_eye": (66, 30), "tail": (48, 66)})
        p.write_predictions([(ids[i], {"nose": (20.0, 20.0, c)}) for i, c in ((1, 0.1), (2, 0.2), (3, 0.3))],
                            method="test", model=None)
        p.set_image_flag(ids[1], FLAG_SKIP)
        p.set_image_flag(ids[2], FLAG_NO_OBJECT)
    window = make_window(project_path)
    key(qtbot, window, Qt.Key.Key_N)
    assert window.current.id == ids[3]


def test_a_flag_is_undone_like_any_edit_and_the_view_goes_back(qtbot, window):
    wait_shown(qtbot, window)
    ids = [r[0] for r in window.image_list.model.rows()]
    key(qtbot, window, Qt.Key.Key_K)  # skipped by mistake; moved on
    assert window.current.id == ids[1]
    assert window.undo_stack.undoText() == "flag img00.jpg skipped"
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert flags(window.project.path) == {} and window.current.id == ids[0]
    assert window.image_list.flag_of(ids[0]) is None
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert flags(window.project.path) == {ids[0]: FLAG_SKIP}


def test_moving_to_an_image_by_a_key_with_ctrl_or_shift_selects_only_it(qtbot, window):
    """Undo (Ctrl+Z) and flag keys (Shift+X) move to another image while Ctrl or Shift is held:
    the list must select that image alone, not add it to the selection (the list selects several
    for Remove; a stale second row would be removed too)."""
    wait_shown(qtbot, window)
    ids = [r[0] for r in window.image_list.model.rows()]
    for undo in (Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ControlModifier):
        key(qtbot, window, Qt.Key.Key_X, Qt.KeyboardModifier.ShiftModifier)  # no object; moved on
        moved = window.current.id
        assert window.image_list.selected_ids() == [moved]
        key(qtbot, window, Qt.Key.Key_Z, undo)  # back to the flagged image
        assert window.current.id != moved
        assert window.image_list.selected_ids() == [window.current.id], (ids, moved)
