"""Run the CLI in-process; a sample image folder per test (copied from one template)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace

import pytest

from labeler.cli import main
from labeler.store.testing import make_image_folder


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):
    def run(*args: object) -> Result:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def _images_template(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("cli-template") / "images", broken=True)


@pytest.fixture
def images(_images_template, tmp_path):
    """A folder (spaces and unicode in its name) with every image kind, and three broken files."""
    root = tmp_path / "my images ü"
    shutil.copytree(_images_template.root, root)
    return replace(_images_template, root=root)


@pytest.fixture
def project(cli, images, tmp_path):
    """Path of a project made with `labeler init` over ``images``."""
    path = tmp_path / "birds.labeler"
    result = cli("init", path, "--images", images.root, "--keypoints", "nose,left_eye,right_eye,tail",
                 "--skeleton", "nose-left_eye,nose-right_eye", "--flip", "left_eye:right_eye")
    assert result.code == 1, result.err  # the sample folder holds 3 unreadable files (listed)
    return path
