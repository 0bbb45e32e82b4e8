"""What was CLI-only: remove images (selected, or missing), SPair export options (split,
max pairs, predictions as a separate choice), clear the reference cache."""

from __future__ import annotations

import pytest
from gui_helpers import wait_shown
from PyQt6.QtCore import QItemSelectionModel
from PyQt6.QtWidgets import QMessageBox

from labeler.gui import project_actions
from labeler.gui.project_actions import SPairExportDialog
from labeler.store import Project

REF = {"nose": (48, 20), "left_eye": (30, 30), "right_eye": (66, 30), "tail": (48, 66)}


def test_remove_selected_and_missing_images(qtbot, window, monkeypatch):
    wait_shown(qtbot, window)
    rows = window.image_list.model.rows()
    ids = [r[0] for r in rows]
    window.project.set_points(ids[1], REF)
    asked = []
    monkeypatch.setattr(project_actions, "confirm_remove",
                        lambda parent, paths, confirmed, why: asked.append((paths, confirmed, why)) or True)
    sel = window.image_list.view.selectionModel()
    model = window.image_list.model
    sel.select(model.index(1), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    sel.select(model.index(2), QItemSelectionModel.SelectionFlag.Select)
    assert window.image_list.selected_ids() == [ids[1], ids[2]]
    window.remove_selected_action.trigger()
    qtbot.waitUntil(lambda: len(window.project.image_index()) == 4)
    assert asked[-1] == ([rows[1][1], rows[2][1]], 4, "selected")  # said what goes, labels included
    qtbot.waitUntil(lambda: model.rowCount() == 4)

    window.project.image_path(ids[4]).unlink()
    window.remove_missing_action.trigger()
    qtbot.waitUntil(lambda: len(window.project.image_index()) == 3)
    assert asked[-1] == ([rows[4][1]], 0, "missing")
    assert ids[4] not in [r[0] for r in window.project.image_index()]
    window.remove_missing_action.trigger()  # nothing missing now
    qtbot.waitUntil(lambda: "every file is there" in window.statusBar().currentMessage())


def test_spair_export_options_and_predictions_as_a_choice(qtbot, window, tmp_path):
    ids = [r[0] for r in window.image_list.model.rows()]
    for i in ids[:3]:
        window.project.set_points(i, REF)
    window.project.write_predictions([(ids[3], {n: (x + 1.0, y + 1.0, 0.5) for n, (x, y) in REF.items()})],
                                     method="test", model=None)
    dialog = SPairExportDialog(tmp_path / "pairs")
    qtbot.addWidget(dialog)
    dialog.split.setText("1, 0, 0")
    dialog.max_pairs.setValue(2)
    out, config, predictions = dialog.values()
    assert config.split_ratio == pytest.approx((1.0, 0.0, 0.0)) and config.max_pairs == 2 and not predictions
    dialog.split.setText("a, b")
    dialog._accept()
    assert dialog.error.text().startswith("the split takes three numbers") and not dialog.result()

    job = window.export_spair(tmp_path / "only-confirmed", config=config)
    qtbot.waitUntil(lambda: job.is_finished)
    dialog.split.setText("1, 0, 0")
    dialog.max_pairs.setValue(0)  # all
    dialog.predictions.setChecked(True)
    out, config, predictions = dialog.values()
    job = window.export_spair(tmp_path / "with-predictions", config=config, include_predictions=predictions)
    qtbot.waitUntil(lambda: job.is_finished)
    pairs = [p for p in (tmp_path / "only-confirmed").rglob("*.json") if "Pair" in str(p)]
    assert len(pairs) == 2  # max pairs
    with_pred = [p for p in (tmp_path / "with-predictions").rglob("*.json") if "Pair" in str(p)]
    assert len(with_pred) == 6  # 4 images -> 6 pairs: the predicted one takes part


def test_clear_the_reference_cache(qtbot, window, monkeypatch):
    window.project.cache_put("states/a", b"x")
    window.project.cache_put("states/b", b"y")
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    window.clear_cache_action.trigger()
    qtbot.waitUntil(lambda: window.project.cache_keys() == [])
    qtbot.waitUntil(lambda: "cleared the reference cache: 2 entries" in window.statusBar().currentMessage())
    with Project.open(window.project.path) as p:
        assert p.cache_keys() == []
