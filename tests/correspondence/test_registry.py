"""Front ends create engines by method name."""

from __future__ import annotations

import pytest

from labeler.correspondence import registry
from labeler.correspondence.base import Matcher
from labeler.errors import UserInputError


def test_methods_and_defaults():
    assert set(registry.METHODS) == {"dift", "attention", "classical", "fusion"}
    assert registry.default_model("dift") == "sd-2-1"
    assert registry.default_model("classical") is None


def test_unknown_method_and_preset_are_user_errors():
    with pytest.raises(UserInputError, match="unknown method"):
        registry.create_matcher("sift3d")
    with pytest.raises(UserInputError, match="unknown preset"):
        registry.create_matcher("classical", preset="turbo")


def test_create_classical_with_overrides():
    m = registry.create_matcher("classical", step=6)
    assert isinstance(m, Matcher) and m.method == "classical"
    assert m.config.step == 6


@pytest.mark.parametrize("method", ["dift", "classical"])
def test_every_engine_module_has_the_contract(method):
    module = registry.engine_module(method)
    assert hasattr(module, "DEFAULT_MODEL") and callable(module.build)


def test_create_dift_on_the_tiny_model():
    m = registry.create_matcher("dift", model="tiny-random", device="cpu", preset="paper", resolution=128)
    assert m.method == "dift" and m.config.ensemble == 8 and m.config.resolution == 128
