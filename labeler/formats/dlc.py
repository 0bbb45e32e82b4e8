"""DeepLabCut single-animal labelled data: export a project, import a CollectedData file back.

What DeepLabCut reads (``deeplabcut/utils/conversioncode.py``, ``merge_annotateddatasets``)::

    OUTDIR/labeled-data/<folder>/CollectedData_<scorer>.csv   (and the .h5 twin, read first)
    OUTDIR/labeled-data/<folder>/<image files>
    OUTDIR/config.yaml                                         keys to merge into the project's config

The CSV is what ``DataFrame.to_csv`` writes for DeepLabCut's frame: three header rows (scorer,
bodyparts, coords x/y) and a three-level row index ``('labeled-data', folder, file name)``; cells
of points not labelled or absent are empty; occluded points keep their positions (DeepLabCut has
no visibility). A background image (flagged no object, or every keypoint absent; as COCO's
negatives) is a row without points, written as "NaN" cells (see :data:`EMPTY_ROW_CELL`); a skipped
image is left out. A project with several objects on an image is written as DeepLabCut's
multi-animal data: a fourth header row ``individuals`` (between scorer and bodyparts), one block
of columns per individual (an instance's name, else ``individualN`` by its order on the image),
and ``multianimalproject: true`` with ``individuals`` and ``multianimalbodyparts`` in config.yaml;
importing such a file makes one instance per individual, named after it. The ``.h5`` twin (``key="df_with_missing"``) is written when pandas and PyTables
are installed. Images of a sub-folder of the images root go to a folder of that name (root-level
images to one named after the project); EXIF-rotated images are written upright.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from labeler.display import shown
from labeler.errors import FormatError, UserInputError
from labeler.formats.bounded_yaml import load_yaml
from labeler.formats.coco import CocoFile, CocoImage, CocoImportReport, ImportedObject, _Problems, merge_coco_file
from labeler.formats.exchange import (
    IMAGE_MODES,
    PlacedImages,
    Progress,
    StagedFolder,
    check_out_dir,
    confirmed_by_path,
    images_note,
    keep_if_same,
    labelled_images,
    place_image,
    project_name_for,
    read_record,
    refuse_predictions,
    unique_file_names,
    usable_images,
    write_record,
    write_text,
)
from labeler.store import ABSENT, MANUAL, ImportedPoint, OnConflict, Project, Schema

DEFAULT_SCORER = "labeler"
LABELED_DATA = "labeled-data"
H5_KEY = "df_with_missing"
_BAD_SCORER = re.compile(r"[\\/:*?\"<>|\x00-\x1f,]")
_FOLDER_OK = re.compile(r"[^\w.-]+", re.UNICODE)


def pandas_available() -> bool:
    try:
        import pandas  # noqa: F401
        import tables  # noqa: F401
    except ImportError:
        return False
    return True


# -- export ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DlcExportReport:
    root: Path
    folders: dict[str, int]  # labeled-data folder -> images
    points: int  # cells with a position (occluded included)
    occluded: int
    csv_files: tuple[Path, ...]
    h5_written: bool
    renamed: tuple[tuple[str, str], ...]
    left_out: tuple[str, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)


#: The cells of a row without any point. pandas (and so DeepLabCut's CSV reading) takes a first
#: data row whose cells are all empty for the index's names and drops it; a row of "NaN" is read
#: back as a row of missing values, wherever it stands.
EMPTY_ROW_CELL = "NaN"


def _number(v: float) -> str:
    return repr(float(v))  # what pandas writes


def csv_text(scorer: str, bodyparts: tuple[str, ...], rows: list[tuple[str, str, list[float | None]]]) -> str:
    """The CollectedData CSV, byte for byte as ``DataFrame.to_csv`` writes DeepLabCut's frame.
    ``rows``: (folder, file name, [x, y] * bodyparts with None for empty)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["scorer", "", "", *[scorer] * (2 * len(bodyparts))])
    w.writerow(["bodyparts", "", "", *[b for b in bodyparts for _ in (0, 1)]])
    w.writerow(["coords", "", "", *["x", "y"] * len(bodyparts)])
    for folder, name, values in rows:
        if all(v is None for v in values):  # a background image (no object, or every keypoint absent)
            w.writerow([LABELED_DATA, folder, name, *[EMPTY_ROW_CELL] * len(values)])
            continue
        w.writerow([LABELED_DATA, folder, name, *["" if v is None else _number(v) for v in values]])
    return buf.getvalue()


def csv_text_multi(scorer: str, individuals: list[str], bodyparts: tuple[str, ...],
                   rows: list[tuple[str, str, list[float | None]]]) -> str:
    """The multi-animal CollectedData CSV (``individuals`` header row; values per individual, then
    bodypart, then x/y), as ``DataFrame.to_csv`` writes DeepLabCut's multi-animal frame."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    n = 2 * len(bodyparts)
    w.writerow(["scorer", "", "", *[scorer] * (n * len(individuals))])
    w.writerow(["individuals", "", "", *[ind for ind in individuals for _ in range(n)]])
    w.writerow(["bodyparts", "", "", *[b for _ in individuals for b in bodyparts for _ in (0, 1)]])
    w.writerow(["coords", "", "", *["x", "y"] * (len(bodyparts) * len(individuals))])
    for folder, name, values in rows:
        w.writerow([LABELED_DATA, folder, name, *["" if v is None else _number(v) for v in values]])
    return buf.getvalue()


def _write_h5(path: Path, scorer: str, bodyparts: tuple[str, ...], rows: list[tuple[str, str, list[float | None]]],
              individuals: list[str] | None = None) -> None:
    import numpy as np
    import pandas as pd

    if individuals:
        columns = pd.MultiIndex.from_product([[scorer], individuals, list(bodyparts), ["x", "y"]],
                                             names=["scorer", "individuals", "bodyparts", "coords"])
    else:
        columns = pd.MultiIndex.from_product([[scorer], list(bodyparts), ["x", "y"]], names=["scorer", "bodyparts", "coords"])
    index = pd.MultiIndex.from_tuples([(LABELED_DATA, folder, name) for folder, name, _ in rows])
    values = np.array([[np.nan if v is None else v for v in vals] for _, _, vals in rows], dtype=float)
    frame = pd.DataFrame(values.reshape(len(rows), len(columns)), index=index, columns=columns)
    # DeepLabCut writes CollectedData in pandas' fixed format ("table" refuses this MultiIndex)
    frame.to_hdf(path, key=H5_KEY, mode="w")


def config_fragment(scorer: str, bodyparts: tuple[str, ...], skeleton: tuple[tuple[str, str], ...],
                    sizes: dict[str, tuple[int, int]], individuals: list[str] | None = None) -> str:
    head = (
        "# DeepLabCut config.yaml keys for labeled-data/ (written by labeler). Merge them into your\n"
        "# project's config.yaml (scorer, bodyparts and skeleton as here; one video_sets entry per\n"
        "# labeled-data folder: DeepLabCut finds a folder by the stem of its video path), copy\n"
        "# labeled-data/ into the project, then run deeplabcut.create_training_dataset(config_path).\n"
    )
    body: dict[str, object] = {
        "scorer": scorer,
        "multianimalproject": bool(individuals),
        "bodyparts": list(bodyparts),
        "skeleton": [list(e) for e in skeleton],
        "video_sets": {f"videos/{folder}.mp4": {"crop": f"0, {w}, 0, {h}"} for folder, (w, h) in sizes.items()},
    }
    if individuals:  # as deeplabcut.create_new_project(..., multianimal=True) writes them
        body["bodyparts"] = "MULTI!"
        body["individuals"] = list(individuals)
        body["uniquebodyparts"] = []
        body["multianimalbodyparts"] = list(bodyparts)
    return head + yaml.safe_dump(body, allow_unicode=True, sort_keys=False, default_flow_style=False)


def _individuals(items) -> list[str] | None:  # noqa: ANN001 - LabelledImage list
    """The individuals' names when some image holds several objects (else None: single animal)."""
    if not any(len(it.objects) > 1 for it in items):
        return None
    out: list[str] = []
    for it in items:
        for k, (name, _) in enumerate(it.objects):
            label = name or f"individual{k + 1}"
            if label not in out:
                out.append(label)
    return out


def _folder_names(parents: list[str], project_name: str) -> dict[str, str]:
    """One labeled-data folder per sub-folder of the images root ('a/b' -> 'a_b'); distinct."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for parent in sorted(set(parents)):
        base = _FOLDER_OK.sub("_", parent.replace("/", "_")).strip("_") if parent else ""
        base = base or _FOLDER_OK.sub("_", project_name).strip("_") or "images"
        name, k = base, 2
        while name.lower() in taken:
            name, k = f"{base}_{k}", k + 1
        taken.add(name.lower())
        out[parent] = name
    return out


def check_scorer(scorer: str) -> str:
    if not scorer or scorer != scorer.strip() or _BAD_SCORER.search(scorer):
        raise UserInputError(f"--scorer {scorer!r}: give a plain name (it becomes CollectedData_<scorer>.csv), "
                             "without spaces at the ends, commas, slashes or : * ? \" < > |")
    return scorer


def export_dlc(
    project: Project,
    out: str | os.PathLike[str],
    *,
    scorer: str = DEFAULT_SCORER,
    predicted: bool = False,
    images: str = "link",
    overwrite: bool = False,
    h5: bool | None = None,
    progress: Progress | None = None,
) -> DlcExportReport:
    """Write the project's labels as DeepLabCut labelled data into the folder ``out``.
    ``h5``: None writes the .h5 twin when pandas and PyTables are installed."""
    check_scorer(scorer)
    if images not in IMAGE_MODES:
        raise UserInputError(f"--images must be link or copy, not {images!r}")
    out = Path(out)
    check_out_dir(out, overwrite)
    schema = project.schema()
    items, left_out = labelled_images(project, predicted=predicted)
    if not items:
        raise UserInputError("no image has a confirmed keypoint yet; nothing to export"
                             + ("" if predicted else " (add --predicted to export predictions too)"))
    items, left_out_notes = usable_images(project, items)  # gone or replaced pictures: left out, noted
    want_h5 = pandas_available() if h5 is None else h5
    if want_h5 and not pandas_available():
        raise UserInputError("the .h5 file needs pandas and PyTables: pip install pandas tables")
    names = schema.keypoints
    individuals = _individuals(items)
    parent_of = {it.image.path: it.image.path.rpartition("/")[0] for it in items}
    folder_of = _folder_names(list(parent_of.values()), project.name)
    by_folder: dict[str, list] = {}
    for it in items:
        by_folder.setdefault(folder_of[parent_of[it.image.path]], []).append(it)
    renamed: list[tuple[str, str]] = []
    placed = PlacedImages()
    written: dict[str, str] = {}
    csv_files: list[Path] = []
    points = occluded = done = 0
    sizes: dict[str, tuple[int, int]] = {}
    with StagedFolder(out) as tmp:
        for folder in sorted(by_folder):
            group = by_folder[folder]
            file_names, clashes = unique_file_names([it.image.path for it in group], key=str.lower, flatten=False)
            renamed += clashes
            target = tmp / LABELED_DATA / folder
            target.mkdir(parents=True, exist_ok=True)
            rows = []
            for it in sorted(group, key=lambda it: file_names[it.image.path]):
                im = it.image
                name = file_names[im.path]
                place_image(project.image_path(im), target / name, im, images, placed)
                values: list[float | None] = []
                if individuals:
                    by_individual = {(name or f"individual{k + 1}"): rows_ for k, (name, rows_) in enumerate(it.objects)}
                    blocks = [by_individual.get(ind, {}) for ind in individuals]
                else:
                    blocks = [it.points]
                for block in blocks:
                    for n in names:
                        p = block.get(n)
                        if p is None or p.visibility == ABSENT or p.x is None or p.y is None:
                            values += [None, None]
                        else:
                            values += [p.x, p.y]
                            points += 1
                            occluded += int(p.visibility == 1)
                rows.append((folder, name, values))
                written[f"{LABELED_DATA}/{folder}/{name}"] = im.path
                done += 1
                if progress is not None:
                    progress(done, len(items), "writing images and labels")
            w = max(it.image.width for it in group)
            h = max(it.image.height for it in group)
            sizes[folder] = (w, h)
            csv_path = target / f"CollectedData_{scorer}.csv"
            text = csv_text_multi(scorer, individuals, names, rows) if individuals else csv_text(scorer, names, rows)
            write_text(csv_path, text)
            csv_files.append(out / LABELED_DATA / folder / csv_path.name)
            if want_h5:
                _write_h5(csv_path.with_suffix(".h5"), scorer, names, rows, individuals)
        write_text(tmp / "config.yaml", config_fragment(scorer, names, schema.skeleton, sizes, individuals))
        write_record(tmp, "deeplabcut", project, written, {"scorer": scorer, "predicted": predicted})
    notes: list[str] = []
    if occluded:
        notes.append(f"{occluded} occluded point(s) were written with their positions (DeepLabCut has no visibility)")
    if renamed:
        notes.append(f"{len(renamed)} image(s) differ only in letter case from another in their folder and were renamed: "
                     + ", ".join(f"{a} -> {b}" for a, b in renamed[:5]))
    if left_out:
        notes.append(f"{len(left_out)} image(s) with some keypoints marked absent but none placed were left out")
    if not want_h5:
        notes.append("no .h5 written (pandas and PyTables are not installed); DeepLabCut's convertcsv2h5 makes it from the CSV")
    notes += images_note(placed) + left_out_notes
    counts = {f: len(g) for f, g in sorted(by_folder.items())}
    return DlcExportReport(out, counts, points, occluded, tuple(csv_files), want_h5, tuple(renamed), tuple(left_out), tuple(notes))


# -- reading -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Table:
    scorer: str
    bodyparts: tuple[str, ...]
    rows: list[tuple[str, list[str | float | None], str]]  # (image path 'labeled-data/f/x.png', values, where)
    #: multi-animal files: the individuals; values are then [x, y] per bodypart per individual
    individuals: tuple[str, ...] = ()


def _read_csv(path: Path, problems: _Problems) -> _Table:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise FormatError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise FormatError(f"{path}: cannot read it ({exc.strerror})") from None
    return _parse_csv(text, path, problems)


def _parse_csv(text: str, path: Path, problems: _Problems) -> _Table:
    try:
        table = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:  # a cell over the csv module's field limit, a NUL byte
        raise FormatError(f"{path}: not a DeepLabCut CollectedData file ({exc})") from None
    if len(table) < 3 or not table[0] or table[0][0] != "scorer":
        raise FormatError(f"{path}: not a DeepLabCut CollectedData file (its first rows must be scorer, bodyparts, coords)")
    multi = bool(table[1]) and table[1][0] == "individuals"
    if multi:  # scorer, individuals, bodyparts, coords
        if len(table) < 4 or table[2][:1] != ["bodyparts"] or table[3][:1] != ["coords"]:
            raise FormatError(f"{path}: a multi-animal file's first rows must be scorer, individuals, bodyparts, coords")
        head, body_start = table[:4], 4
    else:
        if table[1][:1] != ["bodyparts"] or table[2][:1] != ["coords"]:
            raise FormatError(f"{path}: its first rows must be scorer, bodyparts, coords")
        head, body_start = table[:3], 3
    data = [r for r in table[body_start:] if any(c.strip() for c in r)]
    n_index = 3 if data and data[0][0] == LABELED_DATA else 1
    scorers = {c for c in table[0][n_index:] if c}
    coords = head[-1][n_index:]
    parts = head[-2][n_index:]
    inds = head[1][n_index:] if multi else [""] * len(parts)
    individuals = list(dict.fromkeys(i for i in inds if i)) if multi else [""]
    if multi and (not individuals or len(individuals) > 500 or not all(i.isprintable() for i in individuals)):
        raise FormatError(f"{path}: the individuals row names no individuals (or more than 500)")
    # a column is (individual, bodypart, coord); single-animal files have one unnamed individual
    columns: list[tuple[str, str, str]] = list(zip(inds, parts, coords, strict=False))
    # dict/Counter, not list membership: a file with 10^5 columns is read in linear time
    bodyparts = list(dict.fromkeys(bp for _, bp, co in columns if co in ("x", "y")))
    counts = Counter(columns)
    for ind in individuals:
        for bp in bodyparts:
            if counts[(ind, bp, "x")] != 1 or counts[(ind, bp, "y")] != 1:
                who = f"{shown(ind)!r}'s " if ind else ""
                problems.add(f"{who}bodypart {shown(bp)!r} needs exactly one x and one y column")
    if not bodyparts or not all(bodyparts):
        raise FormatError(f"{path}: names no bodyparts with x and y columns")
    rows = []
    for i, r in enumerate(data):
        line = i + 4
        if len(r) != n_index + len(columns):
            problems.add(f"line {line}: {len(r)} cells, the header has {n_index + len(columns)}")
            continue
        image = "/".join(r[:n_index]).replace("\\", "/")
        values: list[str | float | None] = []
        cells = dict(zip(columns, r[n_index:], strict=True))
        for ind, bp, co in ((i, b, c) for i in individuals for b in bodyparts for c in ("x", "y")):
            if True:
                cell = cells.get((ind, bp, co), "").strip()
                if cell == "" or cell.lower() == "nan":
                    values.append(None)
                    continue
                try:
                    v = float(cell)
                except ValueError:
                    problems.add(f"line {line} ({image}) {bp} {co}: {cell!r} is not a number")
                    v = math.nan
                values.append(v)
        rows.append((image, values, f"line {line} ({image})"))
    return _Table(next(iter(scorers)) if len(scorers) == 1 else ",".join(sorted(scorers)), tuple(bodyparts), rows,
                  tuple(individuals) if multi else ())


def _read_h5(path: Path, problems: _Problems) -> _Table:
    """Node by node, never unpickling (:mod:`labeler.formats.dlc_h5`), then the CSV parser."""
    from labeler.formats.dlc_h5 import h5_as_csv

    return _parse_csv(h5_as_csv(path), path, problems)


def _files(path: Path) -> list[Path]:
    """The CollectedData files a path names: the file itself, or every one under a DeepLabCut
    project folder (labeled-data/*/) or one labeled-data folder; the .csv where both exist."""
    if path.is_file():
        return [path]
    if not path.exists():
        raise FormatError(f"{path}: file not found")
    folders = sorted(p for p in (path / LABELED_DATA).iterdir() if p.is_dir()) if (path / LABELED_DATA).is_dir() else [path]
    found = []
    for folder in folders:
        csvs = sorted(folder.glob("CollectedData_*.csv"))
        found += csvs or sorted(folder.glob("CollectedData_*.h5"))
    if not found:
        raise FormatError(f"{path}: no labeled-data/<folder>/CollectedData_<scorer>.csv or .h5 in it")
    return found


def _read_table(path: Path) -> _Table:
    problems = _Problems(path)
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5", ".hdf"):
        table = _read_h5(path, problems)
    elif suffix == ".csv":
        table = _read_csv(path, problems)
    else:
        raise FormatError(f"{path}: give a DeepLabCut CollectedData_<scorer>.csv or .h5 file")
    problems.raise_if_any("not a valid DeepLabCut file")
    return table


def import_dlc(
    project: Project,
    path: str | os.PathLike[str],
    *,
    on_conflict: OnConflict = "error",
    progress: Progress | None = None,
) -> CocoImportReport:
    """Merge a CollectedData_<scorer>.csv or .h5 (or every one under a DeepLabCut project folder):
    all of it, or on any error nothing."""
    path = Path(path)
    files = _files(path)
    tables = [(f, _read_table(f)) for f in files]
    first = tables[0][1]
    for f, t in tables[1:]:
        if set(t.bodyparts) != set(first.bodyparts):
            raise FormatError(f"{f}: its bodyparts ({', '.join(t.bodyparts)}) differ from {files[0]}'s ({', '.join(first.bodyparts)})")
    project_schema = project.schema()
    notes: list[str] = []
    skeleton: tuple[tuple[str, str], ...] = ()
    problems = _Problems(path)
    entries: list[CocoImage] = []
    seen: dict[str, str] = {}
    known = {im.path for im in project.list_images()}
    confirmed = confirmed_by_path(project)
    total = sum(len(t.rows) for _, t in tables)
    n = 0
    for file_path, table in tables:
        # the DeepLabCut project: .../labeled-data/<folder>/CollectedData_x.csv
        dlc_root = file_path.parent.parent.parent if file_path.parent.parent.name == LABELED_DATA else file_path.parent
        config = dlc_root / "config.yaml"
        if config.is_file() and not skeleton:
            try:  # bounded: no aliases, shallow, at most half a megabyte (a 12 MB one took 53 s and 1.5 GB)
                cfg = load_yaml(config, "DeepLabCut config.yaml")
                edges = cfg.get("skeleton") if isinstance(cfg, dict) else None
                skeleton = tuple((str(e[0]), str(e[1])) for e in edges if isinstance(e, list) and len(e) == 2
                                 and e[0] in first.bodyparts and e[1] in first.bodyparts) if isinstance(edges, list) else ()
            except FormatError as exc:
                notes.append(f"{exc}; no skeleton taken from it")
        refuse_predictions(dlc_root, "--dlc")
        record = read_record(dlc_root)
        prefix = f"{file_path.name} " if len(tables) > 1 else ""
        for image, values, where in table.rows:
            where = f"{prefix}{where}"
            if image in seen:
                problems.add(f"{where}: the image is listed twice (also {seen[image]}); a project holds one animal per image")
                continue
            seen[image] = where
            file = dlc_root.joinpath(*image.split("/"))
            if not file.exists() and (file_path.parent / image.rsplit("/", 1)[-1]).exists():
                file = file_path.parent / image.rsplit("/", 1)[-1]
            parts = image.split("/")
            fallback = "/".join(parts[1:]) if len(parts) > 2 and parts[0] == LABELED_DATA else image
            file_name = project_name_for(file, image, record, project, known, fallback=fallback)
            had = confirmed.get(file_name, {})
            k = len(table.bodyparts)
            found: list[tuple[str, dict[str, ImportedPoint]]] = []
            for a, ind in enumerate(table.individuals or ("",)):
                pts: dict[str, ImportedPoint] = {}
                for j, bp in enumerate(table.bodyparts):
                    x, y = values[2 * (a * k + j)], values[2 * (a * k + j) + 1]
                    if x is None and y is None:
                        continue
                    if x is None or y is None:
                        problems.add(f"{where} {ind + ' ' if ind else ''}{bp}: has only one of x and y")
                        continue
                    # no visibility in DeepLabCut: an occluded point of the project at this position stays so
                    pts[bp] = keep_if_same(ImportedPoint(float(x), float(y), 2, MANUAL), had.get(bp) if not found else None,
                                           0.0, 0.0, any_visibility=True)
                if pts:
                    found.append((ind, pts))
            points = found[0][1] if found else {}
            if not points:  # a labelled frame without the animal
                points = {bp: ImportedPoint(None, None, ABSENT, MANUAL) for bp in table.bodyparts}
            objects = tuple(ImportedObject(p, None, "imported", ind or None) for ind, p in found) if table.individuals else ()
            entries.append(CocoImage(coco_id=n, file_name=file_name, width=None, height=None, points=points, where=where,
                                     objects=objects))
            n += 1
            if progress is not None:
                progress(n, total, "reading labels")
    problems.raise_if_any("refusing to import")
    if set(first.bodyparts) == set(project_schema.keypoints):
        schema = Schema(first.bodyparts, skeleton or project_schema.skeleton, project_schema.flip_pairs)
    else:
        schema = Schema(first.bodyparts, skeleton, ())
    notes.append("DeepLabCut has no visibility: every point with a position was imported as visible")
    parsed = CocoFile(category=first.scorer, schema=schema, images=tuple(entries), notes=tuple(notes), names_category=False)
    return merge_coco_file(project, parsed, path, on_conflict=on_conflict)


__all__ = ["DEFAULT_SCORER", "DlcExportReport", "check_scorer", "config_fragment", "csv_text", "export_dlc",
           "import_dlc", "pandas_available"]
