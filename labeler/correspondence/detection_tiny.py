"""A tiny random-weight OWLv2 detector built from ``models/owlv2-tiny/config.json`` (tests only).

Written with ``save_pretrained`` and loaded back through the same ``from_pretrained`` path as a
real checkpoint (as :mod:`labeler.correspondence.tiny` does for Stable Diffusion); its tokenizer
is the 514-token byte-level CLIP tokenizer of the tiny SD model, so nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

from labeler.correspondence.tiny import cached_build, config_fingerprint, write_tiny_tokenizer
from labeler.paths import cache_dir, models_dir

SOURCE = "owlv2-tiny"


def build_tiny_detector(dest: Path, seed: int = 0) -> Path:
    import torch
    from transformers import CLIPTokenizer, Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessor, Owlv2Processor

    data = json.loads((models_dir() / SOURCE / "config.json").read_text(encoding="utf-8"))
    data = {k: v for k, v in data.items() if not k.startswith("_")}
    dest = Path(dest)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Owlv2ForObjectDetection(Owlv2Config(**data))
    model.save_pretrained(dest, safe_serialization=True)
    side = int(data["vision_config"]["image_size"])
    write_tiny_tokenizer(dest / "_tokenizer")
    tokenizer = CLIPTokenizer.from_pretrained(dest / "_tokenizer", model_max_length=int(data["text_config"]["max_position_embeddings"]))
    Owlv2Processor(image_processor=Owlv2ImageProcessor(size={"height": side, "width": side}), tokenizer=tokenizer).save_pretrained(dest)
    return dest


def tiny_detector_dir(seed: int = 0) -> Path:
    """The cached tiny detector folder, built on first use (atomically, safe across processes)."""
    fingerprint = config_fingerprint(models_dir() / SOURCE, f"seed={seed};recipe=1")
    final = cache_dir() / "models" / f"owlv2-tiny-{fingerprint}"
    return cached_build(final, lambda tmp: build_tiny_detector(tmp, seed), marker="config.json")
