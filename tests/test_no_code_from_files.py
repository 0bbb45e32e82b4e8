"""No file runs code: the package's source never calls what unpickles or evaluates data.

The scan reads every module of ``labeler`` (the AST, so comments and strings do not count) and
fails on: importing pickle/marshal/shelve/dill/joblib; pandas ``read_hdf``/``read_pickle``/
``HDFStore``; ``allow_pickle=True``; ``torch.load`` without ``weights_only=True``; YAML loading
other than the safe loader; ``eval``/``exec``. A format reader that needs one of them must be
rewritten (see labeler/formats/dlc_h5.py), not added to an exception list.
"""

from __future__ import annotations

import ast
from pathlib import Path

import labeler

PACKAGE = Path(labeler.__file__).parent
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "joblib", "cloudpickle"}
UNSAFE_CALLS = {"read_hdf", "read_pickle", "HDFStore", "unsafe_load", "full_load", "unsafe_load_all", "full_load_all", "eval", "exec"}
SAFE_LOADERS = {"SafeLoader", "CSafeLoader"}


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return _name(node)


def _kw(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_true(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def problems_in(source: str, where: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        line = f"{where}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found += [f"{line}: import {a.name}" for a in node.names if a.name.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").split(".")[0] in UNSAFE_MODULES:
                found.append(f"{line}: from {node.module} import")
            found += [f"{line}: imports {a.name}" for a in node.names if a.name in UNSAFE_CALLS]
        elif isinstance(node, ast.Call):
            name, dotted = _name(node.func), _dotted(node.func)
            builtin = isinstance(node.func, ast.Name) or dotted.startswith("builtins.")
            if name in UNSAFE_CALLS and (name not in ("eval", "exec") or builtin):  # not model.eval(), dialog.exec()
                found.append(f"{line}: {dotted}()")
            if _is_true(_kw(node, "allow_pickle")):
                found.append(f"{line}: {dotted}(allow_pickle=True)")
            if name == "load" and dotted.split(".")[0] == "torch" and not _is_true(_kw(node, "weights_only")):
                found.append(f"{line}: torch.load without weights_only=True")
            if name in ("load", "load_all") and dotted.split(".")[0] == "yaml":
                loader = _kw(node, "Loader") or (node.args[1] if len(node.args) > 1 else None)
                if _name(loader) not in SAFE_LOADERS if loader is not None else True:
                    found.append(f"{line}: {dotted}() without the safe loader")
    return found


def test_the_package_never_unpickles_or_evaluates_data():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        found += problems_in(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))
    assert not found, "\n".join(found)


def test_the_scan_finds_each_kind():
    cases = {
        "import pickle": 1, "from pickle import loads": 1, "import joblib": 1,
        "pd.read_hdf(p)": 1, "pandas.read_pickle(p)": 1, "s = pd.HDFStore(p)": 1,
        "np.load(p, allow_pickle=True)": 1, "np.load(p)": 0,
        "torch.load(p)": 1, "torch.load(p, weights_only=False)": 1, "torch.load(p, weights_only=True)": 0,
        "yaml.load(t)": 1, "yaml.load(t, Loader=yaml.Loader)": 1, "yaml.load(t, Loader=yaml.SafeLoader)": 0,
        "yaml.load(t, yaml.CSafeLoader)": 0, "yaml.unsafe_load(t)": 1, "yaml.full_load(t)": 1, "yaml.safe_load(t)": 0,
        "eval(s)": 1, "exec(s)": 1, "builtins.eval(s)": 1, "x = 'pickle.loads'": 0,
        "model.eval()": 0, "dialog.exec()": 0,
    }
    for source, n in cases.items():
        assert len(problems_in(source, "case")) == n, source
