"""The image list is virtual (tuples, not widgets), filters by status, decodes thumbnails only
for rows on screen; the full-image loader lets the latest request win."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QImage

from labeler.gui.image_list import IdRole, ImageListModel, ImageListPanel
from labeler.gui.image_loader import ImageLoader, ThumbnailLoader


def fake_index(n):
    statuses = ("unlabeled", "partial", "predicted", "reviewed")
    return [(i, f"dir{i // 1000}/img{i:06d}.jpg", statuses[i % 4]) for i in range(1, n + 1)]


def test_hundred_thousand_rows_and_status_filter(qtbot):
    thumbs = ThumbnailLoader(decode=lambda path, size: QImage(size, size, QImage.Format.Format_RGB32))
    panel = ImageListPanel(thumbs)
    panel.model.set_resolver(lambda rel: Path("/nowhere") / rel)
    qtbot.addWidget(panel)
    panel.resize(300, 600)
    panel.show()
    rows = fake_index(100_000)
    started = time.perf_counter()
    panel.set_index(rows, keep=50_000)
    assert time.perf_counter() - started < 1.0
    assert panel.model.rowCount() == 100_000
    assert panel.current_row() == 49_999
    assert "25000 to review" in panel.counts.text().replace("&nbsp;", " ")
    qtbot.waitUntil(lambda: len(thumbs._cache) > 0)
    time.sleep(0.2)
    qtbot.wait(50)
    assert len(thumbs._cache) < 60  # only rows on screen were decoded
    panel.set_filter(("predicted",))
    assert panel.model.rowCount() == 25_000
    assert all(panel.model.row_at(r)[2] == "predicted" for r in (0, 1, 24_999))
    assert panel.model.index(0).data(IdRole) == 2
    thumbs.shutdown()


def test_same_images_update_in_place_keeping_selection(qtbot):
    model = ImageListModel()
    rows = fake_index(10)
    model.set_rows(rows)
    resets, changes = [], []
    model.modelReset.connect(lambda: resets.append(1))
    model.dataChanged.connect(lambda a, b, roles=(): changes.append(a.row()))
    rows[3] = (rows[3][0], rows[3][1], "reviewed")
    model.set_rows(rows)
    assert resets == [] and changes == [3]
    model.set_rows(rows[:5])
    assert resets == [1]


def test_loader_latest_request_wins(qtbot, tmp_path):
    gate = threading.Event()
    decoded = []

    def slow(path):
        decoded.append(path.name)
        if path.name == "a":
            gate.wait(5)
        return QImage(4, 4, QImage.Format.Format_RGB32)

    for name in "abcdefg":
        (tmp_path / name).write_bytes(b"x")  # decodes are cached while the file is unchanged
    loader = ImageLoader(decode=slow)
    got = []
    loader.loaded.connect(lambda ticket, image_id, img: got.append((ticket, image_id)))
    loader.request(1, tmp_path / "a")
    qtbot.waitUntil(lambda: decoded == ["a"])
    for i, name in enumerate("bcdefg", start=2):  # the user pages on while "a" decodes
        last = loader.request(i, tmp_path / name)
    gate.set()
    qtbot.waitUntil(lambda: any(t == last for t, _ in got))
    assert decoded == ["a", "g"]  # b..f were replaced before they started
    assert loader.cached(7, tmp_path / "g") is not None
    (tmp_path / "g").write_bytes(b"changed")
    assert loader.cached(7, tmp_path / "g") is None
    loader.shutdown()


def test_loader_reports_missing_files_and_prefetches(qtbot, tmp_path):
    from labeler.store.testing import write_image

    for name in ("x.png", "y.png"):
        write_image(tmp_path / name, "rgb", (20, 10))
    loader = ImageLoader()
    with qtbot.waitSignal(loader.failed) as failed:
        loader.request(1, tmp_path / "gone.jpg", prefetch=[(2, tmp_path / "x.png"), (3, tmp_path / "y.png")])
    assert "file not found" in failed.args[2] and "gone.jpg" in failed.args[2]
    qtbot.waitUntil(lambda: loader.cached(3, tmp_path / "y.png") is not None)
    assert loader.cached(2, tmp_path / "x.png").width() == 20
    loader.shutdown()


def test_very_large_images_show_a_preview_first(qtbot, tmp_path, monkeypatch):
    """An 8000x6000 JPEG took 3.6 s before anything showed: a screen-sized preview comes first
    (stretched over the image's full size, so points stay where they are), then the full decode."""
    from labeler.gui import image_loader
    from labeler.store.testing import write_image

    monkeypatch.setattr(image_loader, "PREVIEW_PIXELS", 5000)
    monkeypatch.setattr(image_loader, "PREVIEW_SIDE", 50)
    write_image(tmp_path / "big.jpg", "rgb", (200, 100))
    write_image(tmp_path / "small.png", "rgb", (60, 50))
    loader = ImageLoader()
    got = []
    loader.loaded.connect(lambda ticket, image_id, img: got.append((image_id, img.width())))
    loader.request(1, tmp_path / "big.jpg")
    qtbot.waitUntil(lambda: len(got) == 2)
    assert got[0][0] == got[1][0] == 1 and 50 <= got[0][1] < 200 and got[1][1] == 200
    got.clear()
    loader.request(2, tmp_path / "small.png")
    qtbot.waitUntil(lambda: len(got) == 1)
    qtbot.wait(50)
    assert got == [(2, 60)]  # small images: no preview
    loader.shutdown()


def test_search_by_file_name_sort_by_least_confident_and_k_of_k_confirmed(qtbot, make_window, project_path):
    from gui_helpers import wait_shown

    from labeler.gui.image_list import BY_CONFIDENCE, ConfirmedRole
    from labeler.store import Project

    with Project.open(project_path) as p:
        ids = [r[0] for r in p.image_index()]
        p.set_points(ids[0], {"nose": (48, 20), "left_eye": (30, 30), "right_eye": (66, 30), "tail": (48, 66)})
        p.set_points(ids[5], {"nose": (48, 20), "tail": "absent"})  # absent is decided too
        p.write_predictions([(ids[i], {"nose": (20.0, 20.0, c)}) for i, c in ((1, 0.8), (2, 0.1), (3, 0.5))],
                            method="test", model=None)
    window = make_window(project_path)
    wait_shown(qtbot, window)
    panel = window.image_list
    model = panel.model

    def k_of(image_id):
        return model.data(model.index(model.row_of(image_id)), ConfirmedRole)

    assert [k_of(i) for i in ids] == ["4/4", "0/4", "0/4", "0/4", "0/4", "2/4"]
    panel.search.setText("IMG03")  # case does not matter
    assert [r[0] for r in model.rows()] == [ids[3]]
    panel.search.setText("")
    assert model.rowCount() == 6
    panel.set_sort(BY_CONFIDENCE)
    qtbot.waitUntil(lambda: [r[0] for r in model.rows()][:3] == [ids[2], ids[3], ids[1]])
    assert [r[0] for r in model.rows()][3:] == [ids[0], ids[4], ids[5]]  # then the rest by name
    window.show_image(ids[4])
    wait_shown(qtbot, window)
    from gui_helpers import click_image

    click_image(qtbot, window, 30, 30)
    assert k_of(ids[4]) == "1/4"  # follows the edit at once


def test_a_flagged_image_never_says_to_review_in_its_row(qtbot):
    """Issue 23: a flagged image (skip, no object, later) is out of the review queue and not
    counted "to review"; its row says so too, whatever its status, and the panel's counts agree."""
    from labeler.gui.image_list import row_status_words
    from labeler.store import FLAGS_OUT_OF_REVIEW, IMAGE_FLAGS

    statuses = ("unlabeled", "partial", "predicted", "reviewed")
    for status in statuses:
        for flag in (None, *IMAGE_FLAGS):
            words = row_status_words(status, flag)
            assert ("to review" in words) == (status == "predicted" and flag not in FLAGS_OUT_OF_REVIEW), (status, flag)
    thumbs = ThumbnailLoader(decode=lambda path, size: QImage(size, size, QImage.Format.Format_RGB32))
    panel = ImageListPanel(thumbs)
    panel.model.set_resolver(lambda rel: Path("/nowhere") / rel)
    qtbot.addWidget(panel)
    rows = [(i, f"set/img{i}.jpg", statuses[i % 4]) for i in range(1, 13)]
    panel.set_index(rows)
    for image_id, flag in zip((3, 7, 11), sorted(FLAGS_OUT_OF_REVIEW), strict=False):
        panel.set_flag(image_id, flag)
    for row in range(panel.model.rowCount()):
        index = panel.model.index(row)
        flagged = index.data(IdRole) in (3, 7, 11)
        assert ("to review" in index.data(Qt.ItemDataRole.ToolTipRole)) == (not flagged and rows[row][2] == "predicted")
    thumbs.shutdown()


def test_the_review_line_never_says_label_and_propagate_while_predictions_are_held_back():
    """Generated indexes: the review panel's line counts exactly the store's "to review" images;
    with none, predictions held by flagged images are named, never hidden behind "Label an image,
    then Propagate" (what a new project says)."""
    import random

    from labeler.gui.browsing import review_label_text
    from labeler.store import FLAGS_OUT_OF_REVIEW, IMAGE_FLAGS, awaits_review

    rng = random.Random(23)
    statuses = ("unlabeled", "partial", "predicted", "reviewed")
    for _ in range(500):
        rows = [(i, f"img{i}.jpg", rng.choice(statuses)) for i in range(rng.randint(0, 8))]
        flags = {r[0]: rng.choice(IMAGE_FLAGS) for r in rows if rng.random() < 0.4}
        text = review_label_text(rows, flags.get)
        n = sum(awaits_review(r[2], flags.get(r[0])) for r in rows)
        held = sum(r[2] == "predicted" and flags.get(r[0]) in FLAGS_OUT_OF_REVIEW for r in rows)
        assert text.startswith(f"{n} image(s)") if n else text.startswith("No predictions")
        if not n and held:
            assert f"{held} flagged image(s)" in text and "Propagate" not in text
        if "Propagate" in text:
            assert not held and all(r[2] != "reviewed" for r in rows)
