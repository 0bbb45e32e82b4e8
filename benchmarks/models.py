"""Real-size random-weight Stable Diffusion folders (same FLOPs as the real models, no download).

Built once from the architecture configs in ``models/real-size/<name>`` with
:func:`labeler.correspondence.tiny.build_random_sd` into ``<cache>/models/real-size-<name>-<hash>``
and loaded by the engines as ``--model DIR`` through the real ``from_pretrained`` path. The
hash covers the configs and the seed, so editing a config rebuilds. The build is atomic (a
temporary folder renamed into place) so concurrent runs never see half a model.
"""

from __future__ import annotations

from pathlib import Path

from labeler.correspondence.tiny import (
    build_random_sd,
    cached_build,
    config_fingerprint,
    tiny_model_dir,
)
from labeler.paths import cache_dir, models_dir

#: Benchmark model names -> source config folder under models/.
REAL_SIZE = {"sd-1-5": "real-size/sd-1-5", "sd-2-1": "real-size/sd-2-1"}
#: Default working resolution of each (the checkpoints' training size).
RESOLUTION = {"sd-1-5": 512, "sd-2-1": 768, "tiny-random": 256}


def model_dir(name: str, seed: int = 0, root: Path | None = None) -> Path:
    """The folder of benchmark model ``name`` ("sd-1-5", "sd-2-1" or "tiny-random"), built on first use."""
    if name == "tiny-random":
        return tiny_model_dir(seed)
    try:
        source = models_dir() / REAL_SIZE[name]
    except KeyError:
        raise ValueError(f"unknown benchmark model {name!r}; choose one of tiny-random, {', '.join(REAL_SIZE)}") from None
    root = Path(root) if root is not None else cache_dir() / "models"
    final = root / f"real-size-{name}-{config_fingerprint(source, f'seed={seed}')}"
    return cached_build(final, lambda tmp: build_random_sd(source, tmp, seed))
