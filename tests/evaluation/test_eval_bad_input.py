"""Every way a downloaded benchmark can be wrong ends in one ``error: ...`` line and exit status 2,
before any engine is built (so a long GPU run never dies at the end over a typo)."""

from __future__ import annotations

import json
import tarfile

import pytest
import real_layouts as rl

from labeler.cli import main


@pytest.fixture
def no_engine(monkeypatch):
    """Any attempt to build an engine fails the test: these errors must come first."""
    from labeler.correspondence import registry

    def refuse(*a, **kw):
        raise AssertionError("the engine was built before the input was checked")

    monkeypatch.setattr(registry, "create_matcher", refuse)


def _error(capsys, *argv) -> str:
    code = main(["eval", "--method", "classical", "--quiet", *map(str, argv)])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def spair(tmp_path, photos):
    return rl.build_spair(tmp_path / "data" / "SPair-71k", photos)


@pytest.fixture
def willow(tmp_path, photos):
    return rl.build_pf_willow(tmp_path / "data" / "PF-WILLOW", photos)


@pytest.fixture
def cub(tmp_path, photos):
    return rl.build_cub(tmp_path / "data" / "CUB_200_2011", photos)


@pytest.mark.parametrize("name", ["spair", "pf-willow", "cub"])
def test_wrong_root(name, spair, willow, cub, tmp_path, capsys, no_engine):
    real = {"spair": spair, "pf-willow": willow, "cub": cub}[name]
    typo = real.parent / (real.name[:-2])
    assert "does not exist" in _error(capsys, "--dataset", name, "--root", typo)
    (tmp_path / "empty").mkdir()
    assert "empty" in _error(capsys, "--dataset", name, "--root", tmp_path / "empty")
    archive = tmp_path / f"{real.name}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(real / "Layout" if name == "spair" else real / ("test_pairs.csv" if name == "pf-willow" else "images.txt"))
    message = _error(capsys, "--dataset", name, "--root", archive)
    assert "extract" in message and "is a file" in message


@pytest.mark.parametrize("argv", [
    ["--plot", "{tmp}/out.txtx"],
    ["--plot", "{tmp}/missing_dir_is_fine/but.nope"],
    ["--json", "{tmp}"],
    ["--plot", "{tmp}"],
])
def test_unusable_outputs_are_refused_before_running(argv, spair, tmp_path, capsys, no_engine):
    argv = [a.format(tmp=tmp_path) for a in argv]
    message = _error(capsys, "--dataset", "spair", "--root", spair, *argv)
    assert argv[1] in message


def test_report_path_under_a_file_is_refused_before_running(spair, tmp_path, capsys, no_engine):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert "cannot write" in _error(capsys, "--dataset", "spair", "--root", spair, "--json", blocker / "r.json")


def test_spair_missing_and_broken_annotations(spair, capsys, no_engine):
    pair = next((spair / "PairAnnotation" / "test").glob("000005-*.json"))
    original = pair.read_text()
    pair.unlink()
    assert pair.name in _error(capsys, "--dataset", "spair", "--root", spair)
    for broken in ("{not json", json.dumps([1, 2]), "\xff\xfe"):
        pair.write_text(broken, encoding="latin-1")
        assert pair.name in _error(capsys, "--dataset", "spair", "--root", spair)
    for field, value in (("pair_id", "abc"), ("src_kps", [[float("nan"), 3]]), ("trg_kps", [[1]]),
                         ("src_imsize", "big"), ("trg_bndbox", [1, 2, 3]), ("kps_ids", 7)):
        data = json.loads(original)
        data[field] = value
        pair.write_text(json.dumps(data))
        message = _error(capsys, "--dataset", "spair", "--root", spair)
        assert pair.name in message, (field, message)


def test_spair_missing_image_is_named_before_running(spair, capsys, no_engine):
    (spair / "JPEGImages" / "cat" / "2009_000003.jpg").unlink()
    message = _error(capsys, "--dataset", "spair", "--root", spair)
    assert "2009_000003.jpg" in message and "1 image" in message


def test_pf_willow_broken_lists(willow, capsys, no_engine):
    listing = willow / "test_pairs.csv"
    lines = listing.read_text().splitlines()
    listing.write_text("\n".join(lines[:2] + [lines[2][:40]]) + "\n")
    assert "row 3" in _error(capsys, "--dataset", "pf-willow", "--root", willow)
    listing.write_text("\n".join(lines[:2] + [lines[2].replace("4", "x", 3)]) + "\n")
    assert "row 3" in _error(capsys, "--dataset", "pf-willow", "--root", willow)
    listing.write_bytes(b"\xff\xfe\x00\x01" * 50)
    assert "test_pairs.csv" in _error(capsys, "--dataset", "pf-willow", "--root", willow)
    listing.write_text(lines[0] + "\n")
    assert "no pairs" in _error(capsys, "--dataset", "pf-willow", "--root", willow)
    listing.write_text("\n".join(lines) + "\n")
    (willow / "duck(S)" / "Ducks_002b.png").unlink()
    assert "Ducks_002b.png" in _error(capsys, "--dataset", "pf-willow", "--root", willow)


def test_cub_broken_files(cub, capsys, no_engine):
    locs = cub / "parts" / "part_locs.txt"
    original = locs.read_text()
    first = original.splitlines()[0].split()  # "1 1 x y 1": image 1, part 1, visible
    assert first[4] == "1"
    locs.write_text(original.replace(" ".join(first), " ".join(first[:2] + ["abc"] + first[3:]), 1))
    assert "part_locs.txt" in _error(capsys, "--dataset", "cub", "--root", cub)
    locs.unlink()
    assert "part_locs.txt" in _error(capsys, "--dataset", "cub", "--root", cub)
    locs.write_text(original)
    (cub / "train_test_split.txt").write_bytes(b"\xff\xfe garbage")
    assert "train_test_split.txt" in _error(capsys, "--dataset", "cub", "--root", cub)
    (cub / "train_test_split.txt").write_text("".join(f"{i} 0\n" for i in range(1, 8)))
    missing = next((cub / "images").glob("001.*/*_0003_*.jpg"))
    missing.unlink()
    assert missing.name in _error(capsys, "--dataset", "cub", "--root", cub)


def test_unreadable_image_found_while_running_is_listed_with_status_1(spair, tmp_path, capsys):
    """A file that exists but cannot be decoded fails its pairs only: the rest is scored."""
    (spair / "JPEGImages" / "cat" / "2009_000003.jpg").write_bytes(b"not a jpeg")
    report = tmp_path / "r.json"
    code = main(["eval", "--dataset", "spair", "--root", str(spair), "--method", "classical", "--quiet",
                 "--json", str(report)])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    assert "2009_000003.jpg" in captured.err and "Traceback" not in captured.err
    data = json.loads(report.read_text())
    assert data["pairs"] == 2 and [f["pair_id"] for f in data["failed_pairs"]] == [
        "000004-2008_000001-2009_000003:cat"]
    assert "2009_000003.jpg" in data["failed_pairs"][0]["error"]


def test_spair_image_size_contradicting_its_record_is_named_before_running(spair, capsys, no_engine):
    pair = next((spair / "PairAnnotation" / "test").glob("000004-*.json"))
    data = json.loads(pair.read_text())
    data["trg_imsize"] = [data["trg_imsize"][1], data["trg_imsize"][0], 3]  # W and H swapped
    pair.write_text(json.dumps(data))
    message = _error(capsys, "--dataset", "spair", "--root", spair)
    assert pair.name in message and "2009_000003.jpg" in message and "361x240" in message


def test_spair_keypoints_far_outside_the_image_are_dropped_with_a_note(spair):
    from labeler.evaluation.datasets import load_dataset

    pair = next((spair / "PairAnnotation" / "test").glob("000005-*.json"))
    data = json.loads(pair.read_text())
    data["trg_kps"][0] = [1e9, 5]
    pair.write_text(json.dumps(data))
    dataset = load_dataset("spair", spair, "test")
    found = next(p for p in dataset.pairs if p.pair_id == pair.stem)
    assert len(found.names) == len(data["kps_ids"]) - 1
    assert (found.trg_xy < 1e6).all()
    assert any("outside" in n and pair.stem in n for n in dataset.notes), dataset.notes


def test_pf_willow_rows_without_a_finite_keypoint_are_noted(willow):
    from labeler.evaluation.datasets import load_dataset

    listing = willow / "test_pairs.csv"
    lines = listing.read_text().splitlines()
    cells = lines[2].split(",")
    lines[2] = ",".join(cells[:2] + ["NaN"] * (len(cells) - 2))
    listing.write_text("\n".join(lines) + "\n")
    dataset = load_dataset("pf-willow", willow, "test")
    assert len(dataset.pairs) == len(lines) - 1 and dataset.pairs[1].num_points == 0  # an empty pair: not scored
    assert any("NaN" in n and "row 3 (no keypoint left" in n for n in dataset.notes), dataset.notes


def test_deeply_nested_spair_json_is_one_error_line(spair, capsys, no_engine):
    pair = next((spair / "PairAnnotation" / "test").glob("000005-*.json"))
    pair.write_text("[" * 200000 + "]" * 200000)
    assert pair.name in _error(capsys, "--dataset", "spair", "--root", spair)
    pair.write_text('{"pair_id": 1' + "0" * 5000 + "}")
    assert pair.name in _error(capsys, "--dataset", "spair", "--root", spair)
