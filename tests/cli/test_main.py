"""The CLI frame: help, exit codes, project-file errors, the console entry point."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from labeler import cli as cli_module
from labeler.store import SCHEMA_VERSION


def test_no_command_prints_help(cli):
    r = cli()
    assert r.code == 0 and "init" in r.out and "import" in r.out


def test_help_version_and_usage_errors(cli):
    assert cli("--help").code == 0
    r = cli("--version")
    assert r.code == 0 and "labeler" in r.out
    assert cli("frobnicate").code == 2
    assert cli("label").code == 2  # missing arguments


def test_every_command_module_registers(cli):
    for module in cli_module.COMMANDS:
        name = module.rsplit("cmd_", 1)[1].replace("_", "-")
        assert cli(name, "--help").code == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such project file"),
        (b"not a database at all", "not a labeler project"),
    ],
)
def test_not_a_project(cli, tmp_path, content, message):
    path = tmp_path / "x.labeler"
    if content is not None:
        path.write_bytes(content)
    r = cli("status", path)
    assert r.code == 2 and r.err.startswith("error: ") and message in r.err
    assert "Traceback" not in r.err


def test_newer_project_is_refused(cli, project):
    conn = sqlite3.connect(project)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    r = cli("status", project)
    assert r.code == 2
    assert f"created by a newer labeler (schema 99 > {SCHEMA_VERSION}); upgrade labeler" in r.err


def test_ctrl_c_exits_130(cli, project, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr("labeler.cli.cmd_status.run", interrupted)
    assert cli("status", project).code == 130


def test_python_dash_m_entry_point(project):
    out = subprocess.run([sys.executable, "-m", "labeler", "status", str(project)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "keypoints (4)" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "labeler", "status", str(project) + "x"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ")


def test_damaged_project_is_an_error_line(cli, project):
    """A project damaged after it was opened (bad sectors, a half-copied file) gives one error
    line naming the file, never a traceback."""
    with open(project, "r+b") as fh:
        data = bytearray(fh.read())
        page = int.from_bytes(data[16:18], "big")
        for offset in range(page, len(data), page):  # every page but the schema's: bad page type
            data[offset : offset + 8] = b"\xff" * 8
        fh.seek(0)
        fh.write(data)
    for command in (("status", project), ("review", project), ("export", project, "--coco", project.with_suffix(".json"))):
        r = cli(*command)
        assert r.code == 2, (command, r.err)
        assert r.err.startswith(f"error: {project}: ") and "malformed" in r.err and "Traceback" not in r.err
        assert r.err.count("\n") == 1


def test_environment_errors_are_error_lines(cli, project, monkeypatch):
    import errno

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/some/file")

    monkeypatch.setattr("labeler.cli.cmd_status.run", full)
    r = cli("status", project)
    assert r.code == 2 and r.err == "error: /some/file: No space left on device\n"
