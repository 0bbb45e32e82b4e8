"""benchmarks/gpu_run.sh end to end in its tiny CPU mode: parts run under their caps, a part with
too little budget is skipped, and every result lands in $OUT (what comes back from the GPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_gpu_run_script_in_tiny_cpu_mode(tmp_path):
    out = tmp_path / "out"
    env = {
        **os.environ,
        "GPU_RUN_TINY": "1",
        "OUT": str(out),
        "PYTHON": sys.executable,
        "GPU_RUN_ONLY": "wheels,host,attention,profile",
        "GPU_RUN_T_ATTENTION": "5",  # below the 15 s a part needs: skipped, and said so
    }
    r = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_run.sh")], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=500)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["ok"] and summary["device"] == "cpu" and summary["size"] == "tiny"
    parts = summary["parts"]
    assert parts["host"]["status"] == "done" and parts["host"]["exit"] == 0
    assert parts["attention"]["status"] == "skipped" and parts["wheels"]["status"] == "skipped"
    assert "tests" not in parts and "dift" not in parts  # not asked for
    host = json.loads((out / "host.json").read_text(encoding="utf-8"))
    assert host["figures"][0]["name"].startswith("Host ceiling") and host["figures"][0]["value"] > 0
    assert parts["profile"]["status"] == "done"
    assert "DIFT fast, tiny-random @ 64 px, cpu" in (out / "profile.txt").read_text(encoding="utf-8")
    log = (out / "run.log").read_text(encoding="utf-8")
    assert "attention: skipped" in log and "host: done, exit 0" in log
    assert len(list(out.iterdir())) <= 8  # at most 8 files come back from the GPU machine
