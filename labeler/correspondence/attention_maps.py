"""Capture one context token's cross-attention maps through diffusers' attention-processor API.

:func:`install` puts a :class:`TokenAttentionProcessor` on the ``attn2`` (cross-attention)
modules of the chosen UNet blocks and leaves every other processor as it was. The processor
computes the layer's output exactly like diffusers' default ``AttnProcessor2_0`` (fused
``scaled_dot_product_attention``, so the full probability tensor is never materialised) and, on
the side, only what the method needs: ``softmax(q k^T * scale)`` over the context positions for
the selected heads, keeping one position (token). Autograd flows through both, which the prompt
optimisation relies on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F


@dataclass
class TokenAttentionStore:
    """Maps captured during one forward pass, per block name, in call order.

    ``enabled`` off makes the processors behave exactly like the default one and keep nothing.
    """

    enabled: bool = False
    maps: dict[str, list[torch.Tensor]] = field(default_factory=dict)

    def clear(self) -> None:
        self.maps = {}

    def add(self, layer: str, probs: torch.Tensor) -> None:
        self.maps.setdefault(layer, []).append(probs)

    def head_means(self, layers: Sequence[str], latent_hw: tuple[int, int]) -> list[torch.Tensor]:
        """Per layer ``(B, h, w)`` float32: mean over the captured heads (and over the block's
        transformer blocks when it has several), reshaped to the layer's grid."""
        lh, lw = latent_hw
        out = []
        for layer in layers:
            captured = self.maps.get(layer)
            if not captured:
                raise RuntimeError(f"no cross-attention map was captured for {layer}")
            probs = torch.stack([p.mean(dim=1) for p in captured]).mean(dim=0)  # (B, N)
            n = probs.shape[1]
            stride = math.isqrt(lh * lw // n)
            if stride * stride * n != lh * lw or lh % stride or lw % stride:
                raise RuntimeError(f"{layer}: {n} positions do not tile a {lh}x{lw} latent")
            out.append(probs.reshape(probs.shape[0], lh // stride, lw // stride))
        return out


class TokenAttentionProcessor:
    """Default scaled-dot-product attention that also records token ``token`` of heads ``heads``."""

    def __init__(self, store: TokenAttentionStore, layer: str, heads: Sequence[int], token: int) -> None:
        self.store = store
        self.layer = layer
        self.heads = list(heads)
        self.token = token

    def __call__(
        self,
        attn: Any,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> torch.Tensor:
        if (
            attention_mask is not None
            or hidden_states.ndim != 3
            or attn.spatial_norm is not None
            or attn.group_norm is not None
            or attn.norm_q is not None
            or attn.norm_k is not None
        ):
            raise NotImplementedError(
                f"{self.layer}: the token-attention processor supports the plain cross-attention of "
                "SD UNets only (no mask, spatial/group norm or q/k norm)"
            )
        residual = hidden_states
        batch, _, _ = hidden_states.shape
        query = attn.to_q(hidden_states)
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        if encoder_hidden_states is not None and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        key = attn.to_k(context)
        value = attn.to_v(context)
        head_dim = key.shape[-1] // attn.heads
        query = query.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        key = key.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        value = value.view(batch, -1, attn.heads, head_dim).transpose(1, 2)

        out = F.scaled_dot_product_attention(query, key, value, dropout_p=0.0, is_causal=False)
        out = out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)
        out = attn.to_out[0](out)
        out = attn.to_out[1](out)
        if attn.residual_connection:
            out = out + residual
        out = out / attn.rescale_output_factor

        if self.store.enabled:
            # Only the needed heads, in float32: (B, h', N, T) logits -> softmax over T -> one token.
            q = query[:, self.heads].float()
            k = key[:, self.heads].float()
            probs = torch.softmax(q @ k.transpose(-1, -2) * attn.scale, dim=-1)[..., self.token]
            self.store.add(self.layer, probs)  # (B, h', N)
        return out


def resolve_heads(heads: Sequence[int] | str, n_heads: int, layer: str) -> list[int]:
    """Head indices for a layer with ``n_heads`` heads ("upper-half": n//2 .. n-1)."""
    if heads == "upper-half":
        return list(range(n_heads // 2, n_heads))
    if heads == "all":
        return list(range(n_heads))
    chosen = [int(h) for h in heads]
    if max(chosen) >= n_heads:
        raise ValueError(f"{layer} has {n_heads} heads; head index {max(chosen)} does not exist")
    return chosen


def cross_attention_modules(unet: torch.nn.Module, layer: str) -> list[str]:
    """Names of the ``attn2`` modules inside block ``layer`` (one per transformer block in SD1/2)."""
    try:
        block = unet.get_submodule(layer)
    except AttributeError:
        raise ValueError(f"the UNet has no block named {layer!r}") from None
    names = [f"{layer}.{n}" for n, _ in block.named_modules() if n.endswith("attn2")]
    if not names:
        raise ValueError(f"{layer} has no cross-attention (attn2) module")
    return names


def install(
    unet: Any, layers: Sequence[str], heads: Sequence[int] | str, token: int
) -> TokenAttentionStore:
    """Put capturing processors on the cross-attention of ``layers``; keep all other processors."""
    store = TokenAttentionStore()
    processors = dict(unet.attn_processors)
    for layer in layers:
        for module_name in cross_attention_modules(unet, layer):
            module = unet.get_submodule(module_name)
            chosen = resolve_heads(heads, module.heads, layer)
            processors[f"{module_name}.processor"] = TokenAttentionProcessor(store, layer, chosen, token)
    unet.set_attn_processor(processors)
    return store


def execution_rank(layer: str) -> tuple[int, int, int]:
    """Order of a UNet block in the forward pass (down, mid, up); named_modules order differs."""
    parts = layer.split(".")
    section = {"down_blocks": 0, "mid_block": 1, "up_blocks": 2}.get(parts[0])
    if section is None:
        raise ValueError(f"{layer!r} is not inside down_blocks, mid_block or up_blocks")
    numbers = [int(p) for p in parts[1:] if p.isdigit()] + [0, 0]
    if section == 1:
        numbers = [0, *numbers]
    return section, numbers[0], numbers[1]


def last_layer(layers: Sequence[str]) -> str:
    """The block after which nothing more is needed (the UNet is stopped there)."""
    return max(layers, key=execution_rank)
