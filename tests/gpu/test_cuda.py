"""The engines on CUDA against the CPU's float32 results (issue #13); skipped without a CUDA device.

Run on the GPU machine by ``benchmarks/gpu_run.sh``. Each comparison and its tolerance lives in
``gpu_harness.py``, whose CPU half ``test_cpu_halves.py`` runs everywhere.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gpu_harness import (
    assert_features_match,
    assert_points_match,
    cuda_only,
    dift_run,
    feature_cosines,
    predicted_count,
    propagate_cli,
    scenes,
    sizes_of,
)

from benchmarks.synthetic import make_bench_project
from labeler.correspondence import attention, dift

pytestmark = [pytest.mark.gpu, cuda_only]

CUDA = "cuda"


@pytest.fixture(scope="module")
def scene(photos):
    return scenes(photos)


@pytest.fixture(scope="module")
def fp32_run(scene):
    return dift_run(dift.build("tiny-random", "fast", "cpu"), *scene)


# ----------------------------------------------------------------------------- DIFT


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_dift_half_precision_matches_cpu_fp32(dtype, scene, fp32_run):
    m = dift.build("tiny-random", "fast", CUDA, dtype)
    assert m.dtype == getattr(torch, dtype) and m.device.startswith("cuda")
    run = dift_run(m, *scene)
    assert_features_match(run.features, fp32_run.features)
    assert_points_match(run.xy, fp32_run.xy, sizes_of(scene[2]))


def test_dift_fp32_on_cuda_draws_the_cpus_noise(scene, fp32_run):
    """The draws come from CPU generators: CUDA fp32 differs from the CPU only by kernel rounding."""
    run = dift_run(dift.build("tiny-random", "fast", CUDA, "float32"), *scene)
    assert feature_cosines(run.features, fp32_run.features).min() > 0.9999
    assert_points_match(run.xy, fp32_run.xy, sizes_of(scene[2]))


def test_channels_last_equals_contiguous(scene):
    m = dift.build("tiny-random", "fast", CUDA, "float32")
    assert m.featurizer.channels_last == {"vae", "unet"}  # the CUDA default
    targets = scene[2]
    nhwc = m.featurizer(targets)
    m.featurizer.use_channels_last(frozenset())
    nchw = m.featurizer(targets)
    cos = feature_cosines(nhwc, nchw)
    assert cos.mean() > 0.99999 and cos.min() > 0.9999


def test_compile_equals_eager(scene):
    from benchmarks.dift_bench import compile_blocks

    m = dift.build("tiny-random", "fast", CUDA)
    targets = scene[2]
    eager = m.featurizer(targets)
    assert compile_blocks(m.featurizer.comps.unet) > 0
    compiled = m.featurizer(targets)
    assert_features_match(compiled, eager)


def test_batched_prediction_equals_one_at_a_time(scene):
    ref, points, targets = scene
    batched = dift.build("tiny-random", "fast", CUDA, batch_size=len(targets))
    single = dift.build("tiny-random", "fast", CUDA, batch_size=1)
    state = single.prepare_reference(ref, points)
    together = batched.predict([state], targets)
    alone = [single.predict([state], [t])[0] for t in targets]
    feats_together = batched.featurizer(targets)
    feats_alone = torch.cat([single.featurizer([t]) for t in targets])
    assert_features_match(feats_together, feats_alone)
    assert_points_match([p.xy for p in together], [p.xy for p in alone], sizes_of(targets))


# ----------------------------------------------------------------------------- attention


def _attention(device: str, dtype: str = "auto") -> attention.AttentionMatcher:
    return attention.build("tiny-random", "fast", device, dtype, resolution=128, steps=4, num_embeddings=2,
                           inference_crops=6, batch_size=8)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_attention_half_precision_matches_cpu_fp32(dtype, scene):
    ref, points, targets = scene
    cpu, gpu = _attention("cpu"), _attention(CUDA, dtype)
    assert gpu._dtype == getattr(torch, dtype)
    # Features: the head-averaged attention maps of one fixed noisy crop and context.
    image = targets[1]
    noise = torch.rand((1, *cpu.latent_shape()), generator=torch.Generator().manual_seed(0))
    context = torch.randn((1, 77, cpu.context_dim), generator=torch.Generator().manual_seed(1))
    maps = []
    for m in (cpu, gpu):
        with torch.no_grad():
            lat = attention._LatentCache(m, m._working(image)).get([(0, 0)])
            noisy = m._add_noise(lat, noise, m.config.timestep_infer)
            maps.append([x.float().cpu() for x in m._layer_maps(noisy, context.to(m._device, m._dtype),
                                                                 m.config.timestep_infer)])
    for a, b in zip(*maps, strict=True):
        assert F.cosine_similarity(a.flatten(), b.flatten(), dim=0) >= 0.999
    # Points: the same (CPU fp32) reference state predicted on both.
    state = cpu.prepare_reference(ref, dict(list(points.items())[:4]))
    p32 = [p.xy for p in cpu.predict([state], targets)]
    phalf = [p.xy for p in gpu.predict([state], targets)]
    assert_points_match(phalf, p32, sizes_of(targets), grid=128)


def test_attention_paper_runs_fp32_on_cuda():
    """The paper preset is the authors' fp32 on CUDA too; fast takes the device's half precision."""
    paper = attention.build("tiny-random", "paper", CUDA, resolution=128, steps=1)
    assert paper._dtype == torch.float32 and next(paper.components.unet.parameters()).dtype == torch.float32
    paper.to(CUDA)
    assert paper._dtype == torch.float32
    assert _attention(CUDA)._dtype in (torch.bfloat16, torch.float16)


def test_attention_batched_prediction_equals_one_at_a_time(scene):
    ref, points, targets = scene
    m = _attention(CUDA)
    state = m.prepare_reference(ref, dict(list(points.items())[:3]))
    together = [p.xy for p in m.predict([state], targets)]
    alone = [m.predict([state], [t])[0].xy for t in targets]
    assert_points_match(together, alone, sizes_of(targets), grid=128)


# ----------------------------------------------------------------------------- propagation


def test_a_real_cuda_out_of_memory_is_recovered_by_halving(tmp_path):
    """Memory capped (set_per_process_memory_fraction) at 2.5 x what one image needs: a batch of 8
    runs out of memory for real, the run halves its batch and completes on the GPU."""
    from labeler.propagation import PropagationConfig, propagate
    from labeler.store import Project

    bench = make_bench_project(tmp_path, targets=8, keypoints=4, size=(320, 240))
    m = dift.build("tiny-random", "fast", CUDA, "float32", resolution=1536, batch_size=8)
    image = np.zeros((240, 320, 3), np.uint8)
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    state = m.prepare_reference(image, {"a": (10.0, 10.0)})  # one image, 8 draws: must still fit
    m.predict([state], [image])
    one = torch.cuda.max_memory_allocated() - base
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(min(1.0, (base + 2.5 * one) / total))
    try:
        with Project.open(bench.path) as project:
            s = propagate(project, PropagationConfig(method="dift", model="tiny-random", device=CUDA, batch_size=8,
                                                     flip=False, overrides={"resolution": 1536, "batch_size": 8}),
                          matcher=m)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    text = " | ".join(s.messages)
    assert "retrying with 4" in text, text
    assert s.predicted_images == 8 and not s.failed, (s.failed, text)
    assert s.device.startswith("cuda") and "continuing on the CPU" not in text


def test_propagate_end_to_end_through_the_cli_on_cuda(tmp_path):
    bench = make_bench_project(tmp_path, targets=6, keypoints=5, size=(320, 240))
    assert propagate_cli(str(bench.path), "--model", "tiny-random", "--device", CUDA, "--batch-size", "3") == 0
    assert predicted_count(str(bench.path)) == 6
    assert propagate_cli(str(bench.path), "--method", "attention", "--model", "tiny-random", "--device", CUDA,
                         "--force", "--setting", "resolution=128", "--setting", "steps=2",
                         "--setting", "inference_crops=4") == 0
    assert predicted_count(str(bench.path)) == 6


# ----------------------------------------------------------------------------- real-size models


@pytest.mark.parametrize("name", ["sd-2-1", "sd-1-5"])
def test_real_size_random_models_load_through_model_dir(name, scene):
    from benchmarks.models import RESOLUTION, model_dir

    folder = model_dir(name)  # built once into the cache (no download)
    ref, points, targets = scene
    m = dift.build(str(folder), "fast", CUDA)
    assert m.config.resolution == RESOLUTION[name] and m.featurizer.comps.card is None
    feats = m.featurizer(targets[:2])
    assert feats.shape == (2, 1280, RESOLUTION[name] // 16, RESOLUTION[name] // 16)
    assert torch.isfinite(feats).all()
    preds = m.predict([m.prepare_reference(ref, points)], targets)
    for p, t in zip(preds, targets, strict=True):
        assert np.all((p.xy >= 0) & (p.xy <= [t.shape[1], t.shape[0]]))
    if name == "sd-1-5":
        a = attention.build(str(folder), "fast", CUDA, steps=2, num_embeddings=1, inference_crops=4)
        state = a.prepare_reference(ref, dict(list(points.items())[:2]))
        (pred,) = a.predict([state], targets[:1])
        assert np.all(np.isfinite(pred.xy)) and a.config.resolution == 512
