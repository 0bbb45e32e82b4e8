"""No file runs code: a DeepLabCut .h5 carrying a pickle payload (in the index, in a column, in an
attribute) is refused by ``labeler import --dlc`` and the payload never runs (pandas' own
``read_hdf`` does run it: the payloads are real)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas")
tables = pytest.importorskip("tables")

from labeler.errors import FormatError  # noqa: E402
from labeler.formats.dlc import _write_h5, import_dlc  # noqa: E402
from labeler.store import Project  # noqa: E402
from labeler.store.testing import write_image  # noqa: E402


class Payload:
    """Unpickling it creates the folder ``marker`` (any code could run instead)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.mkdir, (str(self.marker),))


def _frame(index) -> pd.DataFrame:  # noqa: ANN001
    columns = pd.MultiIndex.from_product([["me"], ["nose"], ["x", "y"]], names=["scorer", "bodyparts", "coords"])
    return pd.DataFrame([[1.0, 2.0]] * len(index), index=index, columns=columns)


def _in_index(path: Path, marker: Path) -> None:
    _frame(pd.Index([Payload(marker), "labeled-data/f/a.png"], dtype=object)).to_hdf(path, key="df_with_missing", mode="w")


def _in_column(path: Path, marker: Path) -> None:
    frame = _frame(pd.Index(["labeled-data/f/a.png"]))
    frame[("me", "nose", "likelihood")] = pd.Series([Payload(marker)], index=frame.index, dtype=object)
    frame.to_hdf(path, key="df_with_missing", mode="w")


def _in_attribute(path: Path, marker: Path) -> None:
    _write_h5(path, "me", ("nose",), [("f", "a.png", [1.0, 2.0])])
    with tables.open_file(str(path), mode="a") as h5:
        group = h5.root.df_with_missing
        group._v_attrs.pandas_type = Payload(marker)  # PyTables pickles what is not a plain value
        group.axis0_level0._v_attrs.name = Payload(marker)
        group.block0_values._v_attrs.TITLE = Payload(marker)


@pytest.fixture
def project(tmp_path):
    write_image(tmp_path / "images" / "f" / "a.png", "rgb", (20, 10))
    with Project.create(tmp_path / "p.labeler", tmp_path / "images", ["nose"]) as p:
        yield p


@pytest.mark.parametrize("plant", [_in_index, _in_column, _in_attribute], ids=["index", "column", "attribute"])
def test_a_pickle_payload_in_a_dlc_h5_is_refused_and_never_runs(project, tmp_path, plant):
    folder = tmp_path / "dlc" / "labeled-data" / "f"
    folder.mkdir(parents=True)
    h5 = folder / "CollectedData_me.h5"
    marker = tmp_path / "payload-ran"
    plant(h5, marker)
    if plant is _in_attribute:  # attributes are never read: the plain arrays import, nothing runs
        import_dlc(project, h5)
        assert not marker.exists(), "the payload ran"
        assert project.points(project.list_images()[0].id)["nose"].x == 1.0
        return
    with pytest.raises(FormatError, match="pickle"):
        import_dlc(project, h5)
    with pytest.raises(FormatError, match="pickle"):
        import_dlc(project, tmp_path / "dlc")  # the folder form finds the .h5 (no CSV beside it)
    assert not marker.exists(), "the payload ran"
    pd.read_hdf(h5)  # the payload is real: pandas unpickles it
    assert marker.exists()
