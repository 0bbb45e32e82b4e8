"""`labeler propagate --help`: every method with its published accuracy and measured cost, and
the default is the most accurate method whose weights are in the (test-made) Hugging Face cache."""

from __future__ import annotations

import pytest

from labeler.correspondence.registry import METHODS

SD = ["unet/config.json", "unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors",
      "text_encoder/model.safetensors"]


@pytest.fixture
def hub(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))

    def put(repo_id, files):
        snap = tmp_path / "hub" / f"models--{repo_id.replace('/', '--')}" / "snapshots" / "0123abcd"
        for f in files:
            (snap / f).parent.mkdir(parents=True, exist_ok=True)
            (snap / f).write_bytes(b"x")

    return put


def test_help_without_weights_defaults_to_dift(cli, hub):
    r = cli("propagate", "--help")
    assert r.code == 0 and "default here: dift" in r.out and "weights not downloaded" in r.out
    flat = " ".join(r.out.split())
    assert "the fallback: no method's weights are on this machine" in flat and "most accurate method whose" not in flat


def test_propagate_help_shows_the_methods_and_the_default(cli, hub):
    hub("stable-diffusion-v1-5/stable-diffusion-v1-5", SD)
    hub("facebook/dinov2-base", ["config.json", "model.safetensors"])
    r = cli("propagate", "--help")
    assert r.code == 0
    assert "default here: fusion, the most accurate method whose weights are on this machine" in " ".join(r.out.split())
    for method in METHODS:
        assert f"  {method} " in r.out
    assert "PCK@0.1" in r.out and "s/image" in r.out
