"""Propagation through the real QThread worker (tiny random DIFT on the CPU): signals,
progress, results landing on screen while it runs, Stop, and the propagate dialog."""

from __future__ import annotations

import dataclasses

from gui_helpers import TINY, key, label_first_image, wait_shown
from PyQt6.QtCore import Qt

from labeler.propagation import STAGE_DONE, STAGE_LOADING, STAGE_PREDICTING, STAGE_REFERENCES
from labeler.store import PREDICTED, REVIEW_PREDICTED, Project


def test_propagate_streams_progress_and_predictions(qtbot, make_window, project_path):
    reference = label_first_image(project_path)
    window = make_window(project_path)
    wait_shown(qtbot, window)
    window.step_image(1)  # look at a target while it runs
    target = window.current.id
    events, landed, seen_while_running = [], [], []
    window.runner.progress.connect(events.append)
    window.runner.images_updated.connect(landed.append)

    def on_landed(ids):
        if target in ids:  # the window's own slot ran first: the canvas shows the new predictions
            seen_while_running.append((window.runner.running, dict(window.canvas.drawn_points())))

    window.runner.images_updated.connect(on_landed)
    with qtbot.waitSignal(window.runner.finished, timeout=180_000) as done:
        assert window.start_propagation(TINY)
        assert window.progress.isVisible() and window.actions["stop_propagation"].isEnabled()
        assert not window.start_propagation(TINY)  # one run at a time
    summary = done.args[0]
    assert not summary.stopped and summary.failed == ()
    assert summary.predicted_images == 5 and summary.written_points == 5 * 4
    stages = [e.stage for e in events]
    for stage in (STAGE_LOADING, STAGE_REFERENCES, STAGE_PREDICTING, STAGE_DONE):
        assert stage in stages
    predicting = [e for e in events if e.stage == STAGE_PREDICTING and e.done]
    assert predicting[-1].done == predicting[-1].total == 5
    assert all(e.images_per_s and e.images_per_s > 0 for e in predicting)
    assert {i for ids in landed for i in ids} == {r for r in range(1, 7)} - {reference}
    running, drawn = seen_while_running[0]
    assert running and set(drawn) == {'nose', 'left_eye', 'right_eye', 'tail'} and all(item.predicted for item in drawn.values())
    assert not window.progress.isVisible() and not window.actions["stop_propagation"].isEnabled()
    assert "propagation done: 5 image(s) predicted" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: sum(r[2] == REVIEW_PREDICTED for r in window.image_list.all_rows()) == 5)
    assert window.keypoints.status_of("nose").endswith(" predicted")


def test_stop_keeps_finished_batches(qtbot, make_window, project_path):
    label_first_image(project_path)
    window = make_window(project_path)
    config = dataclasses.replace(TINY, batch_size=1)

    stop_enabled = []

    def stop_after_first_image(event):
        if event.stage == STAGE_PREDICTING and event.done == 1:
            key(qtbot, window, Qt.Key.Key_Escape)
            stop_enabled.append(window.actions["stop_propagation"].isEnabled())

    window.runner.progress.connect(stop_after_first_image)
    with qtbot.waitSignal(window.runner.finished, timeout=180_000) as done:
        window.start_propagation(config)
    summary = done.args[0]
    assert summary.stopped
    assert stop_enabled == [False]  # asked once: Stop is greyed out until the run ends
    assert 1 <= summary.predicted_images < 5
    with Project.open(project_path) as p:
        predicted_images = {r.image_id for r in p.all_points(statuses=[PREDICTED])}
    assert len(predicted_images) == summary.predicted_images
    assert "propagation stopped" in window.statusBar().currentMessage()


def test_failure_is_a_dialog_not_a_crash(qtbot, window):
    from labeler.gui.errors import reporter

    shown = len(reporter().shown)
    with qtbot.waitSignal(window.runner.failed, timeout=30_000) as failed:
        window.start_propagation(TINY)  # nothing labelled yet: nothing to propagate from
    assert "nothing to propagate from" in failed.args[0]
    qtbot.waitUntil(lambda: len(reporter().shown) > shown)
    assert "nothing to propagate from" in reporter().shown[-1]
    assert not window.runner.running and not window.progress.isVisible()


def test_dialog_shows_plan_and_builds_config(qtbot, make_window, project_path):
    from labeler.gui.propagate_dialog import PropagateDialog, parse_settings

    label_first_image(project_path)
    window = make_window(project_path)
    dialog = PropagateDialog(window.project, TINY, window)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=10_000)
    assert dialog.plan.targets == 5 and dialog.plan.reference_images == 1
    assert "5</b> image(s) to predict" in dialog.plan_label.text()
    assert dialog.ok.isEnabled()
    assert dialog.config() == TINY
    dialog.method.setCurrentIndex(dialog.method.findData("classical"))
    assert not dialog.model.isEnabled() and dialog.config().model is None
    dialog.settings.setText("resolution 64")
    qtbot.waitUntil(lambda: "NAME=VALUE" in dialog.error.text())
    assert not dialog.ok.isEnabled()
    assert parse_settings("resolution=64, prompt=a cat") == {"resolution": 64, "prompt": "a cat"}


def test_stopping_says_when_the_run_will_end(qtbot):
    from labeler.gui.progress_panel import ProgressPanel
    from labeler.propagation import ProgressEvent

    panel = ProgressPanel()
    qtbot.addWidget(panel)
    panel.start()
    panel.stopping()  # nothing heard yet: the model is loading
    assert "once the model has loaded" in panel.stage.text() and not panel.stop.isEnabled()
    for stage, words in ((STAGE_LOADING, "once the model has loaded"), (STAGE_REFERENCES, "after this step"),
                         (STAGE_PREDICTING, "after this batch")):
        panel.start()
        panel.update_event(ProgressEvent(stage, 1, 4))
        panel.stopping()
        assert words in panel.stage.text()
