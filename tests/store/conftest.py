"""A fresh project over a folder of awkward sample images, per test."""

from __future__ import annotations

import pytest

from labeler.store.testing import make_project


@pytest.fixture
def made(tmp_path):
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
