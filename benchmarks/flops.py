"""FLOP counts of the work each method cannot avoid, for the FLOP floor (FLOPs / matmul rate).

Counted with ``torch.utils.flop_counter.FlopCounterMode`` on the real-size random models at
batch 1. That counter does not see fused attention kernels on every device (the CPU's SDPA
kernel is missed), so attention is switched to diffusers' explicit ``AttnProcessor``
(``baddbmm`` + softmax + ``bmm``, all counted) for the count and the previous processors are put
back afterwards. Softmax, normalisation and element-wise ops are not counted (they are memory-
bound, a few percent of the total). A multiply-add counts as 2 FLOPs.

Counting runs the model once where it lies (a minute at real size on a CPU), so results are
memoised in a JSON file under the cache folder, keyed by the model folder and the arguments.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from labeler.correspondence.truncation import run_until
from labeler.paths import cache_dir


def count(fn: Callable[[], Any]) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


@contextlib.contextmanager
def explicit_attention(*modules: Any) -> Iterator[None]:
    """Every attention of ``modules`` as explicit matmuls (countable); the old processors after."""
    from diffusers.models.attention_processor import AttnProcessor

    saved = [(m, dict(m.attn_processors)) for m in modules if m is not None]
    try:
        for m, _ in saved:
            m.set_attn_processor(AttnProcessor())
        yield
    finally:
        for m, processors in saved:
            m.set_attn_processor(processors)


def _memo_file() -> Path:
    return cache_dir() / "benchmarks" / "flops.json"


def memoised(key: str, compute: Callable[[], int]) -> int:
    path = _memo_file()
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        table = {}
    if key in table:
        return int(table[key])
    value = compute()
    table[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(table, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
    return value


def _model_key(module: Any) -> str:
    """The folder the weights came from (the random models are named by a config hash)."""
    return Path(str(getattr(module.config, "_name_or_path", "") or type(module).__name__)).name


def vae_encode_flops(vae: Any, resolution: int) -> int:
    """FLOPs of ``vae.encode`` (encoder + quant conv) of one ``resolution``-square image."""

    def run() -> int:
        x = torch.zeros((1, 3, resolution, resolution), **_where(vae))
        with explicit_attention(vae), torch.inference_mode():
            return count(lambda: vae.encode(x))

    return memoised(f"vae-encode:{_model_key(vae)}:{resolution}", run)


def unet_flops(unet: Any, resolution: int, until: str | None, *, backward: bool = False, vae_stride: int = 8) -> int:
    """FLOPs of one batch element through ``unet`` up to block ``until`` (None: the whole UNet).

    ``backward``: forward plus the backward pass to the context (encoder_hidden_states), as the
    attention method's prompt optimisation needs (no weight gradients).
    """
    side = resolution // vae_stride
    dim = int(unet.config.cross_attention_dim)

    def run() -> int:
        to = _where(unet)
        lat = torch.zeros((1, int(unet.config.in_channels), side, side), **to)
        t = torch.tensor([261], device=to["device"])

        def forward(ctx: torch.Tensor) -> torch.Tensor:
            if until is None:
                out = unet(lat, t, encoder_hidden_states=ctx).sample
            else:
                out = run_until(unet, until, lat, t, encoder_hidden_states=ctx)
            return out[0] if isinstance(out, tuple) else out

        with explicit_attention(unet):
            if not backward:
                with torch.inference_mode():
                    return count(lambda: forward(torch.zeros((1, 77, dim), **to)))
            ctx = torch.zeros((1, 77, dim), **to).requires_grad_(True)
            return count(lambda: forward(ctx).float().square().mean().backward())

    mode = "fwd+bwd" if backward else "fwd"
    return memoised(f"unet:{_model_key(unet)}:{resolution}:{until or 'all'}:{mode}", run)


def _where(module: torch.nn.Module) -> dict[str, Any]:
    """The module's device and dtype (the count does not depend on either)."""
    param = next(module.parameters())
    return {"device": param.device, "dtype": param.dtype}
