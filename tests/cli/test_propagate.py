"""`labeler propagate`: options, messages, exit codes, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from labeler.store import Project
from labeler.store.project import raw_connection



@pytest.fixture(autouse=True)
def _one_torch_thread():
    """The in-process runs gain nothing from torch's threads on small images (restored after)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


FAST = ["--method", "classical", "--setting", "work_side=64", "--setting", "step=4"]


def test_help_lists_the_options(cli):
    r = cli("propagate", "--help")
    assert r.code == 0
    for option in ("--method", "--model", "--preset", "--device", "--batch-size", "--images", "--force", "--no-flip"):
        assert option in r.out
    assert "130" in r.out


def test_no_references_is_explained(cli, project):
    r = cli("propagate", project, *FAST)
    assert r.code == 2 and "label at least one image" in r.err and "Traceback" not in r.err


def test_model_that_fails_to_load_exit_2_without_traceback(cli, project, tmp_path):
    cli("label", project, "plain/a.jpg", "nose=10,20")
    r = cli("propagate", project, "--method", "dift", "--model", tmp_path / "nothing-here", "--device", "cpu")
    assert r.code == 2 and r.err.startswith("loading the dift engine") and "error:" in r.err
    assert "Traceback" not in r.err
    with Project.open(project) as p:
        assert p.counts().points_by_status["predicted"] == 0


def test_bad_arguments(cli, project):
    cli("label", project, "plain/a.jpg", "nose=10,20")
    r = cli("propagate", project, *FAST, "--images", "no/such/*")
    assert r.code == 2 and "matches no image" in r.err
    r = cli("propagate", project, "--method", "classical", "--setting", "work_side")
    assert r.code == 2 and "NAME=VALUE" in r.err
    r = cli("propagate", project, "--method", "classical", "--setting", "bogus=1")
    assert r.code == 2 and "unknown setting" in r.err
    r = cli("propagate", project, "--method", "classical", "--model", "sd-2-1")
    assert r.code == 2 and "uses no model" in r.err
    r = cli("propagate", project, *FAST, "--batch-size", "0")
    assert r.code == 2 and "batch size" in r.err


def test_summary_failures_exit_1_and_rerun(cli, project, images):
    cli("label", project, "plain/a.jpg", "nose=10,20", "left_eye=20,10")
    (images.root / "plain/b.png").unlink()
    r = cli("propagate", project, *FAST, "--batch-size", "5")
    assert r.code == 1, r.err
    assert "images predicted: 11 of 12" in r.out and "failed: 1" in r.out  # the missing file is a target that failed
    assert "plain/b.png: file not found" in r.out and "kept confirmed: 2" in r.out
    assert "remove-images PROJECT --missing" in r.out
    assert "note: no reference for right_eye, tail" in r.out
    r = cli("propagate", project, *FAST, "--quiet")
    assert r.code == 1 and "skipped, up to date: 11" in r.out and r.err == ""
    r = cli("propagate", project, *FAST, "--quiet", "--force", "--images", "formats/*", "--no-flip")
    assert "images predicted: 7 of 7" in r.out and "matched better mirrored" not in r.out


def test_ctrl_c_stops_after_the_current_batch_and_keeps_it(project, images, tmp_path):
    from labeler.cli import main

    assert main(["label", str(project), "plain/a.jpg", "nose=10,20"]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "labeler", "propagate", str(project), *FAST, "--batch-size", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def committed() -> int:
        conn = raw_connection(project)
        try:
            return conn.execute("SELECT count(*) FROM image WHERE pred_signature IS NOT NULL").fetchone()[0]
        finally:
            conn.close()

    deadline = time.monotonic() + 60
    while committed() == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    if "images predicted: 12 of 12" in out:  # the run had finished before the signal arrived
        assert proc.returncode == 0
        return
    assert proc.returncode == 130, err
    assert "stopping after the current batch" in err and "Traceback" not in err
    assert "propagation stopped" in out and "run the same command again" in out
    done = committed()
    assert 1 <= done < 12 and f"images predicted: {done} of 12" in out
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 0 and f"skipped, up to date: {done}" in again.stdout
    assert committed() == 12


def test_summary_names_no_model_for_the_classical_method(cli, project):
    cli("label", project, "plain/a.jpg", "nose=10,20", "left_eye=20,10")
    r = cli("propagate", project, "--method", "classical", "--quiet", "--images", "plain/*")
    assert "propagation done: classical (no model, preset fast)" in r.out, r.out


def test_progress_bar_shows_the_reference_optimisation_steps(capsys):
    from labeler.cli.cmd_propagate import _Bars
    from labeler.propagation import STAGE_DONE, STAGE_REFERENCES, ProgressEvent

    bars = _Bars(quiet=False)
    bars(ProgressEvent(STAGE_REFERENCES, 0, 2, message="optimising reference keypoints: step 64/129"))
    bars(ProgressEvent(STAGE_DONE, 2, 2))
    assert "step 64/129" in capsys.readouterr().err


def test_a_stopped_forced_run_says_to_continue_without_force(capsys):
    from labeler.cli.cmd_propagate import _print_summary
    from labeler.propagation import PropagationConfig, PropagationSummary

    stopped = PropagationSummary(predicted_images=14, written_points=28, kept_confirmed=0, skipped_up_to_date=0,
                                 failed=(), stopped=True, seconds=3.0, device="cpu", messages=(), signature="s",
                                 flipped_images=0, targets=40)
    _print_summary(stopped, PropagationConfig(method="classical", force=True))
    assert "run the same command without --force again to continue" in capsys.readouterr().out
    _print_summary(stopped, PropagationConfig(method="classical"))
    assert "run the same command again to continue" in capsys.readouterr().out


def test_a_flagged_image_is_never_a_reference(cli, project):
    """Issue 21 §9: the only labelled image, once flagged (any flag), teaches nothing."""
    assert cli("label", project, "plain/a.jpg", "nose=10,10", "tail=30,20").code == 0
    for flag in ("--later", "--skip", "--no-object"):
        assert cli("flag", project, "plain/a.jpg", flag).code == 0
        r = cli("propagate", project, *FAST)
        assert "nothing to propagate from" in r.out + r.err, (flag, r.out, r.err)
    assert cli("flag", project, "plain/a.jpg", "--clear").code == 0
    r = cli("propagate", project, *FAST, "--images", "plain/b.png")
    assert r.code == 0 and "images predicted: 1 of 1" in r.out, r.out + r.err
