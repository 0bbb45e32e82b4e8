"""A tiny random-weight Stable Diffusion, built deterministically from configs the project ships.

The weights are written with ``save_pretrained`` (safetensors) into a folder that is then loaded
through exactly the same ``from_pretrained`` code path as a real checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from labeler.paths import cache_dir, models_dir

TINY_SOURCE = "tiny-sd"


def _bytes_to_unicode() -> dict[int, str]:
    # CLIP's byte-level BPE alphabet: printable bytes map to themselves, the rest above U+0100.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def write_tiny_tokenizer(dest: Path) -> None:
    """A CLIP tokenizer with only the 256 byte symbols (no merges): 514 tokens, no download."""
    dest.mkdir(parents=True, exist_ok=True)
    symbols = [_bytes_to_unicode()[b] for b in range(256)]
    vocab: dict[str, int] = {}
    for s in symbols:
        vocab[s] = len(vocab)
    for s in symbols:
        vocab[s + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (dest / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (dest / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    (dest / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "CLIPTokenizer",
                "model_max_length": 77,
                "bos_token": "<|startoftext|>",
                "eos_token": "<|endoftext|>",
                "pad_token": "<|endoftext|>",
                "unk_token": "<|endoftext|>",
            }
        ),
        encoding="utf-8",
    )


def _source_dir() -> Path:
    return models_dir() / TINY_SOURCE


def _fingerprint(seed: int) -> str:
    """Changes whenever a shipped config or the seed changes, so the cache rebuilds."""
    h = hashlib.sha256(f"seed={seed}".encode())
    for path in sorted(_source_dir().rglob("*.json")):
        h.update(path.relative_to(_source_dir()).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def build_random_sd(source: Path, dest: Path, seed: int = 0) -> Path:
    """Instantiate every component from the configs in ``source`` with seeded init; save to ``dest``.

    Used for the tiny test model (``models/tiny-sd``) and for real-size random models
    (``models/real-size/*``) that benchmarks time with the real FLOPs.
    """
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    src = Path(source)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)

    def config(part: str, name: str = "config.json") -> dict:
        data = json.loads((src / part / name).read_text(encoding="utf-8"))
        return {k: v for k, v in data.items() if not k.startswith("_")}

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**config("unet"))
        torch.manual_seed(seed + 1)
        vae = AutoencoderKL(**config("vae"))
        torch.manual_seed(seed + 2)
        text_cfg = config("text_encoder")
        text_cfg.pop("architectures", None)
        text_cfg.pop("model_type", None)
        text_encoder = CLIPTextModel(CLIPTextConfig(**text_cfg))

    unet.save_pretrained(dest / "unet", safe_serialization=True)
    vae.save_pretrained(dest / "vae", safe_serialization=True)
    text_encoder.save_pretrained(dest / "text_encoder", safe_serialization=True)
    DDIMScheduler(**config("scheduler", "scheduler_config.json")).save_pretrained(dest / "scheduler")
    write_tiny_tokenizer(dest / "tokenizer")
    shutil.copy(src / "model_index.json", dest / "model_index.json")
    return dest


def build_tiny_sd(dest: Path, seed: int = 0) -> Path:
    """The tiny test model from ``models/tiny-sd``."""
    return build_random_sd(_source_dir(), dest, seed)


def tiny_model_dir(seed: int = 0) -> Path:
    """The cached tiny model folder, built on first use (atomically, safe across processes)."""
    root = cache_dir() / "models"
    final = root / f"tiny-random-{_fingerprint(seed)}"
    if (final / "model_index.json").is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tiny-build-", dir=root))
    try:
        build_tiny_sd(tmp, seed=seed)
        try:
            os.replace(tmp, final)
        except OSError:
            # Another process finished first; its copy is identical.
            if not (final / "model_index.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
