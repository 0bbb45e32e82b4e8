"""Loading Stable Diffusion components through diffusers' ``from_pretrained``.

``model`` may be a model-card key (``sd-2-1``), a hub id, a local diffusers folder, a single
``.safetensors`` checkpoint file (web-UI style) or ``tiny-random``. Weights load as safetensors
only. Every failure becomes a :class:`ModelLoadError` that says how to get the checkpoint.

A UNet state dict can replace the model's UNet (CleanDIFT's fine-tuned UNets): from the hub when
the card names one (``unet_file``, ``unet_repos``), or from a local ``unet_file``. The UNet is
then built from the base model's ``unet/config.json`` without its weights (on the meta device)
and takes the file's tensors, so the base UNet's weights are never downloaded.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from labeler.correspondence.cards import ModelCard, find_card
from labeler.correspondence.tiny import tiny_model_dir
from labeler.errors import ModelLoadError

log = logging.getLogger(__name__)

ALL_PARTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")


@dataclass
class SDComponents:
    """The pieces of an SD pipeline an engine needs; absent parts are None."""

    model_id: str  # what the user asked for, as given
    source: str  # the hub id or folder the weights actually came from
    family: str
    card: ModelCard | None
    unet: Any = None
    vae: Any = None
    text_encoder: Any = None
    tokenizer: Any = None
    scheduler: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to(self, device: torch.device, dtype: torch.dtype | None = None) -> None:
        for part in (self.unet, self.vae, self.text_encoder):
            if part is not None:
                if dtype is None or part.dtype == dtype:
                    part.to(device=device)
                else:
                    part.to(device=device, dtype=dtype)


def _how_to_get(card: ModelCard | None, model: str) -> str:
    ids = card.candidates if card else (model,)
    example = ids[-1] if ids else model
    return (
        "To use it without network access, download it once on a machine that has it, e.g.\n"
        f"    hf download {example} --local-dir ./{example.split('/')[-1]}\n"
        "(older huggingface_hub: huggingface-cli download ...), copy the folder here and choose it "
        "as the model (--model PATH/TO/FOLDER; in the app, Folder… in the propagate dialog). A single "
        ".safetensors checkpoint file also works. For tests and timing without any download use the "
        "model tiny-random."
    )


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _hub_offline_reason(timeout: float = 3.0) -> str | None:
    """Why the hub cannot be reached (None if it can), found out in seconds.

    Without this, huggingface_hub retries a dead network for about a minute per model before
    failing with a message about a missing config.json.
    """
    import os
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        return "HF_HUB_OFFLINE is set"
    try:
        from huggingface_hub import constants

        endpoint = constants.ENDPOINT
    except Exception:  # noqa: BLE001
        endpoint = "https://huggingface.co"
    url = urlparse(endpoint)
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"cannot reach {host} ({exc.strerror or exc})"


def _load_folder_parts(
    location: str,
    parts: Iterable[str],
    dtype: torch.dtype,
    revision: str | None,
    *,
    local_files_only: bool = False,
    unet_weights: Path | None = None,
) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if revision:
        kw["revision"] = revision
    if local_files_only:
        kw["local_files_only"] = True
    out: dict[str, Any] = {}
    local = local_files_only or Path(location).is_dir()
    with _no_loading_bars() if local else contextlib.nullcontext(), warnings.catch_warnings():
        # diffusers passes huggingface_hub an argument the hub has deprecated; the user can do nothing about it.
        warnings.filterwarnings("ignore", message=".*local_dir_use_symlinks.*", category=UserWarning)
        for part in parts:
            if part == "unet" and unet_weights is not None:
                out[part] = _unet_with_weights(location, unet_weights, dtype, kw)
            else:
                out[part] = _load_part(part, location, dtype, kw)
    return out


@contextlib.contextmanager
def _no_loading_bars() -> Iterator[None]:
    """transformers draws a "Loading weights" bar per model; from a local folder it is only noise
    (the front ends show their own progress). Download bars are left alone: nothing is
    downloaded here. The previous settings are restored."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
    from transformers.utils import logging as hf_logging

    was_on, hub_off = hf_logging.is_progress_bar_enabled(), are_progress_bars_disabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()
        if hub_off:
            disable_progress_bars()
        else:
            enable_progress_bars()


def _load_part(part: str, location: str, dtype: torch.dtype, kw: dict[str, Any]) -> Any:
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    if part == "unet":
        return UNet2DConditionModel.from_pretrained(
            location, subfolder="unet", torch_dtype=dtype, use_safetensors=True, **kw
        )
    if part == "vae":
        return AutoencoderKL.from_pretrained(
            location, subfolder="vae", torch_dtype=dtype, use_safetensors=True, **kw
        )
    if part == "text_encoder":
        return CLIPTextModel.from_pretrained(
            location, subfolder="text_encoder", dtype=dtype, use_safetensors=True, **kw
        )
    if part == "tokenizer":
        return CLIPTokenizer.from_pretrained(location, subfolder="tokenizer", **kw)
    if part == "scheduler":
        return DDIMScheduler.from_pretrained(location, subfolder="scheduler", **kw)
    raise ValueError(f"unknown SD part {part!r}")


def _load_single_file(path: Path, parts: Iterable[str], dtype: torch.dtype) -> dict[str, Any]:
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_single_file(str(path), torch_dtype=dtype, use_safetensors=True)
    out = {}
    for part in parts:
        if part == "scheduler":
            out[part] = DDIMScheduler.from_config(pipe.scheduler.config)
        else:
            out[part] = getattr(pipe, part)
    return out


def _family_of(unet: Any, card: ModelCard | None) -> str:
    if card is not None:
        return card.family
    if unet is None:
        return "unknown"
    return "sd2" if getattr(unet.config, "cross_attention_dim", 768) == 1024 else "sd1"


def load_sd(
    model: str,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    parts: Iterable[str] = ALL_PARTS,
    unet_file: str | Path | None = None,
) -> SDComponents:
    """Load ``parts`` of the SD model ``model`` onto ``device``; raise ModelLoadError if impossible.

    ``unet_file``: a local UNet state dict (.safetensors) replacing the model's UNet; without it a
    card's own ``unet_file`` (CleanDIFT) is found in the hub cache or downloaded.
    """
    parts = tuple(parts)
    device = torch.device(device)
    card = find_card(model)
    if "unet" not in parts or not (unet_file or (card is not None and card.unet_file)):
        return _load_base(model, parts, device, dtype, card, None)
    if unet_file:
        weights = _local_unet_file(Path(unet_file).expanduser())
        label = str(weights.resolve())
    else:
        assert card is not None
        weights, repo = _hub_unet_file(card)
        label = f"{repo}/{card.unet_file}"
    try:
        comps = _load_base(model, parts, device, dtype, card, weights)
    except ModelLoadError as exc:
        if card is not None and card.unet_file and not unet_file:
            raise ModelLoadError(f"{exc}\n{_two_downloads(card)}") from exc
        raise
    comps.extra["unet_file"] = label
    return comps


def _two_downloads(card: ModelCard) -> str:
    base, folder = card.candidates[0], card.candidates[0].split("/")[-1]
    others = f" (or {', '.join(card.candidates[1:])})" if len(card.candidates) > 1 else ""
    mirrors = f" (mirror {', '.join(card.unet_repos[1:])})" if len(card.unet_repos) > 1 else ""
    return (
        f"{card.key} needs two downloads: the base model {base}{others} for the VAE, text encoder, "
        f"tokenizer, scheduler and UNet configuration, and the UNet weights {card.unet_file} from "
        f"{card.unet_repos[0]}{mirrors}. Without network access, download both once on a machine that has it:\n"
        f"    hf download {base} --local-dir ./{folder} --exclude 'unet/*.safetensors' '*.ckpt'\n"
        f"    hf download {card.unet_repos[0]} {card.unet_file} --local-dir .\n"
        f"then use them here with --model ./{folder} --unet ./{card.unet_file}"
    )


def _local_unet_file(path: Path) -> Path:
    if path.suffix != ".safetensors":
        raise ModelLoadError(
            f"{path}: the UNet file must be a .safetensors state dict (pickled files can run arbitrary code)"
        )
    if not path.is_file():
        raise ModelLoadError(f"UNet file {path} does not exist")
    return path


def _hub_file(repo: str, filename: str, *, local_files_only: bool) -> Path:
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(repo, filename, local_files_only=local_files_only))


def _hub_unet_file(card: ModelCard) -> tuple[Path, str]:
    """The card's UNet file and the repository it came from: the local hub cache first, then the network."""
    for repo in card.unet_repos:
        try:
            return _hub_file(repo, card.unet_file, local_files_only=True), repo
        except Exception:  # noqa: BLE001 - not cached; try the next
            log.debug("%s/%s is not cached", repo, card.unet_file, exc_info=True)
    offline = _hub_offline_reason()
    if offline is not None:
        raise ModelLoadError(
            f"could not load model {card.key!r}: its UNet file {card.unet_file} is not in the local Hugging "
            f"Face cache ({', '.join(card.unet_repos)}) and the hub cannot be reached: {offline}.\n"
            + _two_downloads(card)
        )
    failures = []
    for repo in card.unet_repos:
        try:
            return _hub_file(repo, card.unet_file, local_files_only=False), repo
        except Exception as exc:  # noqa: BLE001 - collected into one message
            failures.append(f"  {repo}: {_short(exc)}")
    raise ModelLoadError(
        f"could not download the UNet file {card.unet_file} of {card.key!r}. Tried:\n" + "\n".join(failures)
        + "\n" + _two_downloads(card)
    )


def _unet_with_weights(location: str, weights: Path, dtype: torch.dtype, kw: dict[str, Any]) -> Any:
    """The base model's UNet architecture (its config only) with the tensors of ``weights``."""
    from diffusers import UNet2DConditionModel
    from safetensors.torch import load_file

    config = UNet2DConditionModel.load_config(location, subfolder="unet", **kw)
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(config)
    try:
        state = load_file(str(weights))
    except Exception as exc:  # noqa: BLE001 - a corrupt or foreign file
        raise ModelLoadError(f"cannot read the UNet file {weights} ({_short(exc)})") from exc
    try:
        unet.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise ModelLoadError(
            f"the UNet file {weights} does not fit the UNet of {location} ({_short(exc)}); "
            "use the base model it was trained from (CleanDIFT: SD 2.1 for the sd21 file, SD 1.5 for sd15)"
        ) from exc
    return unet.to(dtype)


def _load_base(
    model: str,
    parts: tuple[str, ...],
    device: torch.device,
    dtype: torch.dtype,
    card: ModelCard | None,
    unet_weights: Path | None,
) -> SDComponents:
    path = Path(model).expanduser()
    attempts: list[tuple[str, str | None]]
    if card is not None and card.key == "tiny-random":
        attempts = [(str(tiny_model_dir(card.seed)), None)]
    elif path.is_dir():
        missing = [p for p in parts if not (path / p).is_dir()]
        if missing:
            raise ModelLoadError(
                f"{path} is not a diffusers model folder: it lacks {', '.join(missing)}/. "
                "Choose the folder that holds unet/, vae/, text_encoder/, tokenizer/ "
                "and scheduler/ (what `hf download` or save_pretrained writes)."
            )
        attempts = [(str(path), None)]
    elif path.suffix in {".safetensors", ".ckpt", ".pt", ".bin"}:
        if path.suffix != ".safetensors":
            raise ModelLoadError(
                f"{path}: only .safetensors checkpoints are loaded (pickled {path.suffix} files can "
                "run arbitrary code). Convert it to safetensors first."
            )
        if not path.is_file():
            raise ModelLoadError(f"checkpoint file {path} does not exist")
        try:
            loaded = _load_single_file(path, parts, dtype)
        except Exception as exc:  # noqa: BLE001 - any failure becomes a user message
            raise ModelLoadError(
                f"could not load the single-file checkpoint {path} ({_short(exc)}). diffusers needs "
                "the matching model configuration for single files; without network access, "
                "download the diffusers folder of the base model instead and choose that folder."
            ) from exc
        if unet_weights is not None:
            loaded["unet"] = _replace_weights(loaded["unet"], unet_weights, dtype)
        comps = SDComponents(model, str(path), _family_of(loaded.get("unet"), card), card, **loaded)
        comps.to(device, dtype)
        return comps
    elif card is not None:
        attempts = [(hub_id, card.revision or None) for hub_id in card.candidates]
        return _load_from_hub(model, attempts, parts, device, dtype, card, unet_weights)
    elif "/" in model and not model.startswith((".", "/", "~")):
        return _load_from_hub(model, [(model, None)], parts, device, dtype, card, unet_weights)
    else:
        raise ModelLoadError(
            f"the model {model!r} is neither a folder, a .safetensors file, a hub id (owner/name) nor a "
            "known model card. Known cards: " + ", ".join(sorted(_known_keys()))
        )

    return _try_locations(model, attempts, parts, device, dtype, card, local_files_only=False, unet_weights=unet_weights)  # type: ignore[return-value]


def _replace_weights(unet: Any, weights: Path, dtype: torch.dtype) -> Any:
    from safetensors.torch import load_file

    try:
        unet.load_state_dict(load_file(str(weights)), strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(f"the UNet file {weights} does not fit this checkpoint's UNet ({_short(exc)})") from exc
    return unet.to(dtype)


def _try_locations(
    model: str,
    attempts: list[tuple[str, str | None]],
    parts: tuple[str, ...],
    device: torch.device,
    dtype: torch.dtype,
    card: ModelCard | None,
    *,
    local_files_only: bool,
    unet_weights: Path | None = None,
) -> SDComponents | None:
    """The first location that loads. Online, none loading is a ModelLoadError listing each
    failure; cache-only (``local_files_only``), it is None."""
    failures: list[str] = []
    for location, revision in attempts:
        extra = {"unet_weights": unet_weights} if unet_weights is not None else {}
        try:
            loaded = _load_folder_parts(location, parts, dtype, revision, local_files_only=local_files_only, **extra)
        except ModelLoadError:
            raise  # the UNet file does not fit: no other location would help
        except Exception as exc:  # noqa: BLE001 - collected into one clear message
            log.debug("loading %s failed", location, exc_info=True)
            if not local_files_only:
                failures.append(f"  {location}: {_short(exc)}")
            continue
        if location != attempts[0][0]:
            log.warning("loaded %s from mirror %s", model, location)
        comps = SDComponents(model, location, _family_of(loaded.get("unet"), card), card, **loaded)
        comps.to(device, dtype)
        for part in (comps.unet, comps.vae, comps.text_encoder):
            if part is not None:
                part.eval().requires_grad_(False)
        return comps
    if not local_files_only:
        raise ModelLoadError(
            f"could not load model {model!r}. Tried:\n" + "\n".join(failures) + "\n" + _how_to_get(card, model)
        )
    return None


def _load_from_hub(
    model: str,
    attempts: list[tuple[str, str | None]],
    parts: tuple[str, ...],
    device: torch.device,
    dtype: torch.dtype,
    card: ModelCard | None,
    unet_weights: Path | None = None,
) -> SDComponents:
    """Hub ids: the local Hugging Face cache first (works offline), then the network if reachable."""
    comps = _try_locations(model, attempts, parts, device, dtype, card, local_files_only=True, unet_weights=unet_weights)
    if comps is not None:
        return comps
    offline = _hub_offline_reason()
    if offline is not None:
        ids = ", ".join(location for location, _ in attempts)
        raise ModelLoadError(
            f"could not load model {model!r}: it is not in the local Hugging Face cache ({ids}) and the "
            f"hub cannot be reached: {offline}.\n" + _how_to_get(card, model)
        )
    return _try_locations(model, attempts, parts, device, dtype, card, local_files_only=False, unet_weights=unet_weights)  # type: ignore[return-value]


def _known_keys() -> list[str]:
    from labeler.correspondence.cards import all_cards

    return list(all_cards())
