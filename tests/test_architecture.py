"""Dependencies point one way: gui -> propagation -> (store, correspondence)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "labeler"

# subpackage -> top-level modules it must never import (directly, at any depth of its files)
FORBIDDEN = {
    "correspondence": {"PyQt6", "sqlalchemy", "labeler.store", "labeler.gui", "labeler.propagation", "labeler.cli"},
    "store": {"torch", "diffusers", "transformers", "PyQt6", "labeler.correspondence", "labeler.gui",
              "labeler.propagation", "labeler.cli"},
    "formats": {"torch", "diffusers", "transformers", "PyQt6", "labeler.correspondence", "labeler.gui",
                "labeler.propagation", "labeler.cli"},
    "propagation": {"PyQt6", "labeler.gui", "labeler.cli"},
    "evaluation": {"PyQt6", "labeler.gui", "labeler.cli", "sqlalchemy"},
    "cluster": {"PyQt6", "labeler.gui", "labeler.cli"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _violations(sub: str) -> list[str]:
    bad = []
    for path in sorted((PACKAGE / sub).rglob("*.py")):
        for name in _imports(path):
            for banned in FORBIDDEN[sub]:
                if name == banned or name.startswith(banned + "."):
                    bad.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    return bad


@pytest.mark.parametrize("sub", sorted(FORBIDDEN))
def test_subpackage_imports_point_one_way(sub):
    if not (PACKAGE / sub).is_dir():
        pytest.fail(f"labeler/{sub} is missing")
    assert _violations(sub) == []


def test_imaging_module_is_light():
    assert not ({"torch", "PyQt6", "sqlalchemy"} & _imports(PACKAGE / "imaging.py"))


@pytest.mark.parametrize(
    ("module", "must_not_load"),
    [
        ("labeler.store", ("torch", "PyQt6", "psycopg", "alembic")),  # the last two: only when needed
        ("labeler.formats.coco", ("torch", "PyQt6")),
        ("labeler.correspondence.registry", ("PyQt6", "sqlalchemy")),
    ],
)
def test_importing_does_not_pull_heavy_dependencies(module, must_not_load):
    code = (
        f"import sys, importlib; importlib.import_module({module!r}); "
        f"print(','.join(m for m in {must_not_load!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
