"""Model cards: which checkpoint, where it lives today, and its per-method layer settings.

Cards are TOML files in ``models/cards`` (Stable Diffusion) and ``models/dinov2/cards.toml``
(DINOv2, for the fusion method); they are the single place that names checkpoints.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from labeler.paths import models_dir


@dataclass(frozen=True)
class ModelCard:
    key: str
    name: str
    hub_id: str
    mirrors: tuple[str, ...]
    revision: str
    family: str  # "sd1" | "sd2"
    resolution: int
    text_dim: int
    notes: str = ""
    seed: int = 0
    #: Random weights (built for tests and timing): its predictions carry no content.
    test_only: bool = False
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: A UNet state dict (.safetensors) that replaces the base model's UNet (e.g. CleanDIFT's):
    #: the file name, the hub repositories that hold it (original first, then mirrors).
    unet_file: str = ""
    unet_repos: tuple[str, ...] = ()

    @property
    def candidates(self) -> tuple[str, ...]:
        """Hub ids to try, in order: the original, then the known mirrors."""
        return tuple(i for i in (self.hub_id, *self.mirrors) if i)

    def method_settings(self, method: str) -> dict[str, Any]:
        return dict(self.methods.get(method, {}))


def _card_from_toml(data: dict[str, Any]) -> ModelCard:
    methods = {k: v for k, v in data.items() if isinstance(v, dict)}
    return ModelCard(
        key=data["key"],
        name=data.get("name", data["key"]),
        hub_id=data.get("hub_id", ""),
        mirrors=tuple(data.get("mirrors", ())),
        revision=data.get("revision", "") or "",
        family=data["family"],
        resolution=int(data["resolution"]),
        text_dim=int(data["text_dim"]),
        notes=data.get("notes", ""),
        seed=int(data.get("seed", 0)),
        test_only=bool(data.get("test_only", False)),
        methods=methods,
        unet_file=data.get("unet_file", ""),
        unet_repos=tuple(data.get("unet_repos", ())),
    )


@lru_cache(maxsize=1)
def all_cards() -> dict[str, ModelCard]:
    cards = {}
    for path in sorted((models_dir() / "cards").glob("*.toml")):
        with path.open("rb") as fh:
            card = _card_from_toml(tomllib.load(fh))
        cards[card.key] = card
    return cards


def card_for_unet_file(path: str) -> ModelCard | None:
    """The card whose UNet file has this file name (a local copy of e.g. cleandift_sd21_unet.safetensors)."""
    from pathlib import Path

    name = Path(path).name
    return next((c for c in all_cards().values() if c.unet_file and c.unet_file == name), None)


def find_card(model: str) -> ModelCard | None:
    """The card for a card key ("sd-2-1"), a hub id or one of its mirrors; None if unknown."""
    cards = all_cards()
    if model in cards:
        return cards[model]
    for card in cards.values():
        if model in card.candidates and not card.unet_file:  # a hub id names the base model, not CleanDIFT
            return card
    return None


def is_test_model(model: str | None) -> bool:
    """True for a model whose card says it has random weights (``tiny-random``): its
    predictions must never be taken for labels without the person being told."""
    if not model:
        return False
    card = find_card(model)
    return card is not None and card.test_only


# --------------------------------------------------------------------------- DINOv2 (fusion method)


@dataclass(frozen=True)
class DinoCard:
    key: str
    name: str
    hub_id: str
    revision: str
    layer: int

    @property
    def candidates(self) -> tuple[str, ...]:
        return (self.hub_id,) if self.hub_id else ()


@lru_cache(maxsize=1)
def dino_cards() -> dict[str, DinoCard]:
    with (models_dir() / "dinov2" / "cards.toml").open("rb") as fh:
        data = tomllib.load(fh)
    cards = [DinoCard(c["key"], c.get("name", c["key"]), c.get("hub_id", ""), c.get("revision", "") or "", int(c["layer"]))
             for c in data.get("card", [])]
    return {c.key: c for c in cards}


def find_dino_card(dino: str) -> DinoCard | None:
    cards = dino_cards()
    if dino in cards:
        return cards[dino]
    return next((c for c in cards.values() if dino and dino == c.hub_id), None)
