"""The shortcut table is consistent and drives the window; `labeler gui` checks the platform
first; bare `labeler` opens the window."""

from __future__ import annotations

import sys

import pytest
from PyQt6.QtGui import QKeySequence

from labeler import cli
from labeler.gui import platform_check
from labeler.gui.shortcuts import GROUPS, KEYPOINT_KEYS, SHORTCUTS, markdown_table


def test_every_key_is_bound_once_and_parses():
    seen = {}
    for s in SHORTCUTS:
        assert s.group in GROUPS and s.keys
        for k in s.keys:
            seq = QKeySequence(k)
            assert seq.count() == 1, k
            normal = seq.toString()
            assert normal not in seen, f"{k} bound to {seen.get(normal)} and {s.action}"
            seen[normal] = s.action


def test_window_has_an_action_for_every_row(window):
    for s in SHORTCUTS:
        if s.action == "select_keypoint":
            for i, k in enumerate(KEYPOINT_KEYS):
                assert window.actions[f"select_keypoint_{i + 1}"].shortcut() == QKeySequence(k)
        else:
            assert [q.toString() for q in window.actions[s.action].shortcuts()] == [QKeySequence(k).toString() for k in s.keys]


def test_markdown_table_lists_everything():
    table = markdown_table()
    for s in SHORTCUTS:
        assert s.description in table
    assert table.splitlines()[0] == "| Keys | Action | Group |"


def test_the_readme_shows_exactly_the_shortcut_table():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert markdown_table().rstrip("\n") + "\n\n" in readme


def test_missing_xcb_libraries_are_named_with_the_install_command():
    missing = {"libxcb-cursor.so.0", "libxkbcommon-x11.so.0"}
    problem = platform_check.check_platform(
        platform="linux", env={"DISPLAY": ":0"}, can_load=lambda lib: lib not in missing, plugin_check=lambda: [],
    )
    assert problem is not None
    assert "libxcb-cursor.so.0" in problem.message and "libxkbcommon-x11.so.0" in problem.message
    assert "sudo apt-get install libxcb-cursor0 libxkbcommon-x11-0" in problem.message
    ok = platform_check.check_platform(platform="linux", env={"DISPLAY": ":0"}, can_load=lambda lib: True,
                                       plugin_check=lambda: [])
    assert ok is None
    for env in ({"QT_QPA_PLATFORM": "offscreen"}, {"WAYLAND_DISPLAY": "wayland-0"}):
        assert platform_check.check_platform(platform="linux", env=env, can_load=lambda lib: False) is None
    assert platform_check.check_platform(platform="darwin", env={}, can_load=lambda lib: False) is None
    no_display = platform_check.check_platform(platform="linux", env={}, can_load=lambda lib: True, plugin_check=lambda: [])
    assert "DISPLAY is not set" in no_display.message and "xvfb-run" in no_display.message
    extra = platform_check.check_platform(platform="linux", env={"DISPLAY": ":0"}, can_load=lambda lib: True,
                                          plugin_check=lambda: ["libweird.so.3"])
    assert "libweird.so.3" in extra.message


def test_labeler_gui_reports_the_platform_problem(monkeypatch, capsys):
    monkeypatch.setattr(platform_check, "check_platform",
                        lambda: platform_check.PlatformProblem("missing: libxcb-cursor.so.0\n  sudo apt-get install libxcb-cursor0"))
    assert cli.main(["gui"]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: missing: libxcb-cursor.so.0") and "apt-get install libxcb-cursor0" in err


def test_labeler_gui_refuses_a_missing_project(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(platform_check, "check_platform", lambda: None)
    assert cli.main(["gui", str(tmp_path / "nope.labeler")]) == cli.EXIT_ERROR
    assert "no such project file" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "opens"), [(["labeler"], True), (["labeler", "--version"], False)])
def test_bare_labeler_opens_the_window(monkeypatch, capsys, argv, opens):
    import labeler.gui.app as app_module

    calls = []
    monkeypatch.setattr(platform_check, "check_platform", lambda: None)
    monkeypatch.setattr(app_module, "run_app", lambda project=None: calls.append(project) or 0)
    monkeypatch.setattr(sys, "argv", argv)
    assert cli.main() == 0
    assert calls == ([None] if opens else [])
    assert cli.main([]) == 0 and not calls[1:]  # called as a function with no arguments: help
    assert "gui" in capsys.readouterr().out


def test_every_key_of_the_table_reaches_its_action_from_any_focus(qtbot, window):
    """Pressing each key (as typed, with the canvas, the image list or the filter focused)
    triggers exactly its row's action: no key is swallowed by a widget or made ambiguous."""
    from gui_helpers import wait_shown
    from PyQt6.QtTest import QTest

    wait_shown(qtbot, window)
    fired: list[str] = []
    for name, action in window.actions.items():
        action.triggered.disconnect()  # record instead of acting (some rows open dialogs)
        action.triggered.connect(lambda _=False, n=name: fired.append(n))
        action.setEnabled(True)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    for target in (window.canvas, window.image_list.view, window.image_list.filter):
        target.setFocus()
        for s in SHORTCUTS:
            for i, k in enumerate(s.keys):
                expected = f"select_keypoint_{i + 1}" if s.action == "select_keypoint" else s.action
                seq = QKeySequence(k)[0]
                fired.clear()
                QTest.keyClick(target, seq.key(), seq.keyboardModifiers())
                assert fired == [expected], f"{k} with {type(target).__name__} focused: {fired}"
