"""The benchmark scripts run end to end at tiny size on the CPU, and their pieces count right.

No timing is asserted (timings depend on the machine and its load); the tests check that every
code path runs and that counts, ratios and JSON are consistent.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from benchmarks import flops
from benchmarks.attention_bench import expected_distinct_crops
from benchmarks.clock import ModuleClock
from benchmarks.models import model_dir
from benchmarks.report import Figure
from benchmarks.synthetic import keypoint_grid, make_bench_project
from labeler.correspondence import crops
from labeler.store import Project


@pytest.fixture
def one_thread():
    """Tiny models are all overhead: one thread avoids OpenMP stalls on a busy 2-core machine."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_run_tiny_end_to_end(tmp_path, one_thread, tiny_model_dir, capsys):
    from benchmarks.run import main

    out = tmp_path / "tiny.json"
    report = main(["--device", "cpu", "--size", "tiny", "--threads", "1", "--json", str(out)])
    printed = capsys.readouterr().out
    assert "| figure | value | target | vs reference loop | of FLOP floor | how |" in printed
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["machine"]["device"] == "cpu" and data["machine"]["torch_version"] == torch.__version__
    names = [f["name"] for f in data["figures"]]
    assert len(names) == 4 and names[0].startswith("DIFT") and all(n.startswith("Attention") for n in names[1:3])
    host_fig = data["figures"].pop()
    assert host_fig["name"].startswith("Host ceiling") and host_fig["unit"] == "images/s"
    assert host_fig["value"] > 0 and math.isfinite(host_fig["value"]) and host_fig["name"] in printed
    host = next(v for k, v in data["facts"].items() if k.startswith("host "))
    assert host["run"]["predicted"] == host["run"]["targets"] == 2 and host["run"]["failed"] == 0
    for fig in data["figures"]:
        assert fig["value"] > 0 and math.isfinite(fig["value"])
        assert fig["baseline"] > 0 and fig["vs_baseline"] > 0  # the reference-style loop ran
        assert fig["floor"] > 0 and fig["of_floor"] > 0
        assert fig["name"] in printed
    dift_fig, opt_fig, inf_fig = data["figures"]
    assert dift_fig["how"] == "measured" and dift_fig["unit"] == "s/image"
    assert opt_fig["how"] == inf_fig["how"] == "extrapolated"  # 1 step, 5 crops, 1 keypoint on a CPU
    facts = data["facts"]
    dift = next(v for k, v in facts.items() if k.startswith("dift "))
    assert dift["run"]["predicted"] == dift["run"]["targets"] == 2 and dift["run"]["failed"] == 0
    assert dift["config"]["ensemble"] == 8 and dift["config"]["resolution"] == 64
    assert dift["stages_one_image"]["unet_elements"] == 8  # one image, ensemble 8, one UNet pass
    assert dift["flops"]["per_image"] == dift["flops"]["vae_encode"] + 8 * dift["flops"]["unet_truncated"]
    att = next(v for k, v in facts.items() if k.startswith("attention "))
    assert att["optimisation"]["unet_elements"] == 1 * 5 * 1  # keypoints x contexts x steps
    assert att["inference"]["unet_elements"] == 1 * 5 * 5  # keypoints x contexts x crops, one target
    assert 1 <= att["optimisation"]["vae_encodes"] <= 5
    assert att["flops"]["unet_fwd_bwd"] > att["flops"]["unet_fwd"] > 0
    assert report.figures[0].vs_baseline == pytest.approx(dift_fig["vs_baseline"])


def test_bad_section_is_refused():
    from benchmarks.run import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--only", "dift,nonsense"])
    assert parse_args(["--only", "attention"]).sections == ["attention"]


def test_figure_ratios_point_the_right_way():
    rate = Figure("r", value=4.0, unit="images/s", higher_is_better=True, baseline=1.0, floor=8.0)
    assert rate.vs_baseline == 4.0 and rate.of_floor == 0.5
    secs = Figure("s", value=2.0, unit="s", baseline=30.0, floor=0.5)
    assert secs.vs_baseline == 15.0 and secs.of_floor == 0.25
    assert Figure("n", value=1.0, unit="s").vs_baseline is None


def test_flop_count_of_a_matmul_and_attention_processors_restored(tiny_model_dir, one_thread):
    torch.set_num_threads(1)
    a, b = torch.zeros(8, 16), torch.zeros(16, 4)
    assert flops.count(lambda: a @ b) == 2 * 8 * 16 * 4
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(tiny_model_dir, subfolder="unet")
    before = {k: type(v) for k, v in unet.attn_processors.items()}
    with flops.explicit_attention(unet):
        assert {type(v).__name__ for v in unet.attn_processors.values()} == {"AttnProcessor"}
    assert {k: type(v) for k, v in unet.attn_processors.items()} == before
    full = flops.unet_flops(unet, 64, None)
    part = flops.unet_flops(unet, 64, "up_blocks.1")
    both = flops.unet_flops(unet, 64, "up_blocks.1", backward=True)
    assert full > part > 0 and both > part
    assert flops.unet_flops(unet, 64, "up_blocks.1") == part  # memoised, same answer


def test_module_clock_counts_batch_elements():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    clock = ModuleClock(net[0], net[2])
    net(torch.zeros(5, 3))
    net(torch.zeros(2, 3))
    assert clock.snapshot()[:2] == (7, 2) and clock.seconds >= 0
    clock.remove()
    net(torch.zeros(1, 3))
    assert clock.elements == 7


def test_distinct_crops_estimate():
    side, crop = 512, 477
    margin = 0.15 * crop
    pts = np.array([[256.0, 256.0]])
    # Every start is in [0, 35]^2: at most 36^2 distinct crops, and one draw gives one.
    assert expected_distinct_crops(pts, 1, side, crop, margin) == 1
    many = expected_distinct_crops(pts, 5000, side, crop, margin)
    assert 1200 <= many <= 36 * 36
    assert expected_distinct_crops(pts, 0, side, crop, margin, corners=True) == len(crops.corner_starts(crop, side))
    # Interior points have the same start range: shared draws give them the same crops.
    two = np.array([[250.0, 250.0], [260.0, 262.0]])
    assert expected_distinct_crops(two, 20, side, crop, margin, shared_draws=True) <= 20
    assert expected_distinct_crops(two, 20, side, crop, margin) > 20


def test_bench_project_and_keypoints(tmp_path):
    pts = keypoint_grid(20, 640, 480)
    assert len(pts) == 20 and len(set(pts)) == 20
    assert all(0.1 * 640 <= x <= 0.9 * 640 and 0.1 * 480 <= y <= 0.9 * 480 for x, y in pts)
    from labeler.store import Project

    bench = make_bench_project(tmp_path, targets=2, keypoints=5, size=(96, 64))
    with Project.open(bench.path) as project:
        assert project.image_count() == 3
        ref = project.find_image(bench.reference)
        assert ref.width == 96 and ref.height == 64
        assert sorted(project.points(ref.id)) == list(bench.keypoints)


def test_unknown_benchmark_model_is_refused():
    with pytest.raises(ValueError, match="unknown benchmark model"):
        model_dir("sd-9")


def test_store_bench_runs_on_both_backends(tmp_path, pg_server, capsys):
    from benchmarks.store_bench import bench

    (tmp_path / "images").mkdir()
    for location in (str(tmp_path / "b.labeler"), f"{pg_server}&schema=bench_smoke"):
        out = bench(location, tmp_path / "images", 300, 20)
        assert set(out) == {"create", "open", "page_p50", "queue_p50", "edit_p50", "edit_p99"}
        assert out["edit_p99"] >= out["edit_p50"] > 0
        with Project.open(location) as p:
            assert p.image_count() == 300 and p.counts().points_by_status["manual"] > 0


def test_noise_bias_counts_matches_on_the_reference_cell():
    from benchmarks.noise_bias import own_cell_rate

    maps = torch.randn((16, 4, 5), generator=torch.Generator().manual_seed(0))
    assert own_cell_rate(maps, maps[None]) == 1.0  # every cell matches itself
    shifted = maps.roll(1, dims=2)  # every cell's twin one column over
    assert own_cell_rate(maps, torch.stack([maps, shifted])) == 0.5


def test_fusion_bench_tiny_runs_and_accounts_for_every_stage(tmp_path, one_thread, capsys):
    from benchmarks.fusion_bench import main

    torch.set_num_threads(1)
    out = tmp_path / "fusion.json"
    assert main(["--size", "tiny", "--device", "cpu", "--keypoints", "5", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "fusion fast" in printed and "fusion paper" in printed and "s/image" in printed
    data = json.loads(out.read_text(encoding="utf-8"))
    for r in data["results"]:
        stages = r["target_stages"]
        assert {"vae_encoder", "unet", "dinov2"} <= set(stages)
        assert math.isclose(sum(stages.values()), r["target_s"], rel_tol=1e-9)
        assert all(v >= 0 for k, v in stages.items() if k != "other (resize, fusion, matching)")


def test_fusion_flop_count_sees_the_sliding_windows():
    from benchmarks.fusion_bench import flop_counts

    paper, fast = flop_counts("paper"), flop_counts("fast")
    for t in (paper, fast):
        assert math.isclose(t["total"], t["vae_encoder"] + t["unet"] + t["dinov2"])
    # paper: four 512 px crops; fast: one 768 px pass (2.25 crop-areas); DINOv2 840 vs 672 px
    assert 1.5 < paper["vae_encoder"] / fast["vae_encoder"] < 1.9
    assert paper["dinov2"] > 1.5 * fast["dinov2"]
