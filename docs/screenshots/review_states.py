"""Screenshots of the review states at 1024 x 700 (issue 23 §2), taken offscreen with
QWidget.grab(): the window on an image with predictions, W on a low point (bounded zoom, the
file named), the end of an image's low points, a missing file, and the propagate dialog.

    QT_QPA_PLATFORM=offscreen python docs/screenshots/review_states.py docs/screenshots
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_screenshots import build_project  # noqa: E402

SIZE = (1024, 700)


def main(out_dir: str) -> int:
    from labeler.gui.app import create_app
    from labeler.gui.main_window import MainWindow
    from labeler.gui.settings import AppSettings

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="labeler-states-"))
    project_path = build_project(tmp)
    app = create_app(["labeler"])
    window = MainWindow(AppSettings(tmp / "settings.ini"))
    window.resize(*SIZE)
    window.show()
    window.open_project(project_path)

    def settle(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.02)

    def shot(name: str) -> None:
        settle(0.6)
        window.grab().save(str(out / name))

    project = window.project
    ids = {rel: i for i, rel, _ in project.image_index()}
    window.review_panel.threshold_spin.setValue(0.6)
    window.show_image(ids["cat_01_zoom.jpg"])
    settle(1.0)
    shot("review-1024x700.png")
    window.point_review.next_low()
    shot("review-walk-w.png")
    for _ in range(12):  # to the end of this image's low points: what is left is said first
        window.point_review.next_low()
        settle(0.2)
        if "last low point" in window.statusBar().currentMessage():
            break
    shot("review-finish-image.png")
    missing = ids["cat_08_crop.jpg"]
    project.image_path(project.image(missing)).rename(tmp / "moved-away.jpg")
    window.loader.forget()
    window.show_image(missing)
    settle(1.0)
    shot("review-missing-file.png")
    from labeler.gui.propagate_dialog import PropagateDialog
    from labeler.propagation import PropagationConfig

    dialog = PropagateDialog(project, PropagationConfig(), window)
    dialog.show()
    for _ in range(200):
        settle(0.05)
        if dialog.plan is not None:
            break
    settle(0.5)
    dialog.grab().save(str(out / "propagate-dialog-1024x700.png"))
    dialog.close()
    window.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots"))
