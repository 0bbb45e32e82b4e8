"""DINOv2 loading through transformers' from_pretrained (tiny random model built locally) and the
token features the fusion method uses: block output, class token dropped, truncation."""

from __future__ import annotations

import shutil

import pytest
import torch

from labeler.correspondence import dinov2
from labeler.correspondence.cards import dino_cards, find_dino_card
from labeler.errors import ModelLoadError


def test_cards_name_the_authors_model_and_the_sizes():
    cards = dino_cards()
    assert cards["dinov2-base"].hub_id == "facebook/dinov2-base" and cards["dinov2-base"].layer == 11
    assert {k: c.layer for k, c in cards.items() if k != "tiny-random"} == {
        "dinov2-small": 11, "dinov2-base": 11, "dinov2-large": 23, "dinov2-giant": 39}
    assert find_dino_card("facebook/dinov2-large").key == "dinov2-large"


def test_tiny_random_loads_from_a_saved_folder_like_a_real_checkpoint(tmp_path):
    tiny = dinov2.load_dinov2("tiny-random")
    assert tiny.layer == 1 and tiny.patch_size == 14 and tiny.skip_tokens == 1
    folder = tmp_path / "my dinov2"
    shutil.copytree(dinov2.tiny_dinov2_dir(), folder)
    again = dinov2.load_dinov2(str(folder), layer=2)
    assert again.source == str(folder.resolve()) and again.layer == 2
    for a, b in zip(tiny.model.state_dict().values(), again.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_tokens_are_the_blocks_output_without_the_class_token():
    tiny = dinov2.load_dinov2("tiny-random")
    x = torch.randn(2, 3, 56, 70)
    maps = dinov2.token_maps(tiny, x)
    assert maps.shape == (2, 32, 4, 5)
    with torch.no_grad():
        full = tiny.model(pixel_values=x, output_hidden_states=True).hidden_states[tiny.layer + 1]
    torch.testing.assert_close(maps, full[:, 1:].reshape(2, 4, 5, 32).permute(0, 3, 1, 2), rtol=1e-5, atol=1e-5)


def test_missing_or_wrong_models_get_one_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelLoadError) as err:
        dinov2.load_dinov2("dinov2-base")
    text = str(err.value)
    assert "not in the local Hugging Face cache" in text and "HF_HUB_OFFLINE" in text
    assert "hf download facebook/dinov2-base --local-dir ./dinov2-base" in text and "--setting dino=" in text
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="no config.json"):
        dinov2.load_dinov2(str(tmp_path / "empty"))
    with pytest.raises(ModelLoadError, match="blocks 0..2; layer 5"):
        dinov2.load_dinov2("tiny-random", layer=5)
