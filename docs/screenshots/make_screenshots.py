"""Make the README screenshots: the real app under a virtual X display (xcb), captured with
ImageMagick's ``import -window root``.

    Xvfb :99 -screen 0 1280x800x24 &
    DISPLAY=:99 python docs/screenshots/make_screenshots.py docs/screenshots

review.png, propagating.png, propagate-dialog.png, then review-panel.png (a point-by-point
walk), stacked-points.png (Tab over two predictions on one spot) and image-flags.png.

Builds a demo project from scikit-image's photo of a cat (warped copies: zoomed, shifted,
mirrored, rotated, darker), labels one image, propagates with the weight-free classical
matcher, accepts one image and corrects one point, then photographs the window.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageEnhance

KEYPOINTS = ("left_eye", "right_eye", "nose", "left_ear", "right_ear")
SKELETON = (("left_eye", "right_eye"), ("left_eye", "nose"), ("right_eye", "nose"),
            ("left_ear", "left_eye"), ("right_ear", "right_eye"))
FLIPS = (("left_eye", "right_eye"), ("left_ear", "right_ear"))
#: On skimage's chelsea (451 x 300); "left" is the cat's left.
REFERENCE = {"left_eye": (316.0, 137.0), "right_eye": (171.0, 113.0), "nose": (262.0, 238.0),
             "left_ear": (372.0, 22.0), "right_ear": (58.0, 14.0)}


def demo_images(folder: Path) -> None:
    from skimage import data

    cat = Image.fromarray(data.chelsea())
    w, h = cat.size
    variants = {
        "cat_00_reference.jpg": cat,
        "cat_01_zoom.jpg": cat.crop((40, 20, w - 30, h - 10)).resize((w, h)),
        "cat_02_shift.jpg": cat.crop((0, 0, w - 50, h - 25)),
        "cat_03_mirror.jpg": cat.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        "cat_04_rotate.jpg": cat.rotate(8, resample=Image.Resampling.BICUBIC, expand=False),
        "cat_05_dark.jpg": ImageEnhance.Brightness(cat).enhance(0.6),
        "cat_06_small.jpg": cat.resize((w * 2 // 3, h * 2 // 3)),
        "cat_07_tilt.jpg": cat.rotate(-10, resample=Image.Resampling.BICUBIC, expand=False),
        "cat_08_crop.jpg": cat.crop((60, 40, w, h)),
    }
    for name, im in variants.items():
        im.save(folder / name, quality=92)


def build_project(root: Path) -> Path:
    from labeler.propagation import PropagationConfig, propagate
    from labeler.store import Project, find_image_files, probe_files, relative_to_root

    images = root / "cats"
    images.mkdir(parents=True)
    demo_images(images)
    probed, _ = probe_files([(f, relative_to_root(f, images)) for f in find_image_files(images)], progress=False)
    path = root / "cats.labeler"
    with Project.create(path, images, KEYPOINTS, SKELETON, FLIPS, images=probed, name="cats") as p:
        ids = {rel: i for i, rel, _ in p.image_index()}
        p.set_points(ids["cat_00_reference.jpg"], REFERENCE)
        propagate(p, PropagationConfig(method="classical", device="cpu"))
        p.accept_predictions([ids["cat_05_dark.jpg"]])
        nose = p.points(ids["cat_02_shift.jpg"])["nose"]
        p.correct_point(ids["cat_02_shift.jpg"], "nose", nose.x + 2.0, nose.y - 1.0)
    return path


def capture(out: Path) -> None:
    subprocess.run(["import", "-window", "root", str(out)], check=True)
    # 256 colours without dithering: a third of the size, no visible banding on these photos
    subprocess.run(["convert", str(out), "-strip", "+dither", "-colors", "256", f"PNG8:{out}"], check=True)


def main(out_dir: str) -> int:
    from labeler.gui.app import create_app
    from labeler.gui.main_window import MainWindow
    from labeler.gui.settings import AppSettings

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="labeler-shots-"))
    project = build_project(tmp)
    app = create_app(["labeler"])
    window = MainWindow(AppSettings(tmp / "settings.ini"))
    window.setGeometry(0, 0, 1280, 800)
    window.show()
    window.open_project(project)

    def settle(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.02)

    settle(1.5)
    window.browser.next_to_review()  # the least confident prediction first
    window.browser.next_to_review()
    window.set_current_keypoint("nose")
    window.actions["toggle_names"].trigger()  # L: every keypoint's name
    settle(1.5)
    capture(out / "review.png")
    window.actions["toggle_names"].trigger()

    from labeler.propagation import PropagationConfig

    window.show_image(window.image_list.model.row_at(0)[0])
    settle(1.0)
    window.start_propagation(PropagationConfig(method="classical", device="cpu", force=True, batch_size=1))
    for _ in range(400):
        settle(0.05)
        ev = window.progress.last_event
        if ev is not None and ev.stage == "predicting" and ev.done >= 3:
            break
    capture(out / "propagating.png")
    while window.runner.running:
        settle(0.1)
    from labeler.gui.propagate_dialog import PropagateDialog

    dialog = PropagateDialog(window.project, PropagationConfig(), window)
    dialog.move(240, 90)
    dialog.show()
    for _ in range(200):
        settle(0.05)
        if dialog.plan is not None:
            break
    settle(0.5)
    capture(out / "propagate-dialog.png")
    dialog.close()
    settle(0.3)
    review_shots(window, out, settle)
    window.shutdown()
    return 0


def review_shots(window, out: Path, settle) -> None:  # noqa: ANN001
    """The review panel during a point-by-point walk, stacked predictions, and image flags."""
    from labeler.store import FLAG_LATER, FLAG_NO_OBJECT, FLAG_SKIP

    project = window.project
    ids = {rel: i for i, rel, _ in project.image_index()}
    # the walk: W goes to the least confident point and zooms to it
    window.review_panel.threshold_spin.setValue(0.6)
    window.show_image(ids["cat_00_reference.jpg"])
    settle(0.8)
    window.point_review.next_low()
    settle(1.2)
    capture(out / "review-panel.png")

    # stacked predictions: two keypoints predicted almost on the same spot
    target = ids["cat_06_small.jpg"]
    project.write_predictions(
        [(target, {"left_eye": (210.0, 92.0, 0.35), "nose": (214.0, 95.0, 0.85), "right_eye": (115.0, 76.0, 0.6)})],
        method="classical", model=None,
    )
    window.show_image(target)
    settle(0.8)
    canvas = window.canvas
    canvas.fit()
    canvas.zoom_by(1.5)
    canvas.centerOn(200.0, 110.0)
    settle(0.3)
    from PyQt6.QtCore import QPointF

    canvas._mouse = canvas.mapFromScene(QPointF(212.0, 93.5))
    window.labeling.cycle_point()  # Tab: the one under the other comes on top (its name shows)
    settle(1.0)
    capture(out / "stacked-points.png")

    # image flags: one key each; the list shows a badge and counts, and filters each
    project.set_image_flag(ids["cat_03_mirror.jpg"], FLAG_SKIP)
    project.set_image_flag(ids["cat_07_tilt.jpg"], FLAG_NO_OBJECT)
    project.set_image_flag(ids["cat_04_rotate.jpg"], FLAG_LATER)
    window.canvas.fit()
    window.refresh_index()
    settle(1.0)
    window.show_image(ids["cat_04_rotate.jpg"])
    window.session.say("cat_04_rotate.jpg: flagged for later (filter the list: Flagged for later)")
    settle(1.0)
    capture(out / "image-flags.png")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots"))
