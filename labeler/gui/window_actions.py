"""The window's actions, menus and toolbar, all made from the one shortcut table
(:data:`~labeler.gui.shortcuts.SHORTCUTS`): what a key does is said in one place, and the menus,
the toolbar and Help > Keyboard shortcuts cannot disagree."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import QMenu, QMenuBar, QWidget

from labeler.gui.shortcuts import KEYPOINT_KEYS, SHORTCUTS
from labeler.gui.style import icon
from labeler.gui.window_layout import CompactToolBar

ICONS = {
    "new_project": "new", "open_project": "open", "export_coco": "export", "export_spair": "export",
    "next_image": "next", "previous_image": "prev", "next_to_review": "review", "accept_and_next": "accept",
    "accept": "accept", "propagate": "propagate", "repropagate": "propagate", "stop_propagation": "stop",
    "undo": "undo", "redo": "redo", "zoom_fit": "fit", "toggle_occluded": "occluded", "set_absent": "absent",
    "swap_pair": "swap", "show_shortcuts": "help", "edit_schema": "schema", "accept_point": "accept",
    "reject_point": "absent", "next_low_point": "review",
}
MENUS = ("File", "Edit", "Navigate", "Label", "Objects", "Review", "Propagate", "View", "Help")
#: toolbar buttons (None: a separator) and their short texts
TOOLBAR = ("open_project", None, "previous_image", "next_image", "next_to_review", None, "accept_and_next", None,
           "propagate", "stop_propagation", None, "undo", "redo", None, "zoom_fit", "show_shortcuts")
TOOLBAR_TEXT = {"open_project": "Open", "previous_image": "Previous", "next_image": "Next",
                "next_to_review": "Next to review", "accept_and_next": "Accept && next", "propagate": "Propagate",
                "stop_propagation": "Stop", "undo": "Undo", "redo": "Redo", "zoom_fit": "Fit", "show_shortcuts": "Keys"}


def make_actions(parent: QWidget, handlers: dict[str, Callable[[], None]],
                 select_keypoint: Callable[[int], None]) -> dict[str, QAction]:
    """One QAction per table row (``handlers`` has one per action name), added to ``parent`` with
    window-wide shortcuts: the annotator's hands stay on the keyboard whatever was clicked last."""
    actions: dict[str, QAction] = {}
    for s in SHORTCUTS:
        if s.action == "select_keypoint":
            for i, key in enumerate(s.keys):
                a = QAction(f"Keypoint {i + 1}", parent)
                a.setShortcut(QKeySequence(key))
                a.triggered.connect(lambda _=False, i=i: select_keypoint(i))
                actions[f"select_keypoint_{i + 1}"] = a
            continue
        a = QAction(icon(ICONS[s.action]) if s.action in ICONS else icon("none"), s.text, parent)
        a.setShortcuts([QKeySequence(k) for k in s.keys])
        a.setToolTip(f"{s.description} ({', '.join(s.keys)})")
        a.setStatusTip(s.description)
        handler = handlers[s.action]
        a.triggered.connect(lambda _=False, h=handler: h())
        actions[s.action] = a
    for a in actions.values():
        parent.addAction(a)
        a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    return actions


def make_menus(bar: QMenuBar, actions: dict[str, QAction], after_open: Sequence[QAction | QMenu]) -> dict[str, QMenu]:
    """The menus in the table's order; ``after_open`` follows File > Open project."""
    menus = {group: bar.addMenu(f"&{group}") for group in MENUS}
    for s in SHORTCUTS:
        if s.action == "select_keypoint":
            continue
        menu = menus[s.group]
        if s.action == "quit":
            menu.addSeparator()
        menu.addAction(actions[s.action])
        if s.action == "open_project":
            for item in after_open:
                menu.addMenu(item) if isinstance(item, QMenu) else menu.addAction(item)
            menu.addSeparator()
    keys = QMenu("Current &keypoint", bar)
    for i in range(len(KEYPOINT_KEYS)):
        keys.addAction(actions[f"select_keypoint_{i + 1}"])
    menus["Label"].insertMenu(menus["Label"].actions()[0], keys)
    return menus


def make_toolbar(parent: QWidget, actions: dict[str, QAction]) -> CompactToolBar:
    tb = CompactToolBar("Main", parent)
    tb.setObjectName("main_toolbar")
    tb.setMovable(False)
    for name, text in TOOLBAR_TEXT.items():
        actions[name].setIconText(text)
    for name in TOOLBAR:
        if name is None:
            tb.addSeparator()
        else:
            tb.addAction(actions[name])
    return tb
