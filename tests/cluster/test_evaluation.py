"""``labeler eval --ray``: pairs sharded over two workers of a real local Ray give the same PCK."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluation"))
from eval_fixtures import build_spair  # noqa: E402

from labeler.cli import main  # noqa: E402
from labeler.cluster.evaluation import shard_pairs  # noqa: E402
from labeler.evaluation.datasets import load_dataset  # noqa: E402

pytestmark = pytest.mark.slow
#: What differs between a sharded and a one-process run: time, where it ran, the notes about it.
RUN_FIELDS = ("seconds", "pairs_per_second", "notes", "device")


def test_sharded_eval_gives_exactly_the_pck_of_one_process(tmp_path, photos, ray_address, capsys):
    root = build_spair(tmp_path / "SPair-71k", photos).root
    common = ["eval", "--dataset", "spair", "--root", str(root), "--method", "classical", "--quiet",
              "--setting", "work_side=256", "--batch-size", "1"]
    assert main([*common, "--json", str(tmp_path / "one.json")]) == 0
    assert main([*common, "--json", str(tmp_path / "ray.json"), "--ray", ray_address, "--workers", "2"]) == 0
    one, ray = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("one", "ray"))
    assert "on Ray: 3 shard(s) over 2 worker(s)" in " ".join(ray["notes"])
    assert ray["pairs"] == one["pairs"] == 4 and one["per_point"]  # the same pairs, scored
    assert {k: v for k, v in ray.items() if k not in RUN_FIELDS} == {k: v for k, v in one.items() if k not in RUN_FIELDS}


def test_shards_keep_each_source_whole_and_the_order(tmp_path, photos):
    dataset = load_dataset("spair", build_spair(tmp_path / "SPair-71k", photos).root, "test")
    pairs = list(dataset.pairs)
    for n in (1, 2, 3, 8):
        shards = shard_pairs(pairs, n)
        assert [p for s in shards for p in s] == pairs
        sources = [{str(p.src_path) for p in s} for s in shards]
        assert all(not (a & b) for i, a in enumerate(sources) for b in sources[i + 1:])


def test_category_prompt_is_refused_with_ray(tmp_path, photos, capsys):
    root = build_spair(tmp_path / "SPair-71k", photos).root
    code = main(["eval", "--dataset", "spair", "--root", str(root), "--method", "dift", "--category-prompt",
                 "--ray", "local"])
    assert code == 2 and "not sharded over Ray yet" in capsys.readouterr().err


def test_a_bad_address_fails_before_the_dataset_is_read(tmp_path, capsys):
    code = main(["eval", "--dataset", "spair", "--root", str(tmp_path / "nowhere"), "--method", "classical",
                 "--ray", "127.0.0.1:9", "--workers", "2"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: no Ray cluster answers at 127.0.0.1:9") and "SPair" not in err
