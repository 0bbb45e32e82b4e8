"""The propagate dialog's "Run on" choice, and a run on a real local Ray from the window
(per-worker status in the progress panel)."""

from __future__ import annotations

import dataclasses

import pytest
from gui_helpers import TINY, label_first_image

from labeler.cluster import ClusterOptions
from labeler.propagation import PropagationConfig

CLASSICAL = PropagationConfig(method="classical", batch_size=2, flip=False, overrides={"work_side": 128})


def test_run_on_defaults_to_this_machine_and_builds_cluster_options(qtbot, make_window, project_path):
    from labeler.gui.propagate_dialog import PropagateDialog

    label_first_image(project_path)
    window = make_window(project_path)
    dialog = PropagateDialog(window.project, TINY, window)
    qtbot.addWidget(dialog)
    assert dialog.cluster() is None and not dialog.run_on.address.isEnabled()
    dialog.run_on.ray.setChecked(True)
    assert dialog.run_on.address.isEnabled()
    dialog.run_on.address.setText("10.0.0.5:6379")
    dialog.run_on.workers.setValue(4)
    dialog.run_on.gpus.setValue(0.5)
    assert dialog.cluster() == ClusterOptions(address="10.0.0.5:6379", workers=4, gpus_per_worker=0.5)
    dialog.run_on.address.setText("head:port")
    dialog._accept()
    assert "expected local, auto or HOST:PORT" in dialog.error.text() and dialog.result() == 0
    # The dialog opens with the cluster of the last run.
    again = PropagateDialog(window.project, TINY, window, cluster=ClusterOptions(address="auto"))
    qtbot.addWidget(again)
    assert again.cluster() == ClusterOptions(address="auto")


@pytest.mark.slow
def test_a_cluster_run_from_the_window_shows_its_workers(qtbot, make_window, project_path):
    label_first_image(project_path)
    window = make_window(project_path)
    seen = []
    window.runner.workers.connect(lambda statuses: seen.append((window.progress.workers.text(), statuses)))
    with qtbot.waitSignal(window.runner.finished, timeout=240_000) as done:
        assert window.start_propagation(CLASSICAL, ClusterOptions(address="local", workers=1))
    summary = done.args[0]
    assert not summary.stopped and summary.failed == () and summary.predicted_images == 5
    assert summary.device.startswith("ray: 1 x cpu")
    texts = [t for t, _ in seen]
    assert "Ray: 1 worker(s), 1 busy" in texts
    assert window.progress.workers.text() == "Ray: 1 worker(s), 0 busy"  # idle once the run is over
    last = seen[-1][1][0]
    assert last.images == 5 and last.pid and "5 image(s)" in last.describe()
    assert window.runner.last_cluster == ClusterOptions(address="local", workers=1)
    # Predict again re-uses the same place to run.
    assert dataclasses.replace(window.runner.last_config, force=False) == CLASSICAL
