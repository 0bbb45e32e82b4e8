"""One sample project (every image kind, flip pair left_eye/right_eye), copied per test."""

from __future__ import annotations

import pytest

from labeler.store.testing import copy_project, make_project


@pytest.fixture(scope="session")
def _project_template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("propagation-template")
    project, sample = make_project(folder)
    project.close()
    return folder, sample


@pytest.fixture
def project(_project_template, tmp_path):
    template, _sample = _project_template
    p = copy_project(template, tmp_path / "proj")
    yield p
    p.close()


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Small images and the tiny model gain nothing from torch's intra-op threads, and on a busy
    2-core machine their spin-waiting made these tests ten times slower; restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
