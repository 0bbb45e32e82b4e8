"""DINOv2 token features through transformers' ``Dinov2Model`` (the fusion method's second half).

``dino`` may be a card key (``dinov2-base``; ``models/dinov2/cards.toml``), a hub id, a local
folder holding ``config.json`` + ``model.safetensors`` (what ``save_pretrained`` or ``hf download``
writes) or ``tiny-random`` (built locally from ``models/dinov2/tiny``). Hub ids load from the local
Hugging Face cache first and fail fast, with the same advice as the SD models, when the hub cannot
be reached.

Features, as the authors' ``ViTExtractor.extract_descriptors(layer, facet="token")``: the output
tokens of block ``layer`` (no final layer norm), the class token (and any register tokens)
dropped, reshaped to the patch grid. The model stops after that block (:func:`truncation.run_until`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from labeler.correspondence.cards import DinoCard, dino_cards, find_dino_card
from labeler.correspondence.loading import _hub_offline_reason, _no_loading_bars, _short
from labeler.correspondence.tiny import cached_build, config_fingerprint
from labeler.correspondence.truncation import run_until
from labeler.errors import ModelLoadError
from labeler.paths import cache_dir, models_dir

#: ImageNet statistics, which DINOv2 was trained with (the authors' extractor uses them too).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TINY_KEY = "tiny-random"
DEFAULT_DINO = "dinov2-base"


def build_random_dinov2(source: Path, dest: Path, seed: int = 0) -> Path:
    """A ``Dinov2Model`` with seeded random weights from ``source/config.json``, saved to ``dest``."""
    import json

    from transformers import Dinov2Config, Dinov2Model

    cfg = json.loads((Path(source) / "config.json").read_text(encoding="utf-8"))
    cfg.pop("architectures", None)
    cfg.pop("model_type", None)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Dinov2Model(Dinov2Config(**cfg))
    with _no_loading_bars():
        model.save_pretrained(dest, safe_serialization=True)
    return Path(dest)


def random_dinov2_dir(source: Path, name: str, seed: int = 0) -> Path:
    """The cached random-weight DINOv2 built from ``source`` (tiny tests model or real-size benchmark)."""
    final = cache_dir() / "models" / f"{name}-{config_fingerprint(source, f'dinov2;seed={seed}')}"
    return cached_build(final, lambda tmp: build_random_dinov2(source, tmp, seed), marker="model.safetensors")


def tiny_dinov2_dir(seed: int = 0) -> Path:
    return random_dinov2_dir(models_dir() / "dinov2" / "tiny", "tiny-random-dinov2", seed)


@dataclass
class DinoModel:
    model: Any  # transformers Dinov2Model
    source: str  # hub id, folder, or the tiny build's folder name
    revision: str
    layer: int

    @property
    def patch_size(self) -> int:
        p = self.model.config.patch_size
        return int(p[0] if isinstance(p, (tuple, list)) else p)

    @property
    def skip_tokens(self) -> int:
        """Class token plus register tokens (checkpoints "with registers")."""
        return 1 + int(getattr(self.model.config, "num_register_tokens", 0) or 0)


def _load_location(location: str, dtype: torch.dtype, revision: str | None, local_files_only: bool) -> Any:
    from transformers import Dinov2Model

    kw: dict[str, Any] = {"dtype": dtype, "use_safetensors": True}
    if revision:
        kw["revision"] = revision
    if local_files_only:
        kw["local_files_only"] = True
    with _no_loading_bars():
        return Dinov2Model.from_pretrained(location, **kw)


def load_dinov2(dino: str, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                layer: int | None = None) -> DinoModel:
    """Load DINOv2 ``dino`` (card key, hub id, folder or tiny-random); ModelLoadError if impossible.

    ``layer``: the block whose tokens are used; default the card's (the last block of S/B/L/g as
    the authors use), or the last block for checkpoints without a card.
    """
    card = find_dino_card(dino)
    path = Path(dino).expanduser()
    if card is not None and card.key == TINY_KEY:
        location, revision, source = str(tiny_dinov2_dir()), None, f"{TINY_KEY}:{tiny_dinov2_dir().name}"
        model = _load_location(location, dtype, None, local_files_only=True)
    elif path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"{path} is not a DINOv2 model folder: it has no config.json "
                                 "(choose the folder that `hf download facebook/dinov2-base` or save_pretrained writes)")
        try:
            model = _load_location(str(path), dtype, None, local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - one clear message
            raise ModelLoadError(f"could not load the DINOv2 model in {path} ({_short(exc)})") from exc
        source, revision = str(path.resolve()), ""
    elif card is not None or ("/" in dino and not dino.startswith((".", "/", "~"))):
        hub_id = card.hub_id if card is not None else dino
        revision = card.revision if card is not None else ""
        model = _load_from_hub(dino, hub_id, revision, dtype, card)
        source = hub_id
    else:
        known = ", ".join(sorted(dino_cards()))
        raise ModelLoadError(f"the DINOv2 model {dino!r} is neither a folder, a hub id (owner/name) nor a known card "
                             f"({known})")
    n_layers = int(model.config.num_hidden_layers)
    use = layer if layer is not None else (card.layer if card is not None else n_layers - 1)
    if not 0 <= use < n_layers:
        raise ModelLoadError(f"DINOv2 {dino!r} has blocks 0..{n_layers - 1}; layer {use} does not exist")
    model.to(device=torch.device(device)).eval().requires_grad_(False)
    return DinoModel(model=model, source=source, revision=revision or "", layer=use)


def how_to_get(hub_id: str) -> str:
    """The SD models' offline advice, for a DINOv2 (chosen with ``--setting dino=...``)."""
    return (
        "To use it without network access, download it once on a machine that has it, e.g.\n"
        f"    hf download {hub_id} --local-dir ./{hub_id.split('/')[-1]}\n"
        "(older huggingface_hub: huggingface-cli download ...), copy the folder here and choose it with "
        "--setting dino=PATH/TO/FOLDER (in the app: dino=PATH/TO/FOLDER under Settings in the propagate "
        "dialog). For tests and timing without any download use the model tiny-random, which brings a "
        "tiny random DINOv2."
    )


def _load_from_hub(dino: str, hub_id: str, revision: str, dtype: torch.dtype, card: DinoCard | None) -> Any:
    """The local Hugging Face cache first (works offline), then the hub if it can be reached."""
    try:
        return _load_location(hub_id, dtype, revision or None, local_files_only=True)
    except Exception:  # noqa: BLE001 - not cached: try the network below
        pass
    offline = _hub_offline_reason()
    how = how_to_get(hub_id)
    if offline is not None:
        raise ModelLoadError(f"could not load DINOv2 model {dino!r}: it is not in the local Hugging Face cache "
                             f"({hub_id}) and the hub cannot be reached: {offline}.\n{how}")
    try:
        return _load_location(hub_id, dtype, revision or None, local_files_only=False)
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"could not load DINOv2 model {dino!r} from {hub_id} ({_short(exc)}).\n{how}") from exc


def normalise_pixels(pixels: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``(B, r, r, 3)`` uint8 -> ``(B, 3, r, r)`` ImageNet-normalised (torchvision ToTensor + Normalize)."""
    x = pixels.permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return ((x - mean) / std).to(dtype)


def token_maps(dino: DinoModel, pixels: torch.Tensor) -> torch.Tensor:
    """``(B, D, r/p, r/p)`` tokens of block ``dino.layer`` for ``(B, 3, r, r)`` normalised pixels."""
    b, _, h, w = pixels.shape
    p = dino.patch_size
    out = run_until(dino.model, f"encoder.layer.{dino.layer}", pixel_values=pixels)
    if isinstance(out, (tuple, list)):
        out = out[0]
    tokens = out[:, dino.skip_tokens:, :]
    return tokens.reshape(b, h // p, w // p, tokens.shape[-1]).permute(0, 3, 1, 2)
