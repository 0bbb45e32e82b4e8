"""A real PostgreSQL server stopped under an open window, then started again: one banner, no
dialogs, edits refused visibly, and the window back to normal when the server returns."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from gui_helpers import wait_shown
from labeler.gui.errors import reporter
from labeler.store import Project
from labeler.store.copying import copy_project


@pytest.fixture(scope="module")
def own_server():
    """A server of this module's own (the session's must keep running): (url, stop, start);
    each test leaves it running."""
    import pgserver
    from pgserver._commands import pg_ctl

    folder = Path(tempfile.mkdtemp(prefix="labeler-pg-gone-"))
    data = folder / "data"
    server = pgserver.get_server(data, cleanup_mode="stop")
    user = "pgserver" if os.geteuid() == 0 else None
    socket_dir = Path(server.get_uri().split("host=", 1)[1].split("&", 1)[0])

    def stop() -> None:
        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=data, user=user)

    def start() -> None:
        pg_ctl(["-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(data / "log"), "start"], pgdata=data, user=user)

    try:
        yield server.get_uri(), stop, start
    finally:
        try:
            stop()
        except Exception:  # noqa: BLE001 - already stopped
            pass
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def test_a_server_that_goes_away_is_one_banner_and_the_window_recovers(qtbot, make_window, project_path, own_server):
    base, stop, start = own_server
    url = base + "&schema=gone"
    copy_project(project_path, url)
    w = make_window(url)
    wait_shown(qtbot, w)
    w.connection.timer.setInterval(200)
    image = w.current.id
    w.set_current_keypoint("nose")
    dialogs_before = len(reporter().shown)
    stop()
    qtbot.waitUntil(lambda: w.connection.down, timeout=10_000)
    assert w.connection.bar.isVisible() and "cannot be reached" in w.connection.banner.text()
    w.labeling.place("nose", 40.0, 30.0, False)  # a write while it is gone: refused, and said so
    assert "database server" in w.statusBar().currentMessage()
    w.refresh_index()
    w.team.claim_current()
    qtbot.wait(800)  # many probes, polls and refreshes fail meanwhile
    assert len(reporter().shown) == dialogs_before  # not one dialog
    banners = [b for b in w.findChildren(type(w.connection.bar)) if b.objectName() == "connectionBar"]
    assert len(banners) == 1 and banners[0].isVisible()
    start()
    qtbot.waitUntil(lambda: not w.connection.down, timeout=15_000)
    assert not w.connection.bar.isVisible()
    w.labeling.place("nose", 41.0, 31.0, False)  # saved again
    with Project.open(url) as p:
        assert p.points(image)["nose"].x == 41.0


def test_labeler_gui_opens_a_database_url(monkeypatch):
    import labeler.gui.app as app_module
    from labeler import cli
    from labeler.gui import platform_check

    calls = []
    monkeypatch.setattr(platform_check, "check_platform", lambda: None)
    monkeypatch.setattr(app_module, "run_app", lambda project=None: calls.append(project) or 0)
    url = "postgresql://ann@db.example/lab?schema=birds"
    assert cli.main(["gui", url]) == 0 and calls == [url]


def test_a_database_project_stays_in_the_recent_list_while_its_server_is_down(qtbot, make_window, settings):
    url = "postgresql://ann@127.0.0.1:1/lab?schema=birds"  # nothing listens there
    settings.add_recent(url)
    w = make_window()
    assert not w.open_project(url)  # one clear error ...
    assert settings.recent_projects() == [url]  # ... and still listed, for when the server is back
