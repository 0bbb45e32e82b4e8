"""The window on a PostgreSQL project: open by URL, user name, conflicts, claims, own images folder."""

from __future__ import annotations

import shutil

import pytest

from gui_helpers import wait_shown
from labeler.store import Project
from labeler.store.copying import copy_project


@pytest.fixture
def db_url(project_path, pg_url):
    copy_project(project_path, pg_url)
    return pg_url


def test_open_a_database_project_with_the_user_in_the_status_bar(qtbot, make_window, settings, db_url, pg_server):
    settings.set_value("team/user", "ann")
    w = make_window(db_url)
    wait_shown(qtbot, w)
    assert w.project.is_database and w.project.user == "ann"
    assert w.team.user_button.text() == "user: ann"
    assert w.team.open_action in w.menuBar().actions()[0].menu().actions()
    # the shown image is claimed by ann; others see it
    with Project.open(db_url, user="bob") as bob:
        claim = bob.claims()[w.current.id]
        assert (claim.user, claim.mine) == ("ann", False)
    w.team.set_user("anna")
    assert settings.value("team/user") == "anna" and w.project.user == "anna"


def test_recent_projects_keep_the_url_without_its_password(qtbot, make_window, settings, db_url):
    secret = db_url.replace("postgres:@", "postgres:hunter2@", 1)
    w = make_window(secret)
    assert "hunter2" not in w.windowTitle() and "postgres:***@" in w.windowTitle()
    assert settings.recent_projects()[0] == db_url.replace("postgres:@", "postgres@", 1)
    w.close_project()
    assert w.open_project(settings.recent_projects()[0])  # and the stored URL opens again
    assert all("hunter2" not in p for p in settings.recent_projects())


def test_an_edit_over_someone_elses_newer_point_is_refused_and_the_image_reloaded(qtbot, make_window, db_url):
    w = make_window(db_url)
    wait_shown(qtbot, w)
    image = w.current.id
    w.set_current_keypoint("nose")
    with Project.open(db_url, user="bob") as bob:
        bob.set_point(image, "nose", 10.0, 10.0)  # after the window loaded the image
    w.labeling.place("nose", 40.0, 30.0, False)
    assert "nose on set/img00.jpg was changed by bob" in w.statusBar().currentMessage()
    assert (w.current_points["nose"].x, w.current_points["nose"].annotator) == (10.0, "bob")  # reloaded
    w.labeling.place("nose", 40.0, 30.0, False)  # now based on bob's version: accepted
    with Project.open(db_url) as p:
        assert p.points(image)["nose"].x == 40.0


def test_each_machine_keeps_its_own_images_folder(qtbot, make_window, settings, db_url, project_path, tmp_path):
    mine = tmp_path / "my mount"
    shutil.copytree(project_path.parent / "images", mine)
    w = make_window(db_url)
    assert w.relocate_images(mine)
    assert settings.images_root(db_url) == str(mine)
    w.close_project()
    with Project.open(db_url) as other_machine:  # the shared project still names the creator's folder
        assert other_machine.images_root != mine
    w.open_project(db_url)
    assert w.project.images_root == mine


def test_open_database_dialog_opens_the_url(qtbot, make_window, db_url, monkeypatch):
    from labeler.gui import team

    w = make_window()
    monkeypatch.setattr(team.OpenDatabaseDialog, "exec", lambda self: (self.url.setText(db_url), 1)[1])
    w.team.open_dialog()
    assert w.project is not None and w.project.location == db_url


def test_an_unreachable_server_is_a_dialog_and_the_app_keeps_running(qtbot, make_window, monkeypatch):
    shown = []
    monkeypatch.setattr("labeler.gui.main_window.show_error", lambda exc, parent=None: shown.append(str(exc)))
    w = make_window()
    assert not w.open_project("postgresql://ann:pw@127.0.0.1:1/lab?schema=x")
    assert shown and "cannot connect to the database server" in shown[0] and "pw@" not in shown[0]
    assert w.project is None


def test_the_image_list_shows_who_else_is_labelling_an_image(qtbot, make_window, db_url):
    from PyQt6.QtCore import Qt

    from labeler.gui.image_list import ClaimRole

    w = make_window(db_url)
    wait_shown(qtbot, w)
    other = w.image_list.model.row_at(3)[0]
    with Project.open(db_url, user="bob") as bob:
        bob.claim_image(other)
    w.team.show_claims()
    index = w.image_list.model.index(3)
    assert index.data(ClaimRole) == "bob"
    assert "being labelled by bob" in index.data(Qt.ItemDataRole.ToolTipRole)
    assert w.image_list.model.index(0).data(ClaimRole) is None  # the window's own claim is not "someone else"


def test_an_annotator_sees_the_name_the_server_records(qtbot, make_window, settings, db_url):
    from labeler.store.roles import grant

    grant(db_url, "gui_role_ann", "annotator")
    settings.set_value("team/user", "somebody_else")
    w = make_window(db_url.replace("postgres:@", "gui_role_ann@", 1))
    wait_shown(qtbot, w)
    assert w.project.user == "gui_role_ann" and w.team.user_button.text() == "user: gui_role_ann (database role)"
    w.team.set_user("rita")  # cannot change what the server records
    assert w.project.user == "gui_role_ann" and "database role gui_role_ann" in w.statusBar().currentMessage()
    claim = w.team.claim_current()
    assert claim is not None and claim.mine and claim.user == "gui_role_ann"
