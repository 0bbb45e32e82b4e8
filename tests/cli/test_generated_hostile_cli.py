"""Generated hostile command lines: every run ends with exit 0/1 or with exit 2 and exactly one
``error:`` line, never a traceback and never an internal error.

Commands run in-process (``labeler.cli.main``) on a small real project, with option values and
files drawn from hostile values (huge and non-finite numbers, names that are not UTF-8, NUL
bytes, escapes, folders where files belong, garbage, damaged and altered project files)."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labeler.cli import main
from labeler.store.testing import write_image

NUMBERS = ["99999999999999999999999", "-99999999999999999999999", "-1", "0", "1", "2147483648", "nan", "inf", "-inf", "1e309", "0x10", "1_000"]
TEXTS = ["", " ", "a\udcffb.png", "x\x00y", "\x1b[2J\u202e", "../../etc/passwd", "/", "/dev/null", "a=1,2", "a=nan,nan",
         "a=1e400,2", "a=-5,-5", "a,a", "a-a", "a:a", "x" * 5000, "ü/猫.png", "a.png"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A project with two images and points, plus hostile files beside it."""
    base = tmp_path_factory.mktemp("world")
    root = base / "imgs"
    write_image(root / "a.png", size=(40, 30), seed=1)
    write_image(root / "b.png", size=(40, 30), seed=2)
    project = base / "p.labeler"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["init", str(project), "--images", str(root), "--keypoints", "a,b"]) == 0
        assert main(["label", str(project), "a.png", "a=3,4", "b=5,6"]) == 0
    (base / "garbage.labeler").write_bytes(b"\x00\xff" * 100)
    (base / "empty.labeler").write_bytes(b"")
    (base / "folder.labeler").mkdir()
    for name, sql in (("revision", "UPDATE alembic_version SET version_num = 'zzzz'"),
                      ("trigger", "CREATE TRIGGER t AFTER UPDATE ON point BEGIN DELETE FROM point; END"),
                      ("version", "UPDATE meta SET value = '99999999999999999999999' WHERE key = 'schema_version'")):
        shutil.copy(project, base / f"{name}.labeler")
        conn = sqlite3.connect(base / f"{name}.labeler")
        conn.execute(sql)
        conn.commit()
        conn.close()
    (base / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    (base / "nums.json").write_text(json.dumps({"images": [{"id": 1e400, "file_name": "a.png", "width": -1, "height": "x"}],
                                                "annotations": [{"image_id": 1, "keypoints": [1e308] * 6}],
                                                "categories": [{"id": 1, "keypoints": ["a", "b"]}]}).replace("Infinity", "1e400"))
    (base / "bad.csv").write_text("scorer,me\nbodyparts,a\ncoords,x\n" + "1," * 3000 + "\n")
    (base / "bad.yaml").write_text("a: &a [" + ",".join(["*a"] * 10) + "]\n")
    return base


PROJECTS = ["p", "garbage", "empty", "folder", "revision", "trigger", "version", "missing", "p\udcff"]
FILES = ["deep.json", "nums.json", "bad.csv", "bad.yaml", "garbage.labeler", "folder.labeler", "nothing.json"]


def _argvs(world: Path, project_name: str, value: str, number: str, file_name: str) -> list[list[str]]:
    """Every command's template, filled with one set of hostile values."""
    project = str(world / f"{project_name}.labeler")
    file = str(world / file_name)
    out = tempfile.mkdtemp(dir=world)
    templates = [
        ["review", project, "--limit", number],
        ["review", project, "--by-image", "--limit", number],
        ["status", project],
        ["label", project, value, "a=1,2"],
        ["label", project, "a.png", value],
        ["export", project, "--coco", value if value.strip() else out + "/x.json"],
        ["export", project, "--pairs", out + "/pairs", "--max-pairs", number, "--seed", number],
        ["export", project, "--yolo", out + "/yolo", "--split-ratio", value, "--seed", number],
        ["import", project, "--coco", file],
        ["import", project, "--dlc", file],
        ["import", project, "--yolo", file],
        ["init", out + "/new.labeler", "--images", str(world / "imgs"), "--keypoints", value],
        ["init", out + "/new.labeler", "--images", value, "--keypoints", "a"],
        ["add-images", project, value],
        ["remove-images", project, value],
        ["clear-cache", project],
        ["copy", project, out + "/" + value if "\x00" not in value else value],
    ]
    return templates


def _check(argv: list[str]) -> None:
    out, err = io.StringIO(), io.StringIO()
    # in a folder of its own: a hostile value is often a relative path that a command writes to
    with contextlib.chdir(tempfile.mkdtemp(prefix="labeler-hostile-cwd-")), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    text = err.getvalue()
    assert "Traceback" not in text and "internal error" not in text, (argv, text)
    if code == 2:
        errors = [line for line in text.splitlines() if line.startswith("error:") or ": error:" in line]
        assert len(errors) == 1, (argv, text)
    else:
        assert code in (0, 1), (argv, code, text)


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(
    project=st.one_of(st.just("p"), st.sampled_from(PROJECTS)),
    value=st.one_of(st.sampled_from(NUMBERS + TEXTS), st.text(max_size=20)),
    number=st.one_of(st.sampled_from(NUMBERS), st.integers().map(str)),
    file=st.sampled_from(FILES),
)
def test_hostile_command_lines_end_in_one_error_line(world, project, value, number, file):
    for argv in _argvs(world, project, value, number, file):
        _check(argv)


@pytest.mark.parametrize("i", range(len(NUMBERS + TEXTS)))
def test_every_listed_hostile_value(world, i):
    """Each listed value through three commands (in turn, so every command gets several), on
    the good project."""
    value = (NUMBERS + TEXTS)[i]
    templates = _argvs(world, "p", value, value if value in NUMBERS else "3", FILES[i % len(FILES)])
    for k in range(3):
        _check(templates[(3 * i + k) % len(templates)])


def test_the_reported_cases(world, capsys):
    for argv in (["review", str(world / "p.labeler"), "--limit", "99999999999999999999999"],
                 ["status", str(world / "revision.labeler")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("error:") == 1 and "Traceback" not in err, err


@pytest.mark.parametrize("source", ["--coco", "--yolo", "--dlc", "--sleap"])
def test_every_import_source_takes_hostile_file_names(world, source):
    """The file to import drawn from the hostile texts too (an empty name chose no source and
    reached the DeepLabCut reader as None: an internal error), and from the hostile files."""
    for value in [*TEXTS, *(str(world / f) for f in FILES)]:
        _check(["import", str(world / "p.labeler"), source, value])


def _resolvable(host: str) -> bool:
    try:
        host.encode("idna")
    except UnicodeError:
        return False
    return True


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(host=st.one_of(st.text(min_size=1, max_size=80), st.text(alphabet="ab.", min_size=64, max_size=90))
       .filter(lambda h: h.strip() and "/" not in h and ":" not in h and "://" not in h and not _resolvable(h.strip())))
def test_a_ray_host_no_resolver_takes_is_one_error_line(world, host):
    """``--ray HOST:PORT`` whose host no resolver takes (a label over 63 characters, an empty
    label, a character no host name has): one line before anything is contacted (was an
    internal error from the resolver's encoding; these never reach the network)."""
    _check(["propagate", str(world / "p.labeler"), "--method", "classical", "--ray", f"{host}:6379"])
