"""DeepLabCut's ``CollectedData_<scorer>.h5`` read without ever unpickling.

``pandas.read_hdf`` unpickles: an object-dtype index level or column is stored as a PyTables
``ObjectAtom`` array (pickles), and PyTables unpickles any attribute that looks like a pickle
when it is read, so a file from someone else runs code on import. DeepLabCut writes its frame
in pandas' *fixed* format with plain HDF5 arrays only: string arrays for the index and column
levels, small integers for their codes, one float64 block for the values. This module reads
exactly those arrays, node by node, and refuses anything else (an object/pickled node, a second
block, a value that is not a number) with one message. Attributes are never read through
PyTables' attribute set (which unpickles); while the file is open, PyTables' own unpickling is
replaced by a refusal, so a code path we did not foresee fails instead of running the payload.

The frame is handed on as the CSV text DeepLabCut writes beside it, so one parser serves both.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
from collections.abc import Iterator
from pathlib import Path

from labeler.display import shown
from labeler.errors import FormatError

H5_KEY = "df_with_missing"
#: Cells read at most (rows x columns): a 100k-image project with 50 bodyparts fits.
MAX_CELLS = 20_000_000


class _Refused:
    """Stands in for the ``pickle`` module inside PyTables while a file is read."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def loads(self, *_args: object, **_kw: object) -> object:
        raise FormatError(f"{self.path}: holds a pickled value; labeler never unpickles a file (it could run code)")

    load = loads


@contextlib.contextmanager
def _no_unpickling(path: Path) -> Iterator[None]:
    import tables.atom
    import tables.attributeset

    modules = (tables.attributeset, tables.atom)
    saved = [getattr(m, "pickle") for m in modules]  # noqa: B009 - the module attribute itself
    try:
        for m in modules:
            setattr(m, "pickle", _Refused(path))  # noqa: B010
        yield
    finally:
        for m, original in zip(modules, saved, strict=True):
            setattr(m, "pickle", original)  # noqa: B010


def _array(group, name: str, kinds: tuple[str, ...], path: Path):  # noqa: ANN001, ANN202 - PyTables objects, numpy array
    import tables

    node = getattr(group, name, None) if name in group._v_children else None
    if node is None:
        raise FormatError(f"{path}: not a DeepLabCut CollectedData frame (no {name!r} array)")
    if not isinstance(node, tables.Array) or isinstance(node, tables.VLArray) or node.atom.kind == "object":
        raise FormatError(f"{path}: {name!r} is an object (pickled) node; labeler never unpickles a file (it could run code)")
    if node.atom.kind not in kinds:
        raise FormatError(f"{path}: {name!r} holds {node.atom.kind} values, not those of a DeepLabCut frame")
    size = math.prod(node.shape)
    if size > MAX_CELLS:
        raise FormatError(f"{path}: {name!r} holds {size} values, more than labeler reads ({MAX_CELLS})")
    return node.read()


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _levels(group, axis: str, path: Path) -> list[tuple[str, ...]]:  # noqa: ANN001
    """An index as tuples of text: a MultiIndex (levels + codes) or a plain string index."""
    children = group._v_children
    if axis in children:
        return [(_text(v),) for v in _array(group, axis, ("string",), path)]
    n = 0
    while f"{axis}_level{n}" in children:
        n += 1
    if n == 0:
        raise FormatError(f"{path}: not a DeepLabCut CollectedData frame (no {axis} index)")
    columns = []
    length = None
    for i in range(n):
        level = [_text(v) for v in _array(group, f"{axis}_level{i}", ("string",), path)]
        codes = _array(group, f"{axis}_label{i}", ("int", "uint"), path)
        if length is None:
            length = len(codes)
        if len(codes) != length or any(not -1 <= int(c) < len(level) for c in codes):
            raise FormatError(f"{path}: the {axis} index is damaged (codes outside its levels)")
        columns.append(["" if int(c) == -1 else level[int(c)] for c in codes])
    return list(zip(*columns, strict=True))


def h5_as_csv(path: Path) -> str:
    """The frame in ``path`` as DeepLabCut's CSV text (refusing anything but plain arrays)."""
    try:
        import tables
    except ImportError:
        raise FormatError(f"{path}: reading .h5 needs PyTables (pip install tables); or import the .csv beside it") from None
    with _no_unpickling(path):
        try:
            if not tables.is_hdf5_file(str(path)):
                raise FormatError(f"{path}: not a readable DeepLabCut .h5 file (not an HDF5 file)")
            h5 = tables.open_file(str(path), mode="r")
        except FormatError:
            raise
        except Exception as exc:  # noqa: BLE001 - HDF5 raises many types for a bad file
            lines = [ln for ln in str(exc).splitlines() if ln.strip()]
            raise FormatError(f"{path}: not a readable DeepLabCut .h5 file ({shown(lines[-1] if lines else type(exc).__name__, 200)})") from None
        try:
            return _frame_csv(h5, path)
        except FormatError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise FormatError(f"{path}: not a readable DeepLabCut .h5 file ({shown(type(exc).__name__ + ': ' + str(exc), 200)})") from None
        finally:
            h5.close()


def _frame_csv(h5, path: Path) -> str:  # noqa: ANN001 - a tables.File
    groups = [n for n in h5.root._v_children]
    key = H5_KEY if H5_KEY in groups else (groups[0] if len(groups) == 1 else None)
    if key is None:
        raise FormatError(f"{path}: not a DeepLabCut CollectedData file (no {H5_KEY!r} frame)")
    group = h5.root._v_children[key]
    blocks = sorted(n for n in group._v_children if n.startswith("block") and n.endswith("_values"))
    if blocks != ["block0_values"]:
        raise FormatError(f"{path}: not a DeepLabCut CollectedData frame (its values are not one block of numbers)")
    columns = _levels(group, "axis0", path)
    index = _levels(group, "axis1", path)
    items = _levels(group, "block0_items", path)
    if items != columns:
        raise FormatError(f"{path}: not a DeepLabCut CollectedData frame (its block does not hold every column)")
    values = _array(group, "block0_values", ("float",), path)
    if values.ndim != 2:
        raise FormatError(f"{path}: not a DeepLabCut CollectedData frame (values are not a table)")
    if values.shape != (len(index), len(columns)):
        if values.shape == (len(columns), len(index)):
            values = values.T
        else:
            raise FormatError(f"{path}: not a DeepLabCut CollectedData frame (values {values.shape} for "
                              f"{len(index)} rows and {len(columns)} columns)")
    if columns and len(columns[0]) == 4:
        raise FormatError(f"{path}: a multi-animal DeepLabCut file (it has 'individuals'); only single-animal files can be imported")
    if any(len(c) != 3 for c in columns):
        raise FormatError(f"{path}: not a DeepLabCut CollectedData frame (columns scorer / bodyparts / coords)")
    n_index = len(index[0]) if index else 1
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for i, name in enumerate(("scorer", "bodyparts", "coords")):
        w.writerow([name, *[""] * (n_index - 1), *(c[i] for c in columns)])
    for labels, row in zip(index, values, strict=True):
        w.writerow([*labels, *("" if math.isnan(v) else repr(float(v)) for v in row)])
    return buf.getvalue()
