"""The CPU halves of the CUDA tests, run everywhere: the fp32 reference runs, the comparisons and
their tolerances (on the CPU's own bf16 arithmetic), and the CLI run the CUDA test repeats on the GPU."""

from __future__ import annotations

import pytest
import torch
from gpu_harness import (
    assert_features_match,
    assert_points_match,
    dift_run,
    predicted_count,
    propagate_cli,
    scenes,
    sizes_of,
    with_dtype,
)

from benchmarks.synthetic import make_bench_project
from labeler.correspondence import dift

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def scene(photos):
    return scenes(photos)


@pytest.fixture(scope="module")
def cpu32():
    return dift.build("tiny-random", "fast", "cpu", resolution=128)


@pytest.fixture(scope="module")
def fp32_run(cpu32, scene):
    return dift_run(cpu32, *scene)


def test_the_fp32_reference_run_is_reproducible(cpu32, scene, fp32_run):
    again = dift_run(cpu32, *scene)
    assert assert_features_match(again.features, fp32_run.features)["min_cosine"] > 0.99999
    assert assert_points_match(again.xy, fp32_run.xy, sizes_of(scene[2]))["max_cells"] == 0.0


def test_bfloat16_arithmetic_passes_the_stated_tolerances(cpu32, scene, fp32_run):
    """The CPU's bf16 kernels round like the GPU's: the GPU test's tolerances hold here too."""
    half = with_dtype(cpu32, CPU, torch.bfloat16)
    assert half.featurizer.dtype == torch.bfloat16
    run = dift_run(half, *scene)
    stats = assert_features_match(run.features, fp32_run.features)
    assert stats["mean_cosine"] < 1.0  # really computed in bf16
    assert_points_match(run.xy, fp32_run.xy, sizes_of(scene[2]))


def test_the_comparisons_fail_when_results_differ(scene, fp32_run):
    other = dift_run(dift.build("tiny-random", "fast", "cpu", resolution=128, seed=1), *scene)
    with pytest.raises(AssertionError):
        assert_features_match(other.features, fp32_run.features)
    moved = [xy + 5.0 for xy in fp32_run.xy]
    with pytest.raises(AssertionError):
        assert_points_match(moved, fp32_run.xy, sizes_of(scene[2]))


def test_the_cli_run_of_the_cuda_test_on_the_cpu(tmp_path):
    bench = make_bench_project(tmp_path, targets=2, keypoints=3, size=(96, 64))
    code = propagate_cli(str(bench.path), "--model", "tiny-random", "--device", "cpu", "--setting", "resolution=64")
    assert code == 0
    assert predicted_count(str(bench.path)) == 2
