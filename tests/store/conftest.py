"""A fresh project over a folder of awkward sample images, per test, on each backend.

Tests that take ``project``/``made`` run twice: on an SQLite file (copied from one template) and
on a PostgreSQL schema of the session's real server (created from the same probed images), so
the two backends cannot drift apart. ``@pytest.mark.sqlite_only`` keeps a test about the file
itself (WAL, file permissions, raw sqlite3 access) on SQLite.
"""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from labeler.store import Project
from labeler.store.relpaths import relative_to_root
from labeler.store.scanning import find_image_files, probe_files
from labeler.store.testing import FLIP_PAIRS, KEYPOINTS, SKELETON, copy_project, make_project

BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("sqlite_only")
        metafunc.parametrize("backend", BACKENDS[:1] if only else BACKENDS)


@pytest.fixture(scope="session")
def _template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("template")
    project, sample = make_project(folder)
    project.close()
    files = find_image_files(sample.root)
    probed, _ = probe_files([(f, relative_to_root(f, sample.root) or f.name) for f in files], progress=False)
    return folder, sample, probed


@pytest.fixture
def made(_template, tmp_path, backend, request):
    folder, template_sample, probed = _template
    if backend == "sqlite":
        project = copy_project(folder, tmp_path)
    else:
        url = request.getfixturevalue("pg_url")
        shutil.copytree(folder / "images", tmp_path / "images")
        project = Project.create(url, tmp_path / "images", KEYPOINTS, SKELETON, FLIP_PAIRS, images=probed, name="test")
    sample = replace(template_sample, root=tmp_path / "images")
    yield project, sample
    project.close()


@pytest.fixture
def where(backend, tmp_path, request):
    """Where a test creates its own project: a new file, or a new schema on the session's server."""
    if backend == "sqlite":
        return tmp_path / "p.labeler"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def made_here(tmp_path):
    """Built in place (its absolute images root is its own), for tests that move files around."""
    project, sample = make_project(tmp_path)
    yield project, sample
    project.close()


@pytest.fixture
def project(made):
    return made[0]


@pytest.fixture
def sample(made):
    return made[1]


@pytest.fixture
def img(project):
    """The id of plain/a.jpg (64 x 48)."""
    return project.image_by_path("plain/a.jpg").id
