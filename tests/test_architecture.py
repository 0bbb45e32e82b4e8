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


# -- the window is composed of controllers --------------------------------------------------------
GUI = PACKAGE / "gui"
#: the one module that may create the window (the app's entry point)
WINDOW_USERS = {"app.py"}
#: private names of other objects a gui module may use: the standard library's documented ones
PRIVATE_ALLOWED = {("os", "_exit")}
MAIN_WINDOW_MAX_LINES = 500


def _window_imports(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module == "labeler.gui.main_window" or (node.level and module == "main_window"):
                return True
            if module == "labeler.gui" and any(a.name == "main_window" for a in node.names):
                return True
        elif isinstance(node, ast.Import) and any(a.name == "labeler.gui.main_window" for a in node.names):
            return True
    return False


def _private_reaches(path: Path) -> list[str]:
    """``x._name`` where x is not ``self``/``cls``: another object's private member."""
    bad = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "setattr", "hasattr")
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
                and node.args[1].value.startswith("_") and not node.args[1].value.startswith("__")
                and not (isinstance(node.args[0], ast.Name) and node.args[0].id in ("self", "cls"))):
            bad.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")  # the same reach, spelled as a call
            continue
        if not (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")):
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and (owner.id in ("self", "cls") or (owner.id, node.attr) in PRIVATE_ALLOWED):
            continue
        bad.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
    return bad


def test_only_the_app_entry_imports_the_main_window():
    users = [p.name for p in sorted(GUI.rglob("*.py")) if p.name != "main_window.py" and _window_imports(p)]
    assert sorted(set(users) - WINDOW_USERS) == []


def test_gui_modules_do_not_reach_into_other_objects_private_members():
    bad = [line for p in sorted(GUI.rglob("*.py")) for line in _private_reaches(p)]
    assert bad == []


def test_the_checks_see_what_they_forbid(tmp_path):
    """The two rules above catch the spellings they are meant to catch."""
    for text in ("from labeler.gui.main_window import MainWindow\n", "from .main_window import MainWindow\n",
                 "from labeler.gui import main_window\n", "import labeler.gui.main_window\n",
                 "if TYPE_CHECKING:\n    from labeler.gui.main_window import MainWindow\n"):
        (tmp_path / "m.py").write_text(text)
        assert _window_imports(tmp_path / "m.py"), text
    (tmp_path / "m.py").write_text("def f(w):\n    w._message('x')\n    self.window._busy()\n    self._own = 1\n"
                                   "    getattr(w, '_message')('x')\n    setattr(self, '_mine', 1)\n")
    assert len(_private_reaches(tmp_path / "m.py")) == 3


def test_main_window_only_composes():
    lines = len((GUI / "main_window.py").read_text(encoding="utf-8").splitlines())
    assert lines <= MAIN_WINDOW_MAX_LINES, f"main_window.py has {lines} lines: move a feature into a controller"
