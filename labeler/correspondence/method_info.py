"""What each method is worth and costs, and which one to offer by default.

Shown by ``labeler propagate --help`` and the propagate dialog so the choice is informed. Imports
nothing heavy (no torch, no numpy): the CLI builds its parser from it on every start.

* Published accuracy: SPair-71k PCK@0.1 as the authors report it (per image or per point, said
  each time); reproduce each with the ``labeler eval`` command listed in the README.
* Measured cost: seconds per image of the ``fast`` preset on this project's 2-core benchmark CPU
  with real-size random weights (``benchmarks/``; same FLOPs as the real checkpoints). GPU: not
  measured until a GPU is lent to the project.
* Default method: the most accurate one whose default weights are already on this machine (the
  local Hugging Face cache); with none, DIFT, whose load error explains how to get its weights.
  A model given with ``--model`` (folder or file) is always used as given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from labeler.correspondence.cards import all_cards, dino_cards


@dataclass(frozen=True)
class MethodInfo:
    method: str
    title: str
    published: str  # the authors' figure and protocol
    cpu_cost: str  # measured, fast preset
    gpu_cost: str
    default_model: str | None  # SD model card key (None: no weights)
    default_dino: str | None = None  # DINOv2 card key (fusion)


NOT_MEASURED_GPU = "not measured (no GPU lent yet)"

#: Most accurate first (published SPair-71k PCK@0.1).
METHOD_INFO: dict[str, MethodInfo] = {
    "fusion": MethodInfo(
        "fusion", "SD + DINOv2 fusion (Zhang et al. 2023; zero-shot GeoAware-SC 2024)",
        "SPair-71k PCK@0.1 ~64 per point (SD1.5 + DINOv2-B); 70.0 with CleanDIFT SD weights",
        "55.8 s/image (fast, 768/672 px; 4.6 TFLOP, idle floor 24 s) and 125.7 s/image (paper, 960/840 px; "
        "7.7 TFLOP, floor 41 s), measured on the shared CPU under load",
        NOT_MEASURED_GPU, "sd-1-5", "dinov2-base"),
    "dift": MethodInfo(
        "dift", "DIFT (Tang et al. 2023)",
        "SPair-71k PCK@0.1 52.9 per image (~57.7 per point); 61.4 per point with CleanDIFT SD2.1 weights",
        "25.9 s/image (fast, SD2.1 @ 768 px, CPU under load; 12.3 s idle with a CleanDIFT card, the same work); "
        "69.2 s/image paper",
        NOT_MEASURED_GPU, "sd-2-1"),
    "attention": MethodInfo(
        "attention", "Cross-attention prompt optimisation (Hedlin et al. 2023)",
        "SPair-71k PCK@0.1 45.4 per image",
        "hours per image (needs a GPU)",
        NOT_MEASURED_GPU, "sd-1-4"),
    "classical": MethodInfo(
        "classical", "Classical dense SIFT (no model)",
        "no published figure (baseline for near-duplicate frames)",
        "~0.3 s/image",
        "runs on the CPU", None),
}
ACCURACY_ORDER = tuple(METHOD_INFO)
FALLBACK_METHOD = "dift"


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache folder (HF_HUB_CACHE, HF_HOME/hub, or ~/.cache/huggingface/hub)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "huggingface" / "hub"


def cached(repo_id: str, required: tuple[str, ...]) -> bool:
    """Whether some snapshot of ``repo_id`` in the hub cache holds every file pattern in ``required``."""
    snapshots = hf_hub_cache() / f"models--{repo_id.replace('/', '--')}" / "snapshots"
    try:
        folders = [p for p in snapshots.iterdir() if p.is_dir()]
    except OSError:
        return False
    return any(all(any(f.glob(pattern)) for pattern in required) for f in folders)


SD_FILES = ("unet/config.json", "unet/*.safetensors", "vae/*.safetensors", "text_encoder/*.safetensors")
DINO_FILES = ("config.json", "*.safetensors")


def has_weights(method: str) -> bool:
    """Whether ``method``'s default weights are on this machine (no network is touched)."""
    info = METHOD_INFO[method]
    if info.default_model is None:
        return True
    card = all_cards().get(info.default_model)
    if card is None or not any(cached(i, SD_FILES) for i in card.candidates):
        return False
    if info.default_dino is not None:
        dino = dino_cards().get(info.default_dino)
        return dino is not None and any(cached(i, DINO_FILES) for i in dino.candidates)
    return True


def recommended_method() -> str:
    """The most accurate method whose weights are here; DIFT when none with weights is."""
    for method in ACCURACY_ORDER:
        if METHOD_INFO[method].default_model is not None and has_weights(method):
            return method
    return FALLBACK_METHOD


def describe(method: str) -> str:
    """One line for help texts: published accuracy, measured costs, weights present or not."""
    info = METHOD_INFO[method]
    here = "" if info.default_model is None else ("; weights found" if has_weights(method) else "; weights not downloaded")
    return f"{info.published}. CPU: {info.cpu_cost}. GPU: {info.gpu_cost}{here}"


def methods_epilog(width: int = 100) -> str:
    """The ``methods`` block of ``labeler propagate --help``: one paragraph per method, most accurate first."""
    import textwrap

    lines = ["methods (published accuracy; measured cost per image of the fast preset, 2-core CPU,"
             " real-size random weights):"]
    for method in ACCURACY_ORDER:
        body = textwrap.wrap(describe(method), width - 14)
        lines.append(f"  {method:<11} " + (body[0] if body else ""))
        lines += [" " * 14 + line for line in body[1:]]
    return "\n".join(lines) + "\n"
