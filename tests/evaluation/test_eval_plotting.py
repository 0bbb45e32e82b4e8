"""The --plot figure: curves per category and qualitative pairs, drawn headless."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

from labeler.evaluation import EvalOptions, evaluate, load_dataset
from labeler.evaluation.plotting import choose_examples, plot_result


def test_examples_span_worst_to_best(spair_fixture):
    r = evaluate(load_dataset("spair", spair_fixture.root), spair_fixture.oracle(), EvalOptions())
    # PCK@0.1 per pair: 000001 -> 3/4, 000002 -> 1/1, 000003 -> 1/2, 000004 has no points
    assert [e.pair.pair_id[:6] for e in choose_examples(r, 2)] == ["000003", "000002"]
    assert [e.pair.pair_id[:6] for e in choose_examples(r, 10)] == ["000003", "000001", "000002"]
    assert choose_examples(r, 0) == []


def test_plot_is_written_as_a_png(spair_fixture, tmp_path):
    r = evaluate(load_dataset("spair", spair_fixture.root), spair_fixture.oracle(), EvalOptions())
    out = plot_result(r, tmp_path / "plots" / "pck.png", examples=3)
    with Image.open(out) as im:
        assert im.format == "PNG"
        w, h = im.size
        pixels = np.asarray(im.convert("RGB"))
    assert w > 800 and h > 1000  # curve panel + three pair rows
    assert pixels.std() > 20  # photos and curves, not a blank canvas
    # red (wrong) and green (right) prediction marks are both drawn
    r_, g_, b_ = (pixels[..., i].astype(int) for i in range(3))
    assert ((r_ > 200) & (g_ < 60) & (b_ < 60)).sum() > 20
    assert ((g_ > 200) & (r_ < 60) & (b_ < 60)).sum() > 20


def test_plotting_needs_no_display_and_no_pyplot(spair_fixture, tmp_path):
    """Drawn with the Agg canvas in a fresh process: no DISPLAY needed, pyplot never imported."""
    warps = tmp_path / "warps.json"
    warps.write_text(json.dumps({str(k): v.tolist() for k, v in spair_fixture.warps.items()}))
    out = tmp_path / "x.png"
    script = tmp_path / "plot_it.py"
    script.write_text(textwrap.dedent(f"""
        import json, sys
        from pathlib import Path
        import numpy as np
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from eval_fixtures import WarpOracle
        from labeler.evaluation import EvalOptions, evaluate, load_dataset
        from labeler.evaluation.plotting import plot_result
        warps = {{Path(k): np.array(v) for k, v in json.loads(Path({str(warps)!r}).read_text()).items()}}
        r = evaluate(load_dataset("spair", {str(spair_fixture.root)!r}), WarpOracle(warps), EvalOptions())
        assert "matplotlib" not in sys.modules
        plot_result(r, {str(out)!r}, examples=1)
        print("pyplot" if "matplotlib.pyplot" in sys.modules else "clean")
    """))
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "clean"
    assert out.stat().st_size > 10_000
