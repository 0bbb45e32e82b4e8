"""The runner end to end on each layout, with an oracle engine whose errors give hand-computed PCK."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from labeler.errors import Cancelled, FormatError, UserInputError
from labeler.evaluation import EvalOptions, evaluate, load_dataset
from labeler.evaluation.report import format_table, write_json
from labeler.evaluation.runner import select_pairs


def test_spair_hand_computed_pck_and_source_batching(spair_fixture):
    ds = load_dataset("spair", spair_fixture.root, "test")
    oracle = spair_fixture.oracle()
    r = evaluate(ds, oracle, EvalOptions(), model="m", preset="fast")
    # T = 100 for every pair (target boxes 100 x 60). Oracle errors by keypoint id: 0, 5, 10, 50 px.
    # pair 1: ids 0-3 -> @0.05 2/4, @0.1 3/4 | pair 2: id 0 -> 1/1 | pair 3: ids 2, 3 -> 0/2, 1/2 | pair 4: none
    assert (r.overall.pairs, r.overall.empty_pairs, r.overall.points) == (4, 1, 7)
    assert r.overall.per_point == pytest.approx({"0.05": 100 * 3 / 7, "0.1": 100 * 5 / 7, "0.15": 100 * 5 / 7})
    assert r.overall.per_image == pytest.approx({"0.05": 50.0, "0.1": 75.0, "0.15": 75.0})
    assert r.categories["cat"].per_point == pytest.approx({"0.05": 60.0, "0.1": 80.0, "0.15": 80.0})
    assert r.categories["cat"].per_image == pytest.approx({"0.05": 75.0, "0.1": 87.5, "0.15": 87.5})
    assert r.categories["person"].per_image == pytest.approx({"0.05": 0.0, "0.1": 50.0, "0.15": 50.0})
    assert r.categories["person"].empty_pairs == 1
    # one reference per source image (cat_a serves two pairs), its two targets in one batch;
    # the pair without keypoints costs nothing
    assert oracle.prepared == [("0", "1", "2", "3"), ("2", "3")]
    assert oracle.batches == [2, 1]
    assert [pr.pair.pair_id[:6] for pr in r.pair_results] == ["000001", "000002", "000003", "000004"]


def test_exact_grouping_predicts_only_each_pairs_keypoints_with_same_scores(spair_fixture):
    ds = load_dataset("spair", spair_fixture.root, "test")
    union = evaluate(ds, spair_fixture.oracle(), EvalOptions(grouping="union"))
    oracle = spair_fixture.oracle()
    exact = evaluate(ds, oracle, EvalOptions(grouping="exact", batch_size=1))
    assert exact.to_json()["per_point"] == union.to_json()["per_point"]
    assert exact.to_json()["per_category"] == union.to_json()["per_category"]
    assert oracle.batches == [1, 1, 1]


def test_other_thresholds_change_the_numbers_as_computed(spair_fixture):
    ds = load_dataset("spair", spair_fixture.root, "test")
    # img: T = 451 (cat_b), 471 (cat_c, padded 20), 512 (per_b): @0.05 all but the 50 px errors
    r = evaluate(ds, spair_fixture.oracle(), EvalOptions(threshold="img", alphas=(0.05, 0.2)))
    assert r.overall.per_point == pytest.approx({"0.05": 100 * 5 / 7, "0.2": 100.0})
    with pytest.raises(UserInputError, match="not available"):
        evaluate(ds, spair_fixture.oracle(), EvalOptions(threshold="nope"))


def test_pf_willow_has_no_object_box(pf_willow_fixture):
    ds = load_dataset("pf-willow", pf_willow_fixture.root)
    with pytest.raises(UserInputError, match="'bbox' is not available for pf-willow"):
        evaluate(ds, pf_willow_fixture.oracle(), EvalOptions(threshold="bbox"))


def test_pf_willow_uses_keypoint_box_not_the_loader_quirk(pf_willow_fixture):
    ds = load_dataset("pf-willow", pf_willow_fixture.root)
    # errors on ids 1..4: 5, 10, 50 and exactly 9 px; the target keypoints span 90 x 54 px, T = 90
    errors = {"1": (3.0, 4.0), "2": (6.0, -8.0), "3": (-30.0, 40.0), "4": (5.4, 7.2)}
    r = evaluate(ds, pf_willow_fixture.oracle(errors), EvalOptions())
    # @0.05 (4.5 px): ids 0,5-9 -> 6/10; @0.1 (9 px): + ids 1, 4 (exactly 9) -> 8/10; @0.15: + id 2 -> 9/10
    assert r.overall.per_point == pytest.approx({"0.05": 60.0, "0.1": 80.0, "0.15": 90.0})
    assert r.overall.per_image == pytest.approx({"0.05": 60.0, "0.1": 80.0, "0.15": 90.0})
    assert {pr.score.threshold for pr in r.pair_results} == {90.0}
    # max(x_max, y_max) + 1 would be several hundred pixels and make every point correct
    assert all(pr.score.threshold < max(pr.pair.trg_xy.max(0)) for pr in r.pair_results)
    # image size: T = 600 (flip), 607 (pad 7), 640 (pad 40): only the 50 px error fails @0.05
    r = evaluate(ds, pf_willow_fixture.oracle(errors), EvalOptions(threshold="img"))
    assert [pr.score.threshold for pr in r.pair_results] == [600.0, 607.0, 640.0]
    assert r.overall.per_point == pytest.approx({"0.05": 90.0, "0.1": 100.0, "0.15": 100.0})


def test_cub_hand_computed(cub_fixture):
    ds = load_dataset("cub", cub_fixture.root)
    # part ids 1, 2, 3 get errors 5, 10, 50 px (ids "1".."3" of the oracle), part 4 none; T = 100
    errors = {"1": (3.0, 4.0), "2": (6.0, -8.0), "3": (-30.0, 40.0)}
    r = evaluate(ds, cub_fixture.oracle(errors), EvalOptions())
    # 1-3: parts 1,2,4 -> 2/3, 3/3 | 1-4: parts 2,3 -> 0/2, 1/2 | 3-4: part 2 -> 0/1, 1/1 | 5-6: none
    assert r.overall.per_point == pytest.approx({"0.05": 100 * 2 / 6, "0.1": 100 * 5 / 6, "0.15": 100 * 5 / 6})
    assert r.overall.per_image == pytest.approx({"0.05": 100 * (2 / 3) / 3, "0.1": 100 * 2.5 / 3, "0.15": 100 * 2.5 / 3})
    assert r.categories["002.Person"].per_image == {"0.05": None, "0.1": None, "0.15": None}
    assert r.overall.empty_pairs == 1


def test_limit_takes_round_robin_over_categories_in_file_order(spair_fixture):
    ds = load_dataset("spair", spair_fixture.root, "test")
    ids = [p.pair_id[:6] for p in select_pairs(ds.pairs, 3)]
    assert ids == ["000001", "000003", "000002"]
    r = evaluate(ds, spair_fixture.oracle(), EvalOptions(limit=2))
    assert r.overall.pairs == 2 and set(r.categories) == {"cat", "person"}
    assert any("--limit 2" in n for n in r.notes)


def test_json_report_schema(spair_fixture, tmp_path):
    ds = load_dataset("spair", spair_fixture.root, "test")
    r = evaluate(ds, spair_fixture.oracle(), EvalOptions(), model="sd-2-1", preset="paper")
    out = tmp_path / "r" / "report.json"
    write_json(r, out)
    data = json.loads(out.read_text())
    for key in ("dataset", "method", "model", "preset", "pairs", "points", "per_point", "per_image",
                "per_category", "seconds"):
        assert key in data
    assert (data["dataset"], data["method"], data["model"], data["preset"]) == ("spair", "oracle", "sd-2-1", "paper")
    assert data["pairs"] == 4 and data["points"] == 7 and data["empty_pairs"] == 1
    assert data["per_image"]["0.1"] == pytest.approx(75.0)
    assert data["per_category"]["cat"]["per_point"]["0.05"] == pytest.approx(60.0)
    assert data["threshold"] == "bbox" and data["unit"] == "percent" and data["seconds"] >= 0
    text = format_table(r)
    assert "cat" in text and "75.00" in text and "1 without keypoints" in text


def test_image_size_that_contradicts_the_annotation_is_an_error(spair_fixture):
    f = next((spair_fixture.root / "PairAnnotation" / "test").glob("000001-*.json"))
    data = json.loads(f.read_text())
    data["trg_imsize"] = [450, 300, 3]
    f.write_text(json.dumps(data))
    with pytest.raises(FormatError, match="says cat_b.jpg is 450x300, but the image is 451x300"):
        load_dataset("spair", spair_fixture.root, "test")  # checked from the headers, before any engine
    # and again when the image is decoded (a file replaced after loading)
    data["trg_imsize"] = [451, 300, 3]
    f.write_text(json.dumps(data))
    ds = load_dataset("spair", spair_fixture.root, "test")
    from PIL import Image

    Image.new("RGB", (450, 300)).save(ds.pairs[0].trg_path)
    with pytest.raises(FormatError, match="450x300 but its annotation says 451x300"):
        evaluate(ds, spair_fixture.oracle(), EvalOptions())


def test_stop_request_cancels(spair_fixture):
    ds = load_dataset("spair", spair_fixture.root, "test")
    with pytest.raises(Cancelled):
        evaluate(ds, spair_fixture.oracle(), EvalOptions(), should_stop=lambda: True)


def test_bad_options():
    for kw in ({"alphas": ()}, {"alphas": (0.1, -1)}, {"limit": 0}, {"batch_size": 0}, {"grouping": "x"}):
        with pytest.raises(UserInputError):
            EvalOptions(**kw)


def test_command_line_end_to_end_with_a_registered_engine(spair_fixture, tmp_path, monkeypatch, capsys):
    from labeler.cli import main
    from labeler.correspondence import registry

    made = []

    def fake_create(method, *, model=None, preset="fast", device="auto", dtype="auto", **overrides):
        made.append((method, model, preset, device))
        return spair_fixture.oracle()

    monkeypatch.setattr(registry, "create_matcher", fake_create)
    monkeypatch.setattr(registry, "default_model", lambda method: "card-x")
    out = tmp_path / "out.json"
    code = main(["eval", "--dataset", "spair", "--root", str(spair_fixture.root), "--method", "classical",
                 "--device", "cpu", "--json", str(out), "--alphas", "0.05,0.1", "--quiet"])
    assert code == 0
    assert made == [("classical", "card-x", "fast", "cpu")]
    data = json.loads(out.read_text())
    assert data["model"] == "card-x" and set(data["per_point"]) == {"0.05", "0.1"}
    assert data["per_image"]["0.05"] == pytest.approx(50.0)
    assert "report written" in capsys.readouterr().out
    # a user error comes back as a message and exit status 2, not a traceback
    (tmp_path / "missing").mkdir()
    assert main(["eval", "--dataset", "cub", "--root", str(tmp_path / "missing"), "--quiet"]) == 2
    assert "no images.txt" in capsys.readouterr().err


def test_command_defaults_are_the_registry_and_metric_defaults():
    import argparse

    from labeler.correspondence import registry
    from labeler.evaluation import command
    from labeler.evaluation.pck import DEFAULT_ALPHAS

    args = command.add_eval_arguments(argparse.ArgumentParser()).parse_args(["--dataset", "cub", "--root", "."])
    assert tuple(args.alphas) == DEFAULT_ALPHAS and args.threshold is None and args.cub_classes == 3
    assert command.METHOD_CHOICES == tuple(registry.METHODS) and command.PRESET_CHOICES == registry.ALL_PRESETS
    assert (args.method, args.preset) == (registry.DEFAULT_METHOD, registry.DEFAULT_PRESET)


def test_registering_labeler_eval_imports_no_numpy():
    code = ("import argparse, sys; from labeler.cli import cmd_eval; "
            "cmd_eval.register(argparse.ArgumentParser().add_subparsers()); "
            "print(','.join(m for m in ('numpy', 'torch', 'PIL', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_importing_the_evaluation_package_stays_light():
    code = ("import sys, labeler.evaluation, labeler.evaluation.command, labeler.evaluation.report, "
            "labeler.evaluation.runner; "
            "print(','.join(m for m in ('torch', 'matplotlib', 'PyQt6', 'sqlalchemy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("name", ["spair", "pf-willow", "cub"])
def test_error_free_engine_lands_exactly_on_the_truth(name, spair_fixture, pf_willow_fixture, cub_fixture):
    """Pixel-centre bookkeeping: through flips and rotations a perfect engine has distance 0, not 1."""
    fixture = {"spair": spair_fixture, "pf-willow": pf_willow_fixture, "cub": cub_fixture}[name]
    ds = load_dataset(name, fixture.root)
    r = evaluate(ds, fixture.oracle(errors={}), EvalOptions(alphas=(0.01,)))
    distances = [d for pr in r.pair_results for d in pr.score.distances]
    assert len(distances) == r.overall.points > 0
    assert max(distances) == 0.0


@pytest.mark.slow
def test_real_dift_engine_runs_through_the_runner(spair_fixture, tiny_model_dir):
    """The DIFT engine (tiny random weights: bookkeeping, not accuracy) behind the same runner."""
    from labeler.correspondence.registry import create_matcher

    ds = load_dataset("spair", spair_fixture.root, "test")
    matcher = create_matcher("dift", model="tiny-random", preset="fast", device="cpu", resolution=128,
                             ensemble=2, match_side=128)  # 128 px: bookkeeping needs no more, a quarter of 256's work
    try:
        union = evaluate(ds, matcher, EvalOptions(grouping="union"), model="tiny-random", preset="fast")
        exact = evaluate(ds, matcher, EvalOptions(grouping="exact", batch_size=1))
    finally:
        matcher.close()
    assert union.method == "dift" and (union.overall.pairs, union.overall.points) == (4, 7)
    for pr in union.pair_results:
        w, h = pr.pair.trg_size
        assert pr.predicted.shape == (pr.pair.num_points, 2)
        assert np.all((pr.predicted >= 0) & (pr.predicted <= [w, h]))
    assert all(0.0 <= v <= 100.0 for v in union.overall.per_point.values())
    # a keypoint's prediction does not depend on which other keypoints or images share the batch
    for a, b in zip(union.pair_results, exact.pair_results):
        np.testing.assert_allclose(a.predicted, b.predicted, atol=1e-3)


@pytest.mark.parametrize(("name", "extra", "per_image_05"), [
    ("pf-willow", [], 100 * 7 / 10),  # ids 0, 4-9 within 4.5 px; T = 90
    ("cub", ["--cub-classes", "2", "--plot", "PLOT"], 100 * (2 / 3) / 3),
])
def test_command_line_on_the_other_layouts(name, extra, per_image_05, pf_willow_fixture, cub_fixture, tmp_path,
                                           monkeypatch, capsys):
    from labeler.cli import main
    from labeler.correspondence import registry

    fixture = {"pf-willow": pf_willow_fixture, "cub": cub_fixture}[name]
    errors = {"pf-willow": {"1": (3.0, 4.0), "2": (6.0, -8.0), "3": (-30.0, 40.0)},
              "cub": {"1": (3.0, 4.0), "2": (6.0, -8.0), "3": (-30.0, 40.0)}}[name]
    monkeypatch.setattr(registry, "create_matcher", lambda method, **kw: fixture.oracle(errors))
    monkeypatch.setattr(registry, "default_model", lambda method: None)
    out = tmp_path / "r.json"
    plot = tmp_path / "p.png"
    argv = ["eval", "--dataset", name, "--root", str(fixture.root), "--method", "classical", "--quiet",
            "--json", str(out)] + [str(plot) if a == "PLOT" else a for a in extra]
    assert main(argv) == 0, capsys.readouterr().err
    data = json.loads(out.read_text())
    assert data["dataset"] == name and data["per_image"]["0.05"] == pytest.approx(per_image_05)
    assert data["threshold"] == {"pf-willow": "bbox-kps", "cub": "bbox"}[name]
    assert plot.is_file() == ("--plot" in extra)


def test_zero_size_threshold_box_is_pointed_out(spair_fixture):
    """An export of a one-keypoint schema has boxes of size 0: only exact hits would count."""
    f = next((spair_fixture.root / "PairAnnotation" / "test").glob("000002-*.json"))
    data = json.loads(f.read_text())
    data["trg_bndbox"] = [170, 110, 170, 110]
    f.write_text(json.dumps(data))
    r = evaluate(load_dataset("spair", spair_fixture.root, "test"), spair_fixture.oracle(), EvalOptions())
    assert any("1 pair(s)" in n and "--threshold img" in n for n in r.notes), r.notes
    r = evaluate(load_dataset("spair", spair_fixture.root, "test"), spair_fixture.oracle(),
                 EvalOptions(threshold="img"))
    assert not any("--threshold img" in n for n in r.notes)


def test_table_shows_seconds_per_pair_when_slow(spair_fixture):
    from dataclasses import replace

    r = evaluate(load_dataset("spair", spair_fixture.root, "test"), spair_fixture.oracle(), EvalOptions())
    assert "258.0 s/pair" in format_table(replace(r, seconds=4 * 258.0))
    assert "2.00 pairs/s" in format_table(replace(r, seconds=2.0))
