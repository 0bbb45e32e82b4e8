"""Bad SPair input gives the formats' own error naming the file, never a raw Python one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labeler.errors import FormatError
from labeler.formats.spair import read_pair

GOOD_PAIR = {
    "pair_id": 1,
    "filename": "000001-a-b:cat",
    "src_imname": "a.jpg",
    "trg_imname": "b.jpg",
    "src_imsize": [64, 48, 3],
    "trg_imsize": [64, 48, 3],
    "src_bndbox": [0, 0, 63, 47],
    "trg_bndbox": [0, 0, 63, 47],
    "category": "cat",
    "src_kps": [[1, 2], [3, 4]],
    "trg_kps": [[5, 6], [7, 8]],
    "kps_ids": ["0", "3"],
}


def _write(tmp_path: Path, **changes: object) -> Path:
    path = tmp_path / "000001-a-b:cat.json"
    path.write_text(json.dumps({**GOOD_PAIR, **changes}), encoding="utf-8")
    return path


def test_read_pair_reads_a_good_record(tmp_path):
    pair = read_pair(_write(tmp_path))
    assert (pair.pair_id, pair.kps_ids, pair.src_kps) == (1, ("0", "3"), ((1.0, 2.0), (3.0, 4.0)))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pair_id": "abc"}, "pair_id must be an integer"),
        ({"pair_id": None}, "pair_id must be an integer"),
        ({"pair_id": [1]}, "pair_id must be an integer"),
        ({"kps_ids": 7}, "kps_ids must be a list"),
        ({"kps_ids": None}, "kps_ids must be a list"),
        ({"kps_ids": "03"}, "kps_ids must be a list"),
    ],
)
def test_malformed_records_are_format_errors_naming_the_file(tmp_path, changes, message):
    path = _write(tmp_path, **changes)
    with pytest.raises(FormatError) as caught:
        read_pair(path)
    assert str(path) in str(caught.value) and message in str(caught.value)
