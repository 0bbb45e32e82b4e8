"""Parity of the attention engine's ``paper`` preset with Hedlin et al.'s released code.

Runs the authors' ``utils/optimize.validate_epoch`` (ubc-vision/LDM_correspondences, optimisation,
crop-averaged inference and read-out in one) and :class:`labeler.correspondence.attention.AttentionMatcher`
on the same random weights with SD 1.4's exact block layout at reduced widths, on identical
images, points and random draws, and prints how far apart they end up.

Same draws: the authors take every random number from the process-global RNG
(``torch.randint`` for crop starts, ``torch.rand_like`` for the noise); this engine from
generators keyed by (seed, purpose, image, keypoint, context, step). While the authors' code runs,
those two torch functions are replaced by ones that return this engine's draws for the same
(keypoint, context, step): the uniform ``u`` picks an integer of the range the authors' code asks
for (:func:`labeler.correspondence.crops.pick`) and the noise tensor is the engine's. Nothing else of
their code is touched, except for today's diffusers API (:data:`PATCHES`, applied to a copy).

Usage (the authors' code is not part of this project; fetch it yourself)::

    git clone https://github.com/ubc-vision/LDM_correspondences /tmp/LDM_correspondences
    .venv/bin/python -m benchmarks.attention_parity --authors /tmp/LDM_correspondences --steps 10

The run is small on purpose (2 keypoints x 2 contexts x ``--steps`` Adam steps, 20 inference crops,
512 px as the authors hard-code): a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import copy
import importlib.machinery
import dataclasses
import shutil
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from labeler.correspondence import attention, crops
from labeler.correspondence.attention import AttentionMatcher, _generator, image_key
from labeler.correspondence.attention_config import PAPER
from labeler.correspondence.loading import SDComponents
from labeler.correspondence.truncation import run_until

#: Today's diffusers (>= 0.20) renamed ``CrossAttention`` to ``Attention``, its head reshaping
#: helpers, and calls it with ``encoder_hidden_states`` / ``attention_mask`` keywords.
PATCHES = {
    "utils/ptp_utils.py": [
        (
            "        def forward(x, context=None, mask=None):\n",
            "        def forward(x, encoder_hidden_states=None, attention_mask=None, **kwargs):\n"
            "            context, mask = encoder_hidden_states, attention_mask\n",
        ),
        ("self.reshape_heads_to_batch_dim(", "self.head_to_batch_dim("),
        ("self.reshape_batch_dim_to_heads(", "self.batch_to_head_dim("),
        (
            "if net_.__class__.__name__ == 'CrossAttention':",
            "if net_.__class__.__name__ in ('CrossAttention', 'Attention'):",
        ),
    ]
}

#: The authors' eval.py defaults.
CROP_PERCENT = 93.16549294381423
LAYERS = [5, 6, 7, 8]  # their cross-attention count (maps of at most 32x32): up_blocks[1] x3, up_blocks[2].attentions[0]
NOISE_LEVEL = -8  # DDIM(50) timesteps[-8] = 140; inference uses timesteps[-3] = 40


def authors_copy(source: Path) -> Path:
    """The authors' ``utils`` in a temporary folder, patched for today's diffusers only."""
    dest = Path(tempfile.mkdtemp(prefix="ldm-authors-"))
    shutil.copytree(source / "utils", dest / "utils")
    for rel, edits in PATCHES.items():
        path = dest / rel
        text = path.read_text()
        for old, new in edits:
            if old not in text:
                raise SystemExit(f"{rel}: expected text not found (another version of the authors' code?): {old!r}")
            text = text.replace(old, new)
        path.write_text(text)
    # Imported by their modules but unused here (GPU memory query, experiment logging); diffusers
    # first, so that its own optional-package probe does not see the stand-ins.
    import diffusers  # noqa: F401

    for name in ("pynvml", "wandb"):
        if name not in sys.modules:
            stub = types.ModuleType(name)
            stub.__spec__ = importlib.machinery.ModuleSpec(name, None)
            sys.modules[name] = stub
    sys.path.insert(0, str(dest))
    return dest


def random_sd(width: int, vae_width: int, seed: int = 0) -> SDComponents:
    """SD 1.4's UNet / VAE block layout (4 levels, 2 layers per block, 8 heads, cross-attention in
    levels 1-3), widths cut down; the authors' DDIM scheduler."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=64,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        block_out_channels=(width, 2 * width, 2 * width, 2 * width),
        layers_per_block=2,
        norm_num_groups=32,
        cross_attention_dim=2 * width,
        attention_head_dim=8,
    ).eval()
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(vae_width, vae_width, 2 * vae_width, 2 * vae_width),
        layers_per_block=2,
        latent_channels=4,
        norm_num_groups=vae_width,
        sample_size=512,
        scaling_factor=0.18215,
    ).eval()
    for p in (*unet.parameters(), *vae.parameters()):
        p.requires_grad_(False)
    # utils/optimize_token.load_ldm
    scheduler = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False
    )
    scheduler.set_timesteps(50)
    return SDComponents(model_id="parity", source="parity", family="sd1", card=None, unet=unet, vae=vae, scheduler=scheduler)


def texture(seed: int, side: int = 512) -> np.ndarray:
    noise = np.random.default_rng(seed).random((side, side, 3))
    noise = np.stack([ndimage.gaussian_filter(noise[..., c], 6) for c in range(3)], axis=-1)
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    return (noise * 255).astype(np.uint8)


class Replay:
    """Stands in for torch.randint / torch.rand_like while the authors' code runs: hands out this
    engine's draws in the order the authors' code consumes them, and records what it was asked."""

    def __init__(self, schedule: list[tuple], seed: int, noise_shape: tuple[int, ...]) -> None:
        self.schedule = list(schedule)  # keys for _generator, in the authors' order
        self.seed = seed
        self.shape = noise_shape
        self.ranges: dict[tuple, list[tuple[int, int]]] = {}
        self.starts: dict[tuple, tuple[int, int]] = {}
        self._u: list[float] = []
        self._noise: torch.Tensor | None = None
        self._key: tuple | None = None
        self._axis = 0

    def _next(self) -> None:
        self._key = self.schedule.pop(0)
        gen = _generator(self.seed, *self._key)
        self._u = torch.rand(2, generator=gen).tolist()
        self._noise = torch.rand(self.shape, generator=gen)  # uniform noise, as the engine's "uniform"
        self._axis = 0

    def randint(self, low: int, high: int, size: Any = None, **_: Any) -> torch.Tensor:
        if self._axis == 0:
            self._next()
        value = crops.pick(int(low), int(high) - 1, self._u[self._axis])
        self.ranges.setdefault(self._key, []).append((int(low), int(high) - 1))
        prev = self.starts.get(self._key, ())
        self.starts[self._key] = (*prev, value)
        self._axis = 1 - self._axis
        return torch.tensor([value])

    def rand_like(self, t: torch.Tensor, **_: Any) -> torch.Tensor:
        assert self._noise is not None and self._axis == 0, "noise asked for before a crop"
        out = self._noise.reshape(t.shape).to(t.dtype)
        self._noise = None
        return out


def compare_maps(ours: AttentionMatcher, ldm: Any, controller_cls: Any, ptp: Any) -> float:
    """Max difference of the layers' per-head maps of token 1 for one latent and context."""
    gen = torch.Generator().manual_seed(5)
    latent = torch.randn((1, 4, 64, 64), generator=gen)
    context = torch.randn((1, 77, ours.context_dim), generator=gen)
    t = ldm.scheduler.timesteps[NOISE_LEVEL]
    with torch.no_grad():
        controller = controller_cls()
        ptp.register_attention_control(ldm, controller)
        ptp.diffusion_step(ldm, controller, latent, context, t, cfg=False)
        # upscale_to_img_size without the upsampling (its torch.cat needs one size): their layer
        # count over down / mid / up cross-attention maps of at most 32x32, token 1, heads 4-7.
        stored = controller.get_average_attention()
        flat = [m for key in ("down_cross", "mid_cross", "up_cross") for m in stored[key]]
        theirs = []
        for i in LAYERS:
            img = flat[i]
            theirs.append(img.reshape(4, int(img.shape[1] ** 0.5), int(img.shape[1] ** 0.5), img.shape[2])[..., 1])
        ours.store.clear()
        ours.store.enabled = True
        run_until(ours.components.unet, ours.stop_layer, latent, torch.full((1,), int(t)), encoder_hidden_states=context)
        mine = []
        for layer in ours.layers:
            (probs,) = ours.store.maps[layer]  # (1, 4, N)
            side = int(probs.shape[-1] ** 0.5)
            mine.append(probs.reshape(4, side, side))
        ours.store.enabled = False
        ours.store.clear()
    return max(float((m - th).abs().max()) for m, th in zip(mine, theirs, strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--authors", type=Path, required=True, help="a checkout of ubc-vision/LDM_correspondences")
    parser.add_argument("--steps", type=int, default=10, help="Adam steps per context")
    parser.add_argument("--contexts", type=int, default=2, help="contexts per keypoint (the paper: 5)")
    parser.add_argument("--crops", type=int, default=20, help="inference crops (the paper: 20)")
    parser.add_argument("--width", type=int, default=32, help="UNet width of the first level (SD 1.4: 320)")
    parser.add_argument("--vae-width", type=int, default=8, help="VAE width of the first level (SD: 128)")
    parser.add_argument("--keypoints", type=int, default=2, choices=(1, 2))
    parser.add_argument("--point", type=float, nargs=2, metavar=("X", "Y"),
                        help="one keypoint of your own (512 px image) instead of the built-in ones")
    parser.add_argument("--old-rules", action="store_true",
                        help="also run this engine with fast's rules (inward crop range, centre grid, fp64 "
                        "softmax) against the same output of the authors' code")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--other-seed", action="store_true",
                        help="also run this engine with seed + 1: the size of the seeded randomness itself")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))

    authors_copy(args.authors.resolve())
    import utils.optimize as their_optimize  # noqa: E402  (the authors' modules, from the patched copy)
    from utils import ptp_utils
    from utils.optimize_token import AttentionStore

    comps = random_sd(args.width, args.vae_width, args.seed)
    ldm = types.SimpleNamespace(unet=copy.deepcopy(comps.unet), vae=comps.vae, scheduler=comps.scheduler, device="cpu")
    cfg = dataclasses.replace(
        PAPER, steps=args.steps, num_embeddings=args.contexts, inference_crops=args.crops, seed=args.seed, batch_size=64
    )
    ours = AttentionMatcher(comps, cfg, device=torch.device("cpu"), dtype=torch.float32)
    assert ours.config.crop_px == int(512 * CROP_PERCENT / 100)

    print(f"attention maps (layers 5-8, heads 4-7, token 1), max |difference|: "
          f"{compare_maps(ours, ldm, AttentionStore, ptp_utils):.2e}", flush=True)

    source, target = texture(1), texture(2)
    # Points in the 512 px images, exactly representable in float32 (the authors' tensors); the
    # x coordinates lie where the two crop rules differ (72-106 and 405-440 px).
    points = dict(list({"a": (90.0, 250.0), "b": (431.25, 120.5)}.items())[: args.keypoints])
    if args.point:
        points = {"p": (float(np.float32(args.point[0])), float(np.float32(args.point[1])))}
    names = list(points)

    # ---- ours: record the crop of every (keypoint, context, step / crop)
    log: list[list[tuple[int, int]]] = []
    get = attention._LatentCache.get

    def recording_get(self, starts):
        log.append(list(starts))
        return get(self, starts)

    attention._LatentCache.get = recording_get
    t0 = time.perf_counter()
    try:
        ref = ours.prepare_reference(source, points)
        opt_log, log[:] = list(log), []
        (pred,) = ours.predict([ref], [target])
        inf_log = list(log)
    finally:
        attention._LatentCache.get = get
    t_ours = time.perf_counter() - t0
    print(f"ours done in {t_ours:.0f} s", flush=True)
    items = [(k, e) for k in range(len(names)) for e in range(args.contexts)]
    our_opt = {(names[k], e, s): opt_log[s][i] for s in range(args.steps) for i, (k, e) in enumerate(items)}
    our_inf = {(names[k], e, j): inf_log[j][i] for j in range(args.crops) for i, (k, e) in enumerate(items)}

    # ---- theirs, on the same draws
    src_key, trg_key = image_key(source), image_key(target)
    schedule = []
    for name in names:
        schedule += [("step", src_key, name, e, s) for e in range(args.contexts) for s in range(args.steps)]
        schedule += [("infer", trg_key, name, e, j) for e in range(args.contexts) for j in range(args.crops)]
    replay = Replay(schedule, args.seed, ours.latent_shape())
    inits = [
        torch.randn((77, ours.context_dim), generator=_generator(args.seed, "init", src_key, name, e))[None]
        for name in names for e in range(args.contexts)
    ]
    losses: list[float] = []

    class RecordingMSE(torch.nn.MSELoss):
        def forward(self, a, b):
            out = super().forward(a, b)
            losses.append(float(out.detach()))
            return out

    real_optimize_prompt = their_optimize.optimize_prompt

    def optimize_prompt(*a, **kw):  # their validate_epoch draws the initial context inside; give it ours
        return real_optimize_prompt(*a, context=inits.pop(0), **kw)

    def to_tensor(img):
        return torch.from_numpy(img).permute(2, 0, 1).float().div_(255.0)[None]

    kps = torch.tensor([[p[0] for p in points.values()], [p[1] for p in points.values()]], dtype=torch.float32)[None]
    batch = {
        "src_img": to_tensor(source), "trg_img": to_tensor(target), "src_kps": kps, "trg_kps": kps.clone(),
        "pckthres": torch.tensor([512.0]), "n_pts": torch.tensor([len(names)]), "idx": 0,
    }
    saved = (torch.randint, torch.rand_like, torch.nn.MSELoss, their_optimize.optimize_prompt)
    out_dir = Path(tempfile.mkdtemp(prefix="ldm-authors-out-"))
    t0 = time.perf_counter()
    try:
        torch.randint, torch.rand_like, torch.nn.MSELoss = replay.randint, replay.rand_like, RecordingMSE
        their_optimize.optimize_prompt = optimize_prompt
        their_optimize.validate_epoch(
            ldm, [batch], upsample_res=512, num_steps=args.steps, noise_level=NOISE_LEVEL, layers=LAYERS,
            device="cpu", lr=cfg.lr, num_opt_iterations=args.contexts, sigma=cfg.sigma_px, flip_prob=0.0,
            crop_percent=CROP_PERCENT, save_folder=str(out_dir), num_iterations=args.crops,
        )
    finally:
        torch.randint, torch.rand_like, torch.nn.MSELoss, their_optimize.optimize_prompt = saved
    t_theirs = time.perf_counter() - t0
    theirs = torch.load(out_dir / "correspondence_data_000.pt")
    assert not replay.schedule, f"{len(replay.schedule)} draws left unused"

    # ---- compare
    their_starts = replay.starts
    same_opt = sum(our_opt[(n, e, s)] == their_starts[("step", src_key, n, e, s)]
                   for n in names for e in range(args.contexts) for s in range(args.steps))
    same_inf = sum(our_inf[(n, e, j)] == their_starts[("infer", trg_key, n, e, j)]
                   for n in names for e in range(args.contexts) for j in range(args.crops))
    n_opt, n_inf = len(names) * args.contexts * args.steps, len(names) * args.contexts * args.crops
    print(f"optimisation crops identical: {same_opt}/{n_opt}; inference crops identical: {same_inf}/{n_inf}")
    first = np.array(losses[:: args.steps]).reshape(len(names), args.contexts).mean(1)
    last = np.array(losses[args.steps - 1 :: args.steps]).reshape(len(names), args.contexts).mean(1)
    print(f"step-1 loss per keypoint: theirs {first.tolist()} ours {ref.meta['loss_first']}; "
          f"max relative difference {np.max(np.abs(first - ref.meta['loss_first']) / first):.2e}")
    print(f"step-{args.steps} loss (forward of the last step) max relative difference "
          f"{np.max(np.abs(last - ref.meta['loss_last']) / last):.2e}")
    their_ctx = theirs["contexts"].reshape(len(names), args.contexts, 77, -1).detach().numpy()
    ctx_diff = np.abs(their_ctx - ref.arrays["embeddings"]).max()
    print(f"contexts after {args.steps} Adam steps: max |difference| {ctx_diff:.2e} "
          f"(largest entry {np.abs(their_ctx).max():.2f})")
    their_xy = theirs["est_keypoints"][0].T.numpy()
    dist = np.linalg.norm(their_xy - pred.xy, axis=1)
    print(f"predicted points theirs {their_xy.tolist()} ours {pred.xy.tolist()}: {dist.tolist()} px apart")
    print(f"time: ours {t_ours:.0f} s, theirs {t_theirs:.0f} s (CPU, {torch.get_num_threads()} threads)")
    if args.old_rules:
        old_cfg = dataclasses.replace(cfg, margin_rule="inward", target_grid="centre", softmax_dtype="float64")
        old = AttentionMatcher(comps, old_cfg, device=torch.device("cpu"), dtype=torch.float32)
        log[:] = []
        attention._LatentCache.get = recording_get
        try:
            old_ref = old.prepare_reference(source, points)
            old_opt, log[:] = list(log), []
            (old_pred,) = old.predict([old_ref], [target])
            old_inf = list(log)
        finally:
            attention._LatentCache.get = get
        same_opt = sum(old_opt[s][i] == their_starts[("step", src_key, names[k], e, s)]
                       for s in range(args.steps) for i, (k, e) in enumerate(items))
        same_inf = sum(old_inf[j][i] == their_starts[("infer", trg_key, names[k], e, j)]
                       for j in range(args.crops) for i, (k, e) in enumerate(items))
        old_first = np.max(np.abs(first - old_ref.meta["loss_first"]) / first)
        print(f"with fast's rules instead: optimisation crops identical {same_opt}/{n_opt}, inference "
              f"{same_inf}/{n_inf}; step-1 loss relative difference {old_first:.2e}; contexts max |difference| "
              f"{np.abs(their_ctx - old_ref.arrays['embeddings']).max():.2e}; points "
              f"{np.linalg.norm(their_xy - old_pred.xy, axis=1).tolist()} px apart")
    if args.other_seed:
        other = AttentionMatcher(comps, dataclasses.replace(cfg, seed=args.seed + 1), device=torch.device("cpu"),
                                 dtype=torch.float32)
        (pred2,) = other.predict([other.prepare_reference(source, points)], [target])
        print(f"this engine with seed {args.seed + 1} instead of {args.seed}: points "
              f"{np.linalg.norm(pred2.xy - pred.xy, axis=1).tolist()} px apart")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
