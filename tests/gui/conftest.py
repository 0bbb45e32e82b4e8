"""A small project (six photos-like images, four keypoints with a flip pair) copied per test,
an isolated settings file, and the main window on it (offscreen Qt, see tests/conftest.py)."""

from __future__ import annotations

import pytest

from labeler.store import Project, find_image_files, probe_files, relative_to_root
from labeler.store.testing import FLIP_PAIRS, KEYPOINTS, SKELETON, copy_project, write_image

N_IMAGES = 6
SIZE = (96, 72)


@pytest.fixture(scope="session")
def gui_template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gui-template")
    root = folder / "images"
    for i in range(N_IMAGES):
        write_image(root / "set" / f"img{i:02d}.jpg", "rgb", SIZE, seed=10 + i)
    files = find_image_files(root)
    probed, _ = probe_files([(f, relative_to_root(f, root)) for f in files], progress=False)
    Project.create(folder / "test.labeler", root, KEYPOINTS, SKELETON, FLIP_PAIRS, images=probed).close()
    return folder


@pytest.fixture
def project_path(gui_template, tmp_path):
    project = copy_project(gui_template, tmp_path / "proj")
    path = project.path
    project.close()
    return path


@pytest.fixture(scope="session")
def matcher_cache():
    """One engine cache for the session, so the tiny model is built once."""
    from labeler.propagation import MatcherCache

    cache = MatcherCache()
    yield cache
    cache.close()


@pytest.fixture
def settings(tmp_path):
    from labeler.gui.settings import AppSettings

    return AppSettings(tmp_path / "settings.ini")


@pytest.fixture
def make_window(qtbot, settings, matcher_cache):
    """Factory: a shown main window (optionally on a project); all are shut down at the end."""
    from labeler.gui.main_window import MainWindow

    made = []

    def make(project=None, *, cache=matcher_cache, settings=settings):
        w = MainWindow(settings, matcher_cache=cache)
        qtbot.addWidget(w, before_close_func=lambda w: w.shutdown())  # no "stop and quit?" question
        w.resize(1100, 760)
        w.show()
        qtbot.waitExposed(w)
        made.append(w)
        if project is not None:
            assert w.open_project(project)
        return w

    yield make
    for w in made:
        w.shutdown()


@pytest.fixture
def window(make_window, project_path):
    return make_window(project_path)


@pytest.fixture(autouse=True)
def no_unexpected_questions(monkeypatch):
    """The low-confidence question is modal: a test that meets it unplanned fails instead of hanging."""
    from labeler.gui.review_panel import LowConfidenceBox

    def refuse(self):
        raise AssertionError(f"unexpected question: {self.text()}")

    monkeypatch.setattr(LowConfidenceBox, "exec", refuse)
