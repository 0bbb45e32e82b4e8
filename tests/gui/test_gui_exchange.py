"""File > Export and File > Import: the menus, YOLO and DeepLabCut exports and imports run in the
background with a progress bar, their summary, a conflict question, and bad files as dialogs."""

from __future__ import annotations

from PyQt6.QtWidgets import QApplication, QMessageBox

from labeler.gui import errors
from labeler.gui.exchange import ExportChoice, ExportDialog
from labeler.store import Project

from gui_helpers import REFERENCE, label_first_image, wait_shown


def _boxes():
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]


def _close_boxes():
    for box in _boxes():
        box.close()


def test_menus_offer_every_format(window):
    export = [a.text() for a in window.exchange.export_menu.actions()]
    assert export == ["Export &COCO keypoints…", "Export &SPair pairs…", "Export &YOLO pose dataset…",
                      "Export &DeepLabCut labelled data…"]
    imports = [a.text() for a in window.exchange.import_menu.actions()]
    assert imports == ["Import &COCO keypoints…", "Import &YOLO pose dataset…", "Import &DeepLabCut labelled data…"]
    file_menu = window.menuBar().actions()[0].menu()
    subs = [a.menu() for a in file_menu.actions() if a.menu() is not None]
    assert window.exchange.export_menu in subs and window.exchange.import_menu in subs
    # the moved export actions keep their shortcuts
    assert window.actions["export_coco"].shortcut().toString() == "Ctrl+E"


def test_export_yolo_and_dlc_then_import_into_another_window(qtbot, make_window, project_path, tmp_path):
    label_first_image(project_path)
    window = make_window(project_path)
    wait_shown(qtbot, window)
    reports = []
    window.exchange.progress.report = lambda d, t, text: reports.append((d, t, text))  # type: ignore[method-assign]
    job = window.exchange.export("yolo", ExportChoice(tmp_path / "yolo", split_train=1.0, images="copy"))
    qtbot.waitUntil(lambda: job.is_finished)
    assert job.error is None, job.error
    assert (tmp_path / "yolo/data.yaml").is_file() and len(list((tmp_path / "yolo/labels/train").iterdir())) == 1
    line, details = window.exchange.last_summary
    assert line.startswith(f"wrote {tmp_path / 'yolo'}: 1 images (train 1), 1 instances, 4 points")
    assert any("yolo pose train data=" in d for d in details)
    assert reports and reports[-1][:2] == (1, 1)  # the progress bar was fed
    assert not window.exchange.progress.isVisible()
    _close_boxes()
    job = window.exchange.export("dlc", ExportChoice(tmp_path / "dlc", scorer="Ana"))
    qtbot.waitUntil(lambda: job.is_finished)
    assert job.error is None, job.error
    assert (tmp_path / "dlc/labeled-data/set/CollectedData_Ana.csv").is_file()
    _close_boxes()

    with Project.open(project_path) as p:  # an unlabelled copy of the same images, no keypoints yet
        fresh_path = tmp_path / "fresh.labeler"
        from labeler.store import find_image_files, probe_files, relative_to_root

        root = p.images_root
        probed = probe_files([(f, relative_to_root(f, root)) for f in find_image_files(root)], progress=False)[0]
        Project.create(fresh_path, root, [], images=probed).close()
    other = make_window(fresh_path)
    job = other.exchange.import_file("dlc", tmp_path / "dlc" / "labeled-data" / "set" / "CollectedData_Ana.csv")
    qtbot.waitUntil(lambda: job.is_finished)
    assert job.error is None, job.error
    assert other.schema.keypoints == ("nose", "left_eye", "right_eye", "tail")  # the window took the new schema
    line, details = other.exchange.last_summary
    assert "1 images matched, 4 points written" in line and "keypoints were taken from the file" in details[0]
    _close_boxes()
    # the same points again from YOLO (six decimals of the image size): nothing changes, nothing asked
    job = other.exchange.import_file("yolo", tmp_path / "yolo" / "data.yaml")
    qtbot.waitUntil(lambda: job.is_finished)
    assert job.error is None and "4 unchanged" in other.exchange.last_summary[0]
    _close_boxes()
    with Project.open(fresh_path) as p:
        first = p.image_index()[0][0]
        assert {n: (r.x, r.y) for n, r in p.points(first).items()} == {n: REFERENCE[n] for n in REFERENCE}


def test_conflicts_are_asked_and_bad_files_are_dialogs(qtbot, make_window, project_path, tmp_path):
    first = label_first_image(project_path)
    window = make_window(project_path)
    job = window.exchange.export("dlc", ExportChoice(tmp_path / "dlc", scorer="Ana"))
    qtbot.waitUntil(lambda: job.is_finished)
    _close_boxes()
    window.project.set_point(first, "nose", 1.0, 1.0)
    csv = tmp_path / "dlc" / "labeled-data" / "set" / "CollectedData_Ana.csv"
    job = window.exchange.import_file("dlc", csv)
    qtbot.waitUntil(lambda: job.is_finished)
    box = window.exchange.conflict_box
    assert box.isVisible() and "1 confirmed point(s) in the file differ" in box.text()
    use_file = next(b for b in box.buttons() if b.text() == "Use the file's")
    use_file.click()
    qtbot.waitUntil(lambda: window.exchange.job.is_finished and window.exchange.last_summary is not None
                    and "1 points written" in window.exchange.last_summary[0])
    assert window.project.points(first)["nose"].x == REFERENCE["nose"][0]
    _close_boxes()

    reporter = errors.reporter()
    shown = len(reporter.shown)
    csv.write_text("not,a,dlc,file\n", encoding="utf-8")
    job = window.exchange.import_file("dlc", csv)
    qtbot.waitUntil(lambda: job.is_finished)
    assert len(reporter.shown) == shown + 1 and "not a DeepLabCut CollectedData file" in str(job.error)
    _close_boxes()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("x")
    job = window.exchange.export("yolo", ExportChoice(tmp_path / "busy"))
    qtbot.waitUntil(lambda: job.is_finished)
    assert "folder is not empty" in str(job.error) and (tmp_path / "busy" / "keep.txt").read_text() == "x"
    job = window.exchange.export("dlc", ExportChoice(tmp_path / "dlc", scorer="Ana"))
    qtbot.waitUntil(lambda: job.is_finished)
    assert 'tick "Replace an earlier labeler export"' in reporter.shown[-1]  # the dialog's words, not the CLI's
    job = window.exchange.export("dlc", ExportChoice(tmp_path / "dlc", scorer="Ana", overwrite=True))
    qtbot.waitUntil(lambda: job.is_finished)
    assert job.error is None
    _close_boxes()


def test_export_dialog_choice(qtbot, tmp_path):
    dialog = ExportDialog("yolo", tmp_path / "out")
    qtbot.addWidget(dialog)
    dialog.train.setValue(0.7)
    dialog.images.setCurrentText("copy")
    dialog.predicted.setChecked(True)
    choice = dialog.choice()
    assert (choice.out, choice.split_train, choice.images, choice.predicted) == (tmp_path / "out", 0.7, "copy", True)
    dlc = ExportDialog("dlc", tmp_path / "d")
    qtbot.addWidget(dlc)
    dlc.scorer.setText("Ana")
    assert dlc.choice().scorer == "Ana"
