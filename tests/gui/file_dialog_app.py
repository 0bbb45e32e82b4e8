"""The app in a process of its own, for tests that kill it with -9: opens a project in the main
window (offscreen), then obeys one command per line on stdin and answers on stdout.

- ``dialogs N``: open and close, N rounds, every file dialog of the app (non-native QFileDialog),
  each pointed at the project's folder with the project file selected and all files listed
  (so Qt lists, stats and sniffs the project file and its ``-wal``/``-shm``). Between dialogs,
  an edit: ``committed <image id> <x>`` for each.
- ``edit <image id> <x>``: set the image's nose through the window's project; ``committed ...``.
- ``count``: how many file dialogs ``dialogs`` opens each round.
- ``locks``: ``locks <OFD locks> <POSIX locks>`` this process holds on the project file now.
Run: ``python file_dialog_app.py PROJECT SETTINGS``; it prints ``ready`` when the project is open.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PyQt6.QtCore import Qt, QTimer  # noqa: E402
from PyQt6.QtWidgets import QApplication, QFileDialog  # noqa: E402


def file_dialog_openers(window) -> dict[str, Callable[[], object]]:  # noqa: ANN001 - MainWindow
    """Every place the app opens a QFileDialog, by the code that opens it (one entry per call
    site of ``QFileDialog.`` in labeler/gui; a test checks the count)."""
    from labeler.gui.detection import DetectDialog
    from labeler.gui.exchange import ExportDialog
    from labeler.gui.project_actions import SPairExportDialog
    from labeler.gui.propagate_dialog import PropagateDialog
    from labeler.gui.schema_dialog import NewProjectDialog

    folder = Path(window.project.path).parent
    return {
        "open project": window.files.open_project_dialog,
        "add images": window.files.add_images_dialog,
        "locate images": window.files.locate_images_dialog,
        "export coco": window.exchange.export_coco_dialog,
        "import coco": lambda: window.exchange.import_dialog("coco"),
        "import yolo": lambda: window.exchange.import_dialog("yolo"),
        "import dlc": lambda: window.exchange.import_dialog("dlc"),
        "export yolo/dlc folder": lambda: ExportDialog("yolo", folder / "out", window)._browse(),
        "export spair folder": lambda: SPairExportDialog(folder / "pairs", window)._browse(),
        "new project: images": lambda: NewProjectDialog(window, str(folder))._pick_folder(),
        "new project: file": lambda: NewProjectDialog(window, str(folder))._pick_project(),
        "propagate: model folder": lambda: PropagateDialog(window.project, parent=window)._browse_model(),
        "detect objects: detector folder": lambda: DetectDialog(None, None, window)._browse(),
    }


def run_dialog(app: QApplication, opener: Callable[[], object], project: Path, dwell_ms: int = 250) -> bool:
    """Open one file dialog through ``opener``; point it at the project's folder, select the
    project file, show all files, let Qt's file system model read them, then cancel it."""
    seen = {"dialog": False}

    def poke() -> None:
        dialog = next((w for w in app.topLevelWidgets() if isinstance(w, QFileDialog) and w.isVisible()), None)
        if dialog is None:
            QTimer.singleShot(10, poke)
            return
        seen["dialog"] = True
        dialog.setDirectory(str(project.parent))
        if dialog.fileMode() != QFileDialog.FileMode.Directory:
            dialog.setNameFilters([*dialog.nameFilters(), "All files (*)"])
            dialog.selectNameFilter("All files (*)")
            dialog.selectFile(str(project))
        QTimer.singleShot(dwell_ms, dialog.reject)

    QTimer.singleShot(0, poke)
    opener()  # the app's own code: a modal QFileDialog.get...() that returns when cancelled
    return seen["dialog"]


def own_locks(path: Path) -> tuple[int, int]:
    ino = os.stat(path).st_ino
    ofd = posix = 0
    with open("/proc/locks") as fh:
        for line in fh:
            f = line.split()
            if f[-3].endswith(f":{ino}"):
                if f[1] == "OFDLCK":
                    ofd += 1
                elif f[1] == "POSIX" and f[4] == str(os.getpid()):
                    posix += 1
    return ofd, posix


def main() -> None:
    project_path, settings_path = Path(sys.argv[1]), Path(sys.argv[2])
    QApplication.setAttribute(Qt.ApplicationAttribute.AA_DontUseNativeDialogs, True)
    app = QApplication([])
    from labeler.gui.main_window import MainWindow
    from labeler.gui.settings import AppSettings

    window = MainWindow(AppSettings(settings_path))
    window.show()
    assert window.open_project(project_path)
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "dialogs":
            ids = [i for i, _, _ in window.project.image_index()]
            n = 0
            for _ in range(int(cmd[1])):
                for name, opener in file_dialog_openers(window).items():
                    if not run_dialog(app, opener, project_path):
                        print("no-dialog", name.replace(" ", "_"), flush=True)
                    image, x = ids[n % len(ids)], float(1 + n % 50)
                    window.project.set_point(image, "nose", x, x)
                    print("committed", image, x, flush=True)
                    n += 1
            print("done", flush=True)
        elif cmd[0] == "edit":
            window.project.set_point(int(cmd[1]), "nose", float(cmd[2]), float(cmd[2]))
            print("committed", cmd[1], cmd[2], flush=True)
        elif cmd[0] == "count":
            print("count", len(file_dialog_openers(window)), flush=True)
        elif cmd[0] == "locks":
            print("locks", *own_locks(project_path), flush=True)
        app.processEvents()


if __name__ == "__main__":
    main()
