"""DIFT's SPair evaluation prompts "a photo of a {category}": ``--category-prompt`` builds the engine
once per category with that prompt; ``--setting`` passes any other engine setting."""

from __future__ import annotations

import json

import pytest

from labeler.cli import main
from labeler.evaluation import EvalOptions, load_dataset
from labeler.evaluation.runner import prompt_category, run


@pytest.fixture
def engines(monkeypatch, spair_fixture):
    from labeler.correspondence import registry

    made = []

    def create(method, *, model=None, preset="fast", device="auto", dtype="auto", **overrides):
        made.append((method, overrides))
        return spair_fixture.oracle()

    monkeypatch.setattr(registry, "create_matcher", create)
    monkeypatch.setattr(registry, "default_model", lambda method: "card")
    return made


def test_one_engine_per_category_with_its_prompt_and_the_same_scores(spair_fixture, engines):
    ds = load_dataset("spair", spair_fixture.root, "test")
    plain = run(ds, "dift", options=EvalOptions())
    prompted = run(ds, "dift", options=EvalOptions(), category_prompt=True, ensemble=2)
    assert engines == [("dift", {}), ("dift", {"category": "cat", "ensemble": 2}),
                       ("dift", {"category": "person", "ensemble": 2})]
    assert prompted.to_json()["per_category"] == plain.to_json()["per_category"]
    assert prompted.to_json()["per_image"] == plain.to_json()["per_image"]
    assert [r.pair.pair_id for r in prompted.pair_results] == [r.pair.pair_id for r in plain.pair_results]
    assert any("a photo of a {category}" in n for n in prompted.notes)


def test_category_prompt_follows_limit_and_categories(spair_fixture, engines):
    ds = load_dataset("spair", spair_fixture.root, "test")
    r = run(ds, "dift", options=EvalOptions(limit=3, categories=("person",)), category_prompt=True)
    assert [o["category"] for _, o in engines] == ["person"] and r.overall.pairs == 2
    assert not any("--limit" in n for n in r.notes)  # the limit exceeds the 2 person pairs


@pytest.mark.parametrize(("name", "text"), [
    ("aeroplane", "aeroplane"), ("pottedplant", "pottedplant"),           # SPair: as DIFT passes them
    ("001.Black_footed_Albatross", "Black footed Albatross"),             # CUB class folders
    ("car(G)", "car"), ("winebottle(woC)", "winebottle"),                 # PF-Willow sub-classes
])
def test_prompt_category_words(name, text):
    assert prompt_category(name) == text


def test_command_line_category_prompt_and_settings(spair_fixture, engines, tmp_path, capsys):
    out = tmp_path / "r.json"
    code = main(["eval", "--dataset", "spair", "--root", str(spair_fixture.root), "--method", "dift", "--quiet",
                 "--category-prompt", "--setting", "ensemble=2", "--setting", "refine=soft", "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    assert engines == [("dift", {"ensemble": 2, "refine": "soft", "category": "cat"}),
                       ("dift", {"ensemble": 2, "refine": "soft", "category": "person"})]
    assert json.loads(out.read_text())["pairs"] == 4
    assert main(["eval", "--dataset", "spair", "--root", str(spair_fixture.root), "--method", "classical",
                 "--quiet", "--category-prompt"]) == 2
    assert "dift" in capsys.readouterr().err
    assert main(["eval", "--dataset", "spair", "--root", str(spair_fixture.root), "--quiet",
                 "--setting", "ensemble"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err
