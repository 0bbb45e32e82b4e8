"""The fusion method from the GUI: the propagate dialog offers it with its published accuracy and
measured cost, and a run through the real worker completes on the tiny random SD + DINOv2."""

from __future__ import annotations

from gui_helpers import label_first_image, wait_shown
from PyQt6.QtCore import Qt

from labeler.propagation import PropagationConfig

TINY_FUSION = PropagationConfig(
    method="fusion", model="tiny-random", device="cpu", batch_size=2, flip=False,
    overrides={"sd_resolution": 128, "dino_resolution": 112},
)


def test_dialog_offers_fusion_with_its_published_accuracy_and_cost(qtbot, make_window, project_path):
    from labeler.gui.propagate_dialog import PropagateDialog

    label_first_image(project_path)
    window = make_window(project_path)
    dialog = PropagateDialog(window.project, TINY_FUSION, window)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=10_000)
    assert dialog.method.currentData() == "fusion"
    assert "PCK@0.1" in dialog.method_info.text() and "s/image" in dialog.method_info.text()
    assert "fusion fast: 1 UNet pass(es) (SD at 128 px) + 1 DINOv2 pass (112 px)" in dialog.plan_label.text()
    models = [dialog.model.itemText(i) for i in range(dialog.model.count())]
    assert "sd-1-5" in models and "tiny-random" in models
    assert dialog.config() == TINY_FUSION
    presets = [dialog.preset.itemText(i) for i in range(dialog.preset.count())]
    assert presets == ["fast", "paper", "geoaware-sc", "sd-dino"]
    assert "FreeU" in dialog.preset.itemData(presets.index("sd-dino"), Qt.ItemDataRole.ToolTipRole)
    dialog.preset.setCurrentText("sd-dino")
    qtbot.waitUntil(lambda: "fusion sd-dino" in dialog.plan_label.text(), timeout=10_000)
    assert dialog.config().preset == "sd-dino"
    dialog.method.setCurrentIndex(dialog.method.findData("dift"))
    assert "52.9" in dialog.method_info.text()
    # DIFT offers only its own presets; the fusion-only choice falls back to fast
    assert [dialog.preset.itemText(i) for i in range(dialog.preset.count())] == ["fast", "paper"]
    assert dialog.config().preset == "fast"
    dialog.method.setCurrentIndex(dialog.method.findData("fusion"))
    dialog.preset.setCurrentText("geoaware-sc")
    assert dialog.config().preset == "geoaware-sc"


def test_fusion_run_from_the_window_predicts_every_image(qtbot, make_window, project_path):
    label_first_image(project_path)
    window = make_window(project_path)
    wait_shown(qtbot, window)
    with qtbot.waitSignal(window.runner.finished, timeout=300_000) as done:
        assert window.start_propagation(TINY_FUSION)
    summary = done.args[0]
    assert not summary.stopped and summary.failed == ()
    assert summary.predicted_images == 5 and summary.written_points == 5 * 4
