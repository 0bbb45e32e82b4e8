"""FreeU in the SD UNet's decoder exactly as GeoAware-SC's copy of ODISE applies it (Si et al. 2024).

GeoAware-SC (``third_party/ODISE/odise/modeling/meta_arch/ldm.py``, ``LdmExtractor.unet_forward``)
turns FreeU on for every feature extraction. Before each decoder block ``output_blocks[k]`` the
backbone tensor ``h`` and the skip tensor ``h_out`` are changed, selected by ``h``'s channel count::

    if h.shape[1] == 1280: h[:, :640] *= b1; h_out = Fourier_filter(h_out, threshold=1, scale=s1)
    if h.shape[1] == 640:  h[:, :320] *= b2; h_out = Fourier_filter(h_out, threshold=1, scale=s2)

with b1 1.2, b2 1.4, s1 0.9, s2 0.2. On SD 1.x this is ``output_blocks[0..6]`` (1280 channels in)
and ``[7..9]`` (640), not diffusers' ``enable_freeu`` selection (by up-block index: b1 on up block 0,
b2 on up block 1). ``h`` is scaled in place, so the features the authors read at
``output_blocks[2, 5, 8]`` (``decoder_only``: ``h.contiguous()``, the same tensor) are the scaled ones.

Here, on a diffusers ``UNet2DConditionModel`` (no copy of its forward):

* the module whose output becomes ``h`` for an up-block resnet (the mid block's last resnet, the
  previous up block's upsampler, or the previous attention/resnet of the same block) gets a forward
  hook that returns the scaled tensor, so any tap registered after it sees the scaled ``h``;
* each up block gets a forward pre-hook that filters the skip tensors its resnets will concatenate
  (diffusers' :func:`~diffusers.utils.torch_utils.fourier_filter`: the same operations as the
  authors' ``Fourier_filter`` on float32 input, tested).

Channel selection: the authors' 1280 / 640 are SD 1.x's widest block and half of it; on other
UNets (the tiny test model: 64 / 32) ``b1`` applies where ``h`` has the widest block's width and
``b2`` where it has half of it, the first half of ``h``'s channels scaled in both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from diffusers.utils.torch_utils import fourier_filter

#: The authors' Fourier-filter half-width: the centred 2 x 2 lowest frequencies are scaled.
THRESHOLD = 1


@dataclass(frozen=True)
class FreeU:
    """Backbone scales ``b1``/``b2`` and skip low-frequency scales ``s1``/``s2`` (GeoAware-SC's values)."""

    b1: float = 1.2
    b2: float = 1.4
    s1: float = 0.9
    s2: float = 0.2

    def scales(self, channels: int, widest: int) -> tuple[float, float] | None:
        """``(b, s)`` for a backbone tensor of ``channels`` in a UNet whose widest block is ``widest``."""
        if channels == widest:
            return self.b1, self.s1
        if channels == widest // 2:
            return self.b2, self.s2
        return None


def _main_tensor(output: Any) -> torch.Tensor:
    if isinstance(output, (tuple, list)):
        return output[0]
    return getattr(output, "sample", output)


def _with_main_tensor(output: Any, tensor: torch.Tensor) -> Any:
    """``output`` with its main tensor replaced (a tensor, a tuple, or an output object with ``sample``)."""
    if isinstance(output, torch.Tensor):
        return tensor
    if isinstance(output, (tuple, list)):
        return type(output)([tensor, *output[1:]])
    output.sample = tensor
    return output


def _last_layer(block: torch.nn.Module) -> torch.nn.Module:
    """The module whose output an up block returns (its upsampler, else its last attention/resnet)."""
    ups = getattr(block, "upsamplers", None)
    if ups:
        return ups[-1]
    attns = getattr(block, "attentions", None)
    return attns[-1] if attns else block.resnets[-1]


def _producers(unet: torch.nn.Module) -> list[torch.nn.Module]:
    """The modules whose outputs enter an up-block resnet as ``h``, once each."""
    out: list[torch.nn.Module] = []
    for i, block in enumerate(unet.up_blocks):
        attns = getattr(block, "attentions", None)
        for j in range(len(block.resnets)):
            if j == 0:
                out.append(unet.mid_block.resnets[-1] if i == 0 else _last_layer(unet.up_blocks[i - 1]))
            else:
                out.append(attns[j - 1] if attns else block.resnets[j - 1])
    return out


@contextmanager
def freeu_hooks(unet: torch.nn.Module, freeu: FreeU | None) -> Iterator[None]:
    """FreeU as GeoAware-SC's ODISE applies it, on ``unet`` while the block runs (nothing if None).

    Enter before registering feature taps: hooks run in registration order, so the taps then
    read the scaled tensors, as the authors'.
    """
    if freeu is None:
        yield
        return
    widest = max(unet.config.block_out_channels)

    def scale_backbone(_m: Any, _i: Any, output: Any) -> Any:
        h = _main_tensor(output)
        sel = freeu.scales(h.shape[1], widest)
        if sel is None:
            return None
        half = h.shape[1] // 2
        h = torch.cat([h[:, :half] * sel[0], h[:, half:]], dim=1)
        return _with_main_tensor(output, h)

    def filter_skips(block: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
        if "res_hidden_states_tuple" in kwargs:
            skips = kwargs["res_hidden_states_tuple"]
        else:
            skips = args[1]
        new = list(skips)
        for j, resnet in enumerate(block.resnets):
            k = len(new) - 1 - j  # resnet j concatenates the j-th skip from the end
            sel = freeu.scales(resnet.in_channels - new[k].shape[1], widest)
            if sel is not None:
                new[k] = fourier_filter(new[k], threshold=THRESHOLD, scale=sel[1])
        if "res_hidden_states_tuple" in kwargs:
            kwargs = {**kwargs, "res_hidden_states_tuple": tuple(new)}
        else:
            args = (args[0], tuple(new), *args[2:])
        return args, kwargs

    handles = [m.register_forward_hook(scale_backbone) for m in dict.fromkeys(_producers(unet))]
    handles += [b.register_forward_pre_hook(filter_skips, with_kwargs=True) for b in unet.up_blocks]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
