"""FreeU in fusion's SD half against the authors' formula, written out here independently.

GeoAware-SC's ODISE (``LdmExtractor.unet_forward``, ``decoder_only``) runs the decoder block by
block; before block k it taps ``h`` (the same tensor, later scaled in place) and, selected by the
channel count of ``h``, scales its first half by b1 (1280 ch) or b2 (640 ch) and low-pass scales
the skip tensor by s1 / s2 with their ``Fourier_filter``. :func:`authors_taps` re-expresses that
loop over the diffusers modules of the tiny random UNet (whose widths are 64 / 32 where SD 1.x has
1280 / 640); the engine's hooks must give the same tensors to float tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labeler.correspondence import freeu as freeu_mod
from labeler.correspondence import fusion
from labeler.correspondence.fusion_config import FUSION_GEOAWARE, FUSION_PAPER, FUSION_SD_DINO, SD_LAYERS
from labeler.correspondence.registry import create_matcher, presets_for
from labeler.errors import UserInputError

B1, B2, S1, S2 = 1.2, 1.4, 0.9, 0.2
WIDE, HALF = 64, 32  # the tiny UNet's widest block and half of it (SD 1.x: 1280 and 640)
#: The engine's taps and the authors' output-block indices whose input they are (3 resnets per up block).
LAYERS = SD_LAYERS + ("up_blocks.3.attentions.0",)  # the last one: a 32-channel h (the b2 branch)
BLOCKS = (2, 5, 8, 10)


def authors_fourier_filter(x, threshold, scale):
    """GeoAware-SC's ``Fourier_filter`` (``.cuda()`` of the mask replaced by the input's device)."""
    x_freq = torch.fft.fftn(x, dim=(-2, -1))
    x_freq = torch.fft.fftshift(x_freq, dim=(-2, -1))
    B, C, H, W = x_freq.shape
    mask = torch.ones((B, C, H, W), device=x.device)
    crow, ccol = H // 2, W // 2
    mask[..., crow - threshold:crow + threshold, ccol - threshold:ccol + threshold] = scale
    x_freq = x_freq * mask
    x_freq = torch.fft.ifftshift(x_freq, dim=(-2, -1))
    return torch.fft.ifftn(x_freq, dim=(-2, -1)).real


def authors_taps(unet, sample, t, context, with_freeu):
    """Inputs of the decoder blocks ``BLOCKS`` as the authors' ``decoder_only`` loop reads them."""
    emb = unet.time_embedding(unet.time_proj(t).to(sample.dtype))
    h = unet.conv_in(sample)
    hs = [h]
    for down in unet.down_blocks:
        if getattr(down, "has_cross_attention", False):
            h, res = down(hidden_states=h, temb=emb, encoder_hidden_states=context)
        else:
            h, res = down(hidden_states=h, temb=emb)
        hs.extend(res)
    h = unet.mid_block(h, emb, encoder_hidden_states=context)
    ret, k = {}, 0
    for up in unet.up_blocks:
        attns = getattr(up, "attentions", None)
        for j, resnet in enumerate(up.resnets):
            if k in BLOCKS:
                ret[k] = h.contiguous()  # the same tensor: the in-place scaling below shows in it
            h_out = hs.pop()
            if with_freeu:
                if h.shape[1] == WIDE:
                    h[:, :HALF] = h[:, :HALF] * B1
                    h_out = authors_fourier_filter(h_out, threshold=1, scale=S1)
                if h.shape[1] == HALF:
                    h[:, :HALF // 2] = h[:, :HALF // 2] * B2
                    h_out = authors_fourier_filter(h_out, threshold=1, scale=S2)
            h = resnet(torch.cat([h, h_out], dim=1), emb)
            if attns:
                h = attns[j](h, encoder_hidden_states=context, return_dict=False)[0]
            if j == len(up.resnets) - 1 and up.upsamplers:
                h = up.upsamplers[0](h)
            k += 1
            if k > max(BLOCKS):
                return [ret[b] for b in reversed(BLOCKS)]
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def engines():
    on = fusion.build("tiny-random", "geoaware-sc", "cpu", sd_layers=LAYERS)
    off = fusion.build("tiny-random", "geoaware-sc", "cpu", sd_layers=LAYERS, freeu=False)
    return on, off


def _inputs(featurizer, photos):
    crops = torch.from_numpy(np.stack([photos["astronaut"][:128, :128], photos["chelsea"][:128, :128]]))
    noise = torch.randn((2, 4, 16, 16), generator=torch.Generator().manual_seed(3))
    return crops, noise


def _reference(featurizer, crops, noise, with_freeu):
    comps, cfg = featurizer.comps, featurizer.config
    with torch.inference_mode():
        x = crops.permute(0, 3, 1, 2).float() / 255.0 * 2.0 - 1.0
        latents = comps.vae.encode(x).latent_dist.mean * comps.vae.config.scaling_factor
        t = torch.full((2,), cfg.timestep, dtype=torch.long)
        noisy = comps.scheduler.add_noise(latents, noise, t)
        context = featurizer.prompt_embeds.expand(2, -1, -1)
        return authors_taps(comps.unet, noisy, t, context, with_freeu)


@pytest.mark.parametrize("with_freeu", [True, False])
def test_taps_are_the_authors_tensors_with_and_without_freeu(engines, photos, with_freeu):
    featurizer = engines[0 if with_freeu else 1].featurizer
    crops, noise = _inputs(featurizer, photos)
    with torch.inference_mode():
        ours = featurizer._unet_taps(crops.permute(0, 3, 1, 2), noise)
    theirs = _reference(featurizer, crops, noise, with_freeu)
    assert [o.shape[1] for o in ours] == [HALF, WIDE, WIDE, WIDE]  # both branches are exercised
    for o, r in zip(ours, theirs):
        torch.testing.assert_close(o, r.float(), rtol=1e-5, atol=1e-5)


def test_freeu_changes_every_tap_and_off_is_the_plain_unet(engines, photos):
    on, off = (e.featurizer for e in engines)
    crops, noise = _inputs(on, photos)
    with torch.inference_mode():
        a = on._unet_taps(crops.permute(0, 3, 1, 2), noise)
        b = off._unet_taps(crops.permute(0, 3, 1, 2), noise)
    for x, y in zip(a, b):
        assert (x - y).abs().max() > 1e-3
    # with FreeU off no hook is left on the UNet, and none stays after a FreeU run either
    unet = on.comps.unet
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in unet.modules())


def test_diffusers_fourier_filter_is_the_authors_on_float32():
    rng = np.random.default_rng(0)
    for _ in range(40):  # generated shapes, odd and even, square or not, and scales
        shape = tuple(int(v) for v in (rng.integers(1, 4), rng.integers(1, 5), *rng.choice(
            [2, 3, 4, 6, 8, 9, 15, 16, 30, 32, 60, 64], size=2)))
        scale = float(rng.uniform(0.0, 2.0))
        x = torch.from_numpy(rng.standard_normal(shape).astype(np.float32))
        torch.testing.assert_close(freeu_mod.fourier_filter(x, threshold=1, scale=scale),
                                   authors_fourier_filter(x, 1, scale), rtol=0, atol=0)


def test_selection_by_channel_count_as_the_authors_on_sd_1_5_widths():
    f = freeu_mod.FreeU()
    assert f.scales(1280, 1280) == (B1, S1) and f.scales(640, 1280) == (B2, S2)
    assert f.scales(320, 1280) is None and f.scales(960, 1280) is None


def test_presets_name_their_paper_and_differ_in_signature(engines):
    assert FUSION_GEOAWARE == FUSION_PAPER and FUSION_PAPER.freeu  # the same pipeline under two names
    assert (FUSION_PAPER.freeu_b1, FUSION_PAPER.freeu_b2, FUSION_PAPER.freeu_s1, FUSION_PAPER.freeu_s2) == (
        B1, B2, S1, S2)
    assert not FUSION_SD_DINO.freeu and FUSION_SD_DINO.timestep == 100 and FUSION_SD_DINO.refine == "argmax"
    assert {"geoaware-sc", "sd-dino"} <= set(presets_for("fusion"))
    on, off = engines  # FreeU on / off, all else equal: neither predictions nor reference states are shared
    assert on.signature != off.signature and on.reference_signature != off.reference_signature
    paper = create_matcher("fusion", model="tiny-random", preset="paper", device="cpu")
    sd_dino = create_matcher("fusion", model="tiny-random", preset="sd-dino", device="cpu")
    assert paper.signature != sd_dino.signature and paper.reference_signature != sd_dino.reference_signature


@pytest.mark.parametrize("method", ["dift", "classical", "attention"])
def test_paper_named_presets_are_fusions_only(method):
    with pytest.raises(UserInputError, match="for --method"):
        create_matcher(method, model="tiny-random", preset="sd-dino", device="cpu")


def test_every_typed_setting_refuses_values_of_another_type():
    """Generated over the fields: a bool field takes only true/false (``freeu=maybe`` would have
    read as on), number fields only numbers; each refusal is one UserInputError naming the field."""
    import dataclasses
    import typing

    from labeler.correspondence.fusion_config import FusionConfig, fusion_config_for

    hints = typing.get_type_hints(FusionConfig)
    wrong = {bool: ["maybe", "false", 0, 1, None], int: ["12", 1.5, True, None], float: ["0.5", True, None]}
    checked = 0
    for f in dataclasses.fields(FusionConfig):
        for value in wrong.get(hints[f.name], []):
            with pytest.raises(UserInputError, match=f.name):
                fusion_config_for("sd-dino", {}, **{f.name: value})
            checked += 1
    assert checked > 30
    for name in ("freeu_b1", "freeu_b2", "freeu_s1", "freeu_s2"):
        for value in (-0.1, float("nan"), float("inf")):
            with pytest.raises(UserInputError, match=name):
                fusion_config_for("paper", {}, **{name: value})
    assert fusion_config_for("paper", {}, freeu=False, freeu_b1=1).freeu_b1 == 1
    for value in (5, None, [1, 2], {"a": 1}):
        with pytest.raises(UserInputError, match="sd_layers"):
            fusion_config_for("paper", {}, sd_layers=value)
