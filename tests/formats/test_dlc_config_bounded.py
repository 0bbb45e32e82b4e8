"""DeepLabCut's config.yaml from someone else is read like YOLO's data.yaml: no aliases, at most
64 levels deep, at most half a megabyte (a 12 MB one took 53 s and 1.5 GB before). One that is
not is left out with a note (its skeleton is not taken); the labels still import.

Generated: configs with a skeleton that the project would take, made unreadable in one way each
(aliases, nesting, size) at random sizes; and a scan: no module of labeler loads YAML other than
through the bounded loader."""

from __future__ import annotations

import ast
import random
from pathlib import Path

import labeler
from labeler.formats.dlc import export_dlc, import_dlc
from labeler.store import Project, find_image_files, probe_files, relative_to_root
from labeler.store.testing import write_image

NAMES = ("nose", "left_eye", "right_eye")


def _exported(tmp_path: Path) -> tuple[Path, Project]:
    root = tmp_path / "images"
    write_image(root / "nest" / "a.jpg", "rgb", (100, 50))
    probed = probe_files([(f, relative_to_root(f, root)) for f in find_image_files(root)], progress=False)[0]
    src = Project.create(tmp_path / "src.labeler", root, NAMES, images=probed)
    src.set_points(src.list_images()[0].id, {"nose": (5, 6), "left_eye": (10, 10)})
    export_dlc(src, tmp_path / "d", scorer="me", h5=False)
    src.close()
    fresh = Project.create(tmp_path / "fresh.labeler", root, (), images=probed)  # takes the file's keypoints and skeleton
    return tmp_path / "d", fresh


EDGE = "- [nose, left_eye]\n"


def _configs(rng: random.Random) -> dict[str, str]:
    n = rng.randrange(2, 40)
    depth = rng.randrange(65, 2000)
    big = rng.randrange(520_000, 900_000) // len(EDGE) + 1
    return {
        "alias": "e: &e [nose, left_eye]\nskeleton:\n" + "- *e\n" * n,
        "deep": "skeleton:\n" + EDGE + "other: " + "[" * depth + "]" * depth + "\n",
        "big": "skeleton:\n" + EDGE * big,
    }


def test_an_unbounded_config_yaml_is_left_out_with_a_note_and_the_labels_import(tmp_path):
    rng = random.Random(21)
    for round_ in range(2):
        for kind, text in _configs(rng).items():
            folder = tmp_path / f"{round_}-{kind}"
            out, fresh = _exported(folder)
            (out / "config.yaml").write_text(text, encoding="utf-8")
            report = import_dlc(fresh, out)
            assert fresh.schema().skeleton == (), kind
            assert any("config.yaml" in n and "no skeleton taken" in n for n in report.notes), (kind, report.notes)
            assert report.merge.written == 2, kind
            fresh.close()


def test_a_plain_config_yaml_still_gives_its_skeleton(tmp_path):
    out, fresh = _exported(tmp_path)
    (out / "config.yaml").write_text("skeleton:\n" + EDGE, encoding="utf-8")
    import_dlc(fresh, out)
    assert fresh.schema().skeleton == (("nose", "left_eye"),)
    fresh.close()


def test_yaml_is_loaded_only_through_the_bounded_loader():
    package = Path(labeler.__file__).parent
    own = package / "formats" / "bounded_yaml.py"
    found = []
    for path in sorted(package.rglob("*.py")):
        if path == own:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                    "load", "safe_load", "load_all", "safe_load_all", "compose", "compose_all", "parse"):
                base = node.func.value
                if isinstance(base, ast.Name) and base.id == "yaml":
                    found.append(f"{path.relative_to(package.parent)}:{node.lineno}: yaml.{node.func.attr}()")
    assert not found, "\n".join(found)
