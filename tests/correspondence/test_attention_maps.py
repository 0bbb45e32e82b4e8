"""The capturing attention processor: same outputs as diffusers' default, right maps, truncation-safe."""

from __future__ import annotations

import pytest
import torch

from labeler.correspondence.attention_config import PAPER_LAYERS
from labeler.correspondence.attention_maps import (
    cross_attention_modules,
    execution_rank,
    install,
    last_layer,
    resolve_heads,
)
from labeler.correspondence.loading import load_sd
from labeler.correspondence.truncation import run_until


@pytest.fixture(scope="module")
def unet(tiny_model_dir):
    return load_sd("tiny-random", parts=("unet",)).unet


@pytest.fixture
def inputs():
    gen = torch.Generator().manual_seed(3)
    latents = torch.randn((3, 4, 32, 32), generator=gen)
    context = torch.randn((3, 77, 32), generator=gen)
    timesteps = torch.tensor([140, 40, 140])
    return latents, context, timesteps


def _default(unet) -> None:
    from diffusers.models.attention_processor import AttnProcessor2_0

    unet.set_attn_processor(AttnProcessor2_0())


def test_outputs_equal_the_default_processor(unet, inputs):
    latents, context, t = inputs
    _default(unet)
    with torch.no_grad():
        expected = unet(latents, t, encoder_hidden_states=context).sample
        store = install(unet, PAPER_LAYERS, (4, 5, 6, 7), 1)
        plain = unet(latents, t, encoder_hidden_states=context).sample
        store.enabled = True
        capturing = unet(latents, t, encoder_hidden_states=context).sample
    assert torch.equal(plain, expected)
    assert torch.equal(capturing, expected)
    assert set(store.maps) == set(PAPER_LAYERS)
    _default(unet)


def test_only_the_chosen_cross_attention_modules_are_replaced(unet):
    install(unet, PAPER_LAYERS, (4, 5, 6, 7), 1)
    replaced = {k for k, p in unet.attn_processors.items() if type(p).__name__ == "TokenAttentionProcessor"}
    expected = {f"{m}.processor" for layer in PAPER_LAYERS for m in cross_attention_modules(unet, layer)}
    assert replaced == expected
    assert all(".attn2." in k for k in replaced)
    assert len(unet.attn_processors) > len(replaced)
    _default(unet)


def test_captured_maps_are_the_attention_probabilities_of_token_and_heads(unet, inputs):
    """Compare with diffusers' own full-probability computation (get_attention_scores)."""
    latents, context, t = inputs
    layer = "up_blocks.2.attentions.0"
    module = unet.get_submodule(f"{layer}.transformer_blocks.0.attn2")
    seen = {}

    def grab(_mod, args, kwargs, _out):
        seen["hidden"] = args[0] if args else kwargs["hidden_states"]
        seen["context"] = kwargs.get("encoder_hidden_states")

    handle = module.register_forward_hook(grab, with_kwargs=True)
    store = install(unet, [layer], (4, 5, 6, 7), 1)
    store.enabled = True
    try:
        with torch.no_grad():
            unet(latents, t, encoder_hidden_states=context)
            q = module.head_to_batch_dim(module.to_q(seen["hidden"]))
            k = module.head_to_batch_dim(module.to_k(seen["context"]))
            full = module.get_attention_scores(q, k)  # (B * heads, N, 77)
    finally:
        handle.remove()
    full = full.reshape(3, module.heads, full.shape[1], 77)[:, 4:8, :, 1]
    (captured,) = store.maps[layer]
    assert captured.shape == (3, 4, 16 * 16)
    torch.testing.assert_close(captured, full, rtol=1e-5, atol=1e-6)
    maps = store.head_means([layer], (32, 32))
    assert maps[0].shape == (3, 16, 16)
    torch.testing.assert_close(maps[0], full.mean(1).reshape(3, 16, 16), rtol=1e-5, atol=1e-6)
    _default(unet)


def test_truncated_run_captures_the_same_maps_as_the_full_unet(unet, inputs):
    latents, context, t = inputs
    store = install(unet, PAPER_LAYERS, "upper-half", 1)
    store.enabled = True
    with torch.no_grad():
        unet(latents, t, encoder_hidden_states=context)
        full = store.head_means(PAPER_LAYERS, (32, 32))
        store.clear()
        run_until(unet, last_layer(PAPER_LAYERS), latents, t, encoder_hidden_states=context)
        truncated = store.head_means(PAPER_LAYERS, (32, 32))
    assert [m.shape[-1] for m in truncated] == [8, 8, 8, 16]
    for a, b in zip(full, truncated, strict=True):
        assert torch.equal(a, b)
    _default(unet)


def test_gradients_reach_the_context_through_the_captured_maps(unet, inputs):
    latents, context, t = inputs
    context = context.clone().requires_grad_(True)
    store = install(unet, PAPER_LAYERS, (4, 5, 6, 7), 1)
    store.enabled = True
    run_until(unet, last_layer(PAPER_LAYERS), latents, t, encoder_hidden_states=context)
    maps = store.head_means(PAPER_LAYERS, (32, 32))
    sum(m.sum() for m in maps).backward()
    assert context.grad is not None and context.grad[:, 1].abs().sum() > 0
    _default(unet)


def test_head_selection():
    assert resolve_heads((4, 5, 6, 7), 8, "x") == [4, 5, 6, 7]
    assert resolve_heads("upper-half", 8, "x") == [4, 5, 6, 7]
    assert resolve_heads("upper-half", 10, "x") == [5, 6, 7, 8, 9]  # SD2.x 640-channel layers
    assert resolve_heads("upper-half", 20, "x") == list(range(10, 20))
    assert resolve_heads("all", 3, "x") == [0, 1, 2]
    with pytest.raises(ValueError, match="8 heads"):
        resolve_heads((4, 8), 8, "x")


def test_execution_order_of_blocks():
    assert last_layer(PAPER_LAYERS) == "up_blocks.2.attentions.0"
    assert last_layer(["mid_block.attentions.0", "down_blocks.2.attentions.1"]) == "mid_block.attentions.0"
    assert last_layer(["up_blocks.0.attentions.2", "mid_block.attentions.0"]) == "up_blocks.0.attentions.2"
    assert execution_rank("up_blocks.1.attentions.2") < execution_rank("up_blocks.2.attentions.0")
    with pytest.raises(ValueError):
        execution_rank("conv_in")


def test_unknown_layers_are_rejected(unet):
    with pytest.raises(ValueError, match="no block"):
        install(unet, ["up_blocks.9.attentions.0"], (4,), 1)
    with pytest.raises(ValueError, match="no cross-attention"):
        install(unet, ["up_blocks.0"], (4,), 1)
