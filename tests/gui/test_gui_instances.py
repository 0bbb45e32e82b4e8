"""Several objects per image in the app: Ctrl+B adds an object and a drag draws its box, I selects
objects, clicks label the selected one, Ctrl+D duplicates, Shift+C copies points, Shift+Delete
deletes; each object is drawn in its own colour with its name."""

from __future__ import annotations

import os

from gui_helpers import click_image, drag_point, key, wait_shown
from PyQt6.QtCore import Qt

from labeler.store import Project


def _on_disk(window):
    with Project.open(window.project.path) as p:  # a second connection: what is on disk
        image = window.current.id
        return [(i.box, {n: (r.x, r.y) for n, r in p.points(image, i.id).items()}) for i in p.instances(image)]


def test_objects_get_boxes_by_drag_and_clicks_label_the_selected_one(qtbot, window, tmp_path):
    wait_shown(qtbot, window)
    click_image(qtbot, window, 10, 10)  # nose of the image's first object
    key(qtbot, window, Qt.Key.Key_B)
    drag_point(qtbot, window, (4, 4), (40, 30))
    key(qtbot, window, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)  # a new object, then its box
    drag_point(qtbot, window, (50, 30), (90, 70))
    key(qtbot, window, Qt.Key.Key_1)
    click_image(qtbot, window, 60, 40)  # goes to the selected (second) object
    first, second = _on_disk(window)
    assert set(first[1]) == {"nose"} and set(second[1]) == {"nose"}
    assert abs(first[1]["nose"][0] - 10) < 0.5 and abs(second[1]["nose"][0] - 60) < 0.5
    assert first[0] is not None and abs(first[0][2] - 36) <= 2 and abs(second[0][3] - 40) <= 2
    assert [t.text() for _, t in window.instances.items][1].startswith("2")
    key(qtbot, window, Qt.Key.Key_I)  # back to the first object (wrapping): the view shows its points
    assert window.instances.current == window.project.instances(window.current.id)[0].id
    assert set(window.canvas.drawn_points()) == {"nose"}
    key(qtbot, window, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)  # duplicate the first
    third = _on_disk(window)[2]
    assert len(_on_disk(window)) == 3 and abs(third[1]["nose"][0] - 20) < 0.5  # shifted by 10 px
    # object edits are not on the undo stack: each says what it did, and that Ctrl+Z will not undo it
    said = window.statusBar().currentMessage()
    assert said.startswith("duplicated object 1") and "not undone by Ctrl+Z" in said
    key(qtbot, window, Qt.Key.Key_Delete, Qt.KeyboardModifier.ShiftModifier)
    assert len(_on_disk(window)) == 2
    said = window.statusBar().currentMessage()
    assert said.startswith("deleted object 3 and its 1 point(s)") and "not undone by Ctrl+Z" in said
    if os.environ.get("LABELER_SHOT"):
        window.grab().save(os.environ["LABELER_SHOT"])


def test_an_image_with_several_objects_opens_at_its_least_confident_one(qtbot, window):
    wait_shown(qtbot, window)
    p = window.project
    target = p.list_images()[2].id
    sure, unsure = p.add_instance(target, box=(1, 1, 30, 30)), p.add_instance(target, box=(40, 20, 40, 40))
    p.write_predictions([(target, {"nose": (5.0, 5.0, 0.9)}, False, sure.id),
                         (target, {"nose": (50.0, 30.0, 0.1)}, False, unsure.id)], method="m", model=None)
    window.show_image(target)
    wait_shown(qtbot, window)
    assert window.instances.current == unsure.id
    assert abs(window.canvas.drawn_points()["nose"].pos().x() - 50.0) < 0.5  # its points are the ones shown
