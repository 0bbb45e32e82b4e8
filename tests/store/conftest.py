"""A fresh project over a folder of awkward sample images, per test (copied from one template)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from labeler.store.testing import copy_project, make_project


@pytest.fixture(scope="session")
def _template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("template")
    project, sample = make_project(folder)
    project.close()
    return folder, sample


@pytest.fixture
def made(_template, tmp_path):
    folder, template_sample = _template
    project = copy_project(folder, tmp_path)
    sample = replace(template_sample, root=tmp_path / "images")
    yield project, sample
    project.close()


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
