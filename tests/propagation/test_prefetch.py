"""Reading a run's images: batches come back complete, in order, decoded as one at a time would."""

from __future__ import annotations

import numpy as np

from labeler.propagation.images import ImageTask, decode, prefetched
from labeler.store.testing import write_image


def test_prefetched_batches_equal_decoding_one_image_at_a_time(tmp_path):
    kinds = ["rgb", "gray", "exif6", "truncated", "rgba", "text", "cmyk", "rgb"]
    tasks = []
    for i, kind in enumerate(kinds):
        suffix = ".png" if kind in ("gray", "rgba") else ".jpg"
        path = write_image(tmp_path / f"{i}{suffix}", kind, (40 + i, 30), seed=i)
        w, h = (30, 40 + i) if kind == "exif6" else (40 + i, 30)
        tasks.append(ImageTask(i, path.name, path, w, h))
    tasks.append(ImageTask(99, "gone.jpg", tmp_path / "gone.jpg", 10, 10))
    batches = [tasks[0:3], tasks[3:7], tasks[7:]]
    got = [d for batch in prefetched(batches) for d in batch]
    want = [decode(t) for t in tasks]
    assert [d.task for d in got] == tasks
    for g, w in zip(got, want, strict=True):
        assert g.error == w.error
        assert (g.array is None) == (w.array is None)
        if g.array is not None:
            assert np.array_equal(g.array, w.array)
    assert sum(d.array is None for d in got) == 3  # truncated, text, missing
