"""Real-size random-weight Stable Diffusion folders (same FLOPs as the real models, no download).

Built once from the architecture configs in ``models/real-size/<name>`` with
:func:`labeler.correspondence.tiny.build_random_sd` into ``<cache>/models/real-size-<name>-<hash>``
and loaded by the engines as ``--model DIR`` through the real ``from_pretrained`` path. The
hash covers the configs and the seed, so editing a config rebuilds. The build is atomic (a
temporary folder renamed into place) so concurrent runs never see half a model.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from labeler.correspondence.tiny import build_random_sd, tiny_model_dir
from labeler.paths import cache_dir, models_dir

#: Benchmark model names -> source config folder under models/.
REAL_SIZE = {"sd-1-5": "real-size/sd-1-5", "sd-2-1": "real-size/sd-2-1"}
#: Default working resolution of each (the checkpoints' training size).
RESOLUTION = {"sd-1-5": 512, "sd-2-1": 768, "tiny-random": 256}


def _fingerprint(source: Path, seed: int) -> str:
    h = hashlib.sha256(f"seed={seed}".encode())
    for path in sorted(source.rglob("*.json")):
        h.update(path.relative_to(source).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def model_dir(name: str, seed: int = 0, root: Path | None = None) -> Path:
    """The folder of benchmark model ``name`` ("sd-1-5", "sd-2-1" or "tiny-random"), built on first use."""
    if name == "tiny-random":
        return tiny_model_dir(seed)
    try:
        source = models_dir() / REAL_SIZE[name]
    except KeyError:
        raise ValueError(f"unknown benchmark model {name!r}; choose one of tiny-random, {', '.join(REAL_SIZE)}") from None
    root = Path(root) if root is not None else cache_dir() / "models"
    final = root / f"real-size-{name}-{_fingerprint(source, seed)}"
    if (final / "model_index.json").is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-build-", dir=root))
    try:
        build_random_sd(source, tmp, seed)
        try:
            os.replace(tmp, final)
        except OSError:
            if not (final / "model_index.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
