"""Every keyboard shortcut of the app, in one declarative table.

The main window makes one QAction per row (menus, toolbar and keys all come from here), and
Help > Shortcuts and the README's table are rendered from the same rows, so what the user reads
is always what the keys do. Key strings are QKeySequence's portable text (Ctrl is Cmd on macOS).
No Qt import here: the table is plain data and testable on its own.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shortcut:
    action: str  # id the main window binds a handler to
    keys: tuple[str, ...]  # first one is shown in menus
    text: str  # menu text
    group: str
    help: str = ""  # one line for the Shortcuts dialog (defaults to ``text``)

    @property
    def description(self) -> str:
        plain = self.text.replace("&&", "\0").replace("&", "").replace("\0", "&")
        return self.help or plain.rstrip(".…")


#: Keys that pick the current keypoint: the i-th key selects the i-th keypoint of the schema.
KEYPOINT_KEYS: tuple[str, ...] = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "0")

SHORTCUTS: tuple[Shortcut, ...] = (
    # -- file
    Shortcut("new_project", ("Ctrl+N",), "&New project…", "File", "New project: pick an image folder, define keypoints"),
    Shortcut("open_project", ("Ctrl+O",), "&Open project…", "File"),
    Shortcut("export_coco", ("Ctrl+E",), "Export &COCO keypoints…", "File"),
    Shortcut("export_spair", ("Ctrl+Shift+E",), "Export &SPair pairs…", "File"),
    Shortcut("quit", ("Ctrl+Q",), "&Quit", "File"),
    # -- navigate
    Shortcut("next_image", ("D", "Right", "PgDown"), "&Next image", "Navigate", "Next image in the list"),
    Shortcut("previous_image", ("A", "Left", "PgUp"), "&Previous image", "Navigate", "Previous image in the list"),
    Shortcut("first_image", ("Home",), "&First image", "Navigate"),
    Shortcut("last_image", ("End",), "&Last image", "Navigate"),
    Shortcut(
        "next_to_review", ("N",), "Next to &review", "Navigate",
        "Next image to review (predictions, least confident first)",
    ),
    # -- label
    Shortcut(
        "select_keypoint", KEYPOINT_KEYS, "Current keypoint 1…10", "Label",
        "Pick the current keypoint (1-9, 0 = 10th, in schema order); then click to place it",
    ),
    Shortcut("next_keypoint", ("E",), "Next keypoint", "Label", "Current keypoint: next one"),
    Shortcut("previous_keypoint", ("Q",), "Previous keypoint", "Label", "Current keypoint: previous one"),
    Shortcut(
        "toggle_occluded", ("O",), "Toggle &occluded", "Label",
        "Mark the keypoint under the mouse (or the current one) occluded / visible again",
    ),
    Shortcut(
        "set_absent", ("X",), "Mark &absent", "Label",
        "Mark the keypoint under the mouse (or the current one) absent from the image (again: unlabelled)",
    ),
    Shortcut(
        "delete_point", ("Delete", "Backspace"), "&Delete point", "Label",
        "Delete the keypoint under the mouse (or the current one): back to unlabelled",
    ),
    Shortcut("swap_pair", ("S",), "&Swap left/right", "Label", "Swap the current keypoint with its left/right counterpart"),
    Shortcut("swap_all_pairs", ("Shift+S",), "Swap &all left/right pairs", "Label", "Swap every left/right pair of this image"),
    Shortcut("flag_skip", ("K",), "S&kip image", "Label", "Skip this image (not labelled, not exported) and go on; again: unskip"),
    Shortcut(
        "flag_no_object", ("Shift+X",), "&No object in image", "Label",
        "The object is not in this image (exported as a COCO negative) and go on; again: clear",
    ),
    Shortcut("flag_later", ("M",), "Flag for &later", "Label", "Mark this image to come back to; again: clear"),
    Shortcut(
        "cycle_point", ("Tab",), "&Cycle stacked points", "Label",
        "Points stacked under the mouse: bring the next one on top (a drag then grabs it)",
    ),
    # -- review
    Shortcut(
        "accept_and_next", ("Space",), "Accept and &next", "Review",
        "Accept the selected object's predictions (low ones as the review panel says), then the image's next object to review, then the next image",
    ),
    Shortcut(
        "accept_all_and_next", ("Shift+Space",), "Accept all, &low ones too, and next", "Review",
        "Accept every prediction of the selected object, also those below the threshold, then its next object or image",
    ),
    Shortcut(
        "accept", ("Return", "Enter"), "&Accept predictions", "Review",
        "Accept this image's predictions (below the review panel's threshold: as its setting says)",
    ),
    Shortcut(
        "next_low_point", ("W",), "Next &low-confidence point", "Review",
        "Zoom to the next prediction below the threshold (this object, the image's next, then the next image)",
    ),
    Shortcut("previous_low_point", ("Shift+W",), "Previous low-confidence point", "Review", "Back to the previous low-confidence point"),
    Shortcut("accept_point", ("C",), "Accept &point", "Review", "Accept the prediction under the mouse (or the current one)"),
    Shortcut(
        "reject_point", ("R",), "&Reject point", "Review",
        "Reject the prediction under the mouse (or the current one): back to unlabelled",
    ),
    Shortcut(
        "reject_point_absent", ("Shift+R",), "Reject point as a&bsent", "Review",
        "Reject the prediction under the mouse (or the current one): the keypoint is not in the image",
    ),
    Shortcut(
        "accept_above", ("Ctrl+Shift+A",), "Accept all &above confidence…", "Review",
        "Accept every prediction at or above a confidence threshold",
    ),
    # -- propagate
    Shortcut("propagate", ("Ctrl+P",), "&Propagate…", "Propagate", "Propagate: predict every image not yet fully confirmed (shows the plan first)"),
    Shortcut(
        "repropagate", ("Ctrl+Shift+P",), "&Re-propagate unreviewed…", "Propagate",
        "Predict unreviewed images again, with every correction as an extra reference",
    ),
    Shortcut("stop_propagation", ("Esc",), "&Stop propagation", "Propagate", "Stop the running propagation (finished batches stay)"),
    # -- edit
    Shortcut("undo", ("Ctrl+Z",), "&Undo", "Edit"),
    Shortcut("redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "&Redo", "Edit"),
    Shortcut("edit_schema", ("Ctrl+K",), "Edit &keypoints…", "Edit", "Edit keypoints, skeleton and left/right pairs"),
    # -- view
    Shortcut("zoom_fit", ("F",), "Zoom to &fit", "View"),
    Shortcut("zoom_actual", ("Ctrl+0",), "&Actual pixels (100%)", "View"),
    Shortcut("zoom_in", ("+", "="), "Zoom &in", "View"),
    Shortcut("zoom_out", ("-",), "Zoom &out", "View"),
    Shortcut("toggle_names", ("L",), "Show keypoint &names", "View", "Show every keypoint's name (hover shows one)"),
    Shortcut(
        "view_options", ("V",), "&View options…", "View",
        "Keypoints shown, skeleton, names, point size, brightness and contrast (display only)",
    ),
    # -- objects (several per image: labeler.gui.instances)
    Shortcut("next_instance", ("I",), "Next &object", "Objects", "Select the image's next object: every edit goes to it"),
    Shortcut("previous_instance", ("Shift+I",), "Previous o&bject", "Objects", "Select the image's previous object"),
    Shortcut("draw_box", ("B",), "Draw &box…", "Objects", "Then drag: the selected object's box (drawn again if it has one)"),
    Shortcut("new_instance", ("Ctrl+B",), "&New object…", "Objects", "A new object on the image, then drag its box"),
    Shortcut("duplicate_instance", ("Ctrl+D",), "&Duplicate object", "Objects", "A copy of the selected object (box and points)"),
    Shortcut("copy_instance_points", ("Shift+C",), "&Copy points from the previous object", "Objects",
             "The previous object's points into the selected one, as a start"),
    Shortcut("delete_instance", ("Shift+Delete",), "De&lete object", "Objects", "Delete the selected object and its points"),
    Shortcut("detect_objects", ("Ctrl+Shift+B",), "&Find objects with a detector…", "Objects",
             "Boxes from a text-prompted detector (OWLv2), to keep, adjust or delete before Propagate"),
    # -- help
    Shortcut("show_shortcuts", ("F1", "?"), "&Keyboard shortcuts", "Help"),
)

GROUPS: tuple[str, ...] = ("File", "Navigate", "Label", "Objects", "Review", "Propagate", "Edit", "View", "Help")

#: Mouse gestures, listed in the same dialog (not bindable, so not in the table above).
MOUSE: tuple[tuple[str, str], ...] = (
    ("Click", "Place the current keypoint there (never moves a confirmed point)"),
    ("Alt+Click", "Place the current keypoint there again, though it is already confirmed"),
    ("Shift+Click", "Place the current keypoint as occluded"),
    ("Drag a point", "Move it; dragging a prediction makes it a correction"),
    ("Right-click a point", "Menu: occluded, absent, delete, swap"),
    ("Wheel", "Zoom at the mouse"),
    ("Middle or right drag, or Ctrl+drag", "Pan"),
)


def by_action() -> dict[str, Shortcut]:
    return {s.action: s for s in SHORTCUTS}


def markdown_table() -> str:
    """The table for the README (keys as typed, grouped)."""
    lines = ["| Keys | Action | Group |", "| --- | --- | --- |"]
    for group in GROUPS:
        for s in SHORTCUTS:
            if s.group == group and s.keys:
                keys = ", ".join(f"`{k}`" for k in s.keys) if s.action != "select_keypoint" else "`1` … `9`, `0`"
                lines.append(f"| {keys} | {s.description} | {group} |")
    for gesture, what in MOUSE:
        lines.append(f"| {gesture} | {what} | Mouse |")
    return "\n".join(lines)
