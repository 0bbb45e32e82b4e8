"""The main window: it composes; each feature is a controller.

The window builds the widgets (image list | canvas | keypoints and review, status bar), the
actions from the one shortcut table, and these controllers, each a QObject given the
:class:`~labeler.gui.session.Session` (the open project, what is on screen, messages) and the
widgets it works on:

- :class:`~labeler.gui.browsing.Browser`: which image is on screen; the list and store kept in step;
- :class:`~labeler.gui.labeling.Labeling`: placing/editing points, undo/redo, accepting predictions
  (with :class:`~labeler.gui.point_review.PointReview`, the low-confidence walk);
- :class:`~labeler.gui.image_flags.ImageFlags`: skip / no object / later;
- :class:`~labeler.gui.propagation_control.PropagationControl`: propagate, re-propagate, stop;
- :class:`~labeler.gui.project_files.ProjectFiles`: new/open/add images/locate folder/keypoints;
- :class:`~labeler.gui.exchange.Exchange`: File > Export and Import;
- :class:`~labeler.gui.project_actions.ProjectActions`: remove images, clear the cache;
- :class:`~labeler.gui.team.Team`: database projects (user, claims).

Opening and closing a project is the window's own job: it hands the project to all of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QAction, QCloseEvent
from PyQt6.QtWidgets import QCheckBox, QDockWidget, QLabel, QMainWindow, QMenu, QMessageBox, QVBoxLayout, QWidget

from labeler.errors import LabelerError
from labeler.gui import background
from labeler.gui.browsing import Browser
from labeler.gui.canvas import Canvas
from labeler.gui.connection import ConnectionWatch
from labeler.gui.editing import Editor
from labeler.gui.errors import show_error
from labeler.gui.exchange import Exchange
from labeler.gui.help_dialog import ShortcutsDialog
from labeler.gui.instances import Instances
from labeler.gui.image_flags import ImageFlags
from labeler.gui.image_list import BY_CONFIDENCE, ImageListPanel, fetch_listing
from labeler.gui.image_loader import ImageLoader, ThumbnailLoader
from labeler.gui.keypoint_panel import KeypointPanel
from labeler.gui.labeling import Labeling
from labeler.gui.progress_panel import ProgressPanel
from labeler.gui.project_actions import ProjectActions
from labeler.gui.project_files import ProjectFiles
from labeler.gui.propagation_control import PropagationControl
from labeler.gui.review import ReviewNavigator
from labeler.gui.review_panel import ReviewPanel
from labeler.gui.run_log import RunLog
from labeler.gui.session import Session
from labeler.gui.settings import AppSettings, where
from labeler.gui.style import icon
from labeler.gui.team import Team
from labeler.gui.team import title as team_title
from labeler.gui.view_options import restore_view
from labeler.gui.window_actions import make_actions, make_menus, make_toolbar
from labeler.gui.window_layout import dock_widths, fit_docks
from labeler.gui.worker import PropagationRunner
from labeler.propagation import MatcherCache
from labeler.store import FLAG_LATER, FLAG_NO_OBJECT, FLAG_SKIP, Project, Schema
from labeler.store.location import is_url

log = logging.getLogger(__name__)

WELCOME = (
    "File > New project (Ctrl+N): pick a folder of images and name the keypoints.\n"
    "File > Open project (Ctrl+O) to continue. Help > Keyboard shortcuts (F1)."
)
STATUS_MS = 6000


def _shared(name: str) -> property:
    """The window's view of a :class:`Session` attribute (read and written there)."""
    return property(lambda self: getattr(self.session, name), lambda self, v: setattr(self.session, name, v))


class MainWindow(QMainWindow):
    project = _shared("project")
    schema = _shared("schema")
    editor = _shared("editor")
    navigator = _shared("navigator")
    current = _shared("current")
    current_points = _shared("current_points")
    current_keypoint = _shared("current_keypoint")
    undo_stack = _shared("undo_stack")
    history_job = _shared("history_job")
    schema_job = _shared("schema_job")

    def __init__(
        self,
        settings: AppSettings | None = None,
        *,
        matcher_cache: MatcherCache | None = None,
        thumbnails: bool = True,
    ) -> None:
        super().__init__()
        self.settings = settings or AppSettings()
        self.setWindowTitle("labeler")
        self.setWindowIcon(icon("app"))
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        if screen is not None and not screen.isEmpty():
            self.resize(min(1400, int(screen.width() * 0.92)), min(880, int(screen.height() * 0.9)))
        else:
            self.resize(1400, 880)
        self.shut_down_cleanly = True
        self._error_shown = False  # the status bar shows an error (cleared when the image changes)
        self.view_dialog: QWidget | None = None  # View options (non-modal)
        self.session = Session(self)  # the project, what is on screen, messages: shared with the controllers
        self.session.message.connect(lambda text, error: self._message(text, error=error))
        self.loader = ImageLoader()
        self.thumbs = ThumbnailLoader() if thumbnails else None
        self.runner = PropagationRunner(matcher_cache, self)

        self._build_widgets()
        self._build_controllers()
        restore_view(self.canvas, self.settings)
        self.canvas.set_hint(WELCOME)
        self._build_actions()
        self._build_menus_and_toolbar()
        self.propagation.attach(self.actions, self.review_buttons["repropagate"])
        self._restore_layout()
        self._update_enabled()

    # ------------------------------------------------------------------------------ building
    def _build_widgets(self) -> None:
        self.canvas = Canvas(self)
        self.setCentralWidget(self.canvas)
        self.canvas.refused.connect(lambda text: self._message(text, error=True))
        self.canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))

        self.image_list = ImageListPanel(self.thumbs)
        left = QDockWidget("Images", self)
        left.setObjectName("images_dock")
        left.setWidget(self.image_list)
        left.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, left)

        self.keypoints = KeypointPanel()
        review = self.review_panel = ReviewPanel(self.settings)
        self.review_label = review.summary
        self.review_buttons = review.buttons
        self.advance_box = QCheckBox("Auto-advance keypoint")
        self.advance_box.setToolTip("After placing a keypoint, the next unlabelled one becomes current")
        self.advance_box.setChecked(True)
        self.advance_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.keypoints, 1)
        side_layout.addWidget(self.advance_box)
        side_layout.addWidget(review)
        right = QDockWidget("Keypoints", self)
        right.setObjectName("keypoints_dock")
        right.setWidget(side)
        right.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, right)
        # the canvas gets most of a small screen (window_layout.dock_widths)
        self.resizeDocks([left, right], list(dock_widths(self.width())), Qt.Orientation.Horizontal)
        self.docks = (left, right)

        self.run_log = RunLog()
        log_dock = QDockWidget("Run log", self)
        log_dock.setObjectName("run_log_dock")
        log_dock.setWidget(self.run_log)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, log_dock)
        log_dock.hide()  # View > Run log
        self.log_dock = log_dock

        bar = self.statusBar()
        self.image_label = QLabel("")
        self.cursor_label = QLabel("")
        self.cursor_label.setObjectName("muted")
        self.zoom_label = QLabel("")
        self.zoom_label.setObjectName("muted")
        self.progress = ProgressPanel()
        bar.addWidget(self.image_label, 1)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cursor_label)
        bar.addPermanentWidget(self.zoom_label)

    def _build_controllers(self) -> None:
        s = self.session
        self.browser = Browser(s, self.canvas, self.image_list, self.keypoints, self.loader, self.thumbs,
                               self.settings, image_label=self.image_label, cursor_label=self.cursor_label,
                               review_label=self.review_label)
        self.labeling = Labeling(s, self.canvas, self.keypoints, self.progress, self.settings, self.browser,
                                 self.review_panel)
        self.point_review = self.labeling.review
        self.advance_box.toggled.connect(lambda on: setattr(self.labeling, "auto_advance", on))
        self.image_flags = ImageFlags(s, self.image_list)
        self.image_flags.changed.connect(self.browser.flag_changed)
        self.propagation = PropagationControl(s, self.runner, self.progress, self.run_log, self.settings)
        self.propagation.predicted.connect(self.browser.predicted)
        self.propagation.ended.connect(self.browser.restart_queue)
        self.progress.stop_clicked.connect(self.propagation.stop)
        self.files = ProjectFiles(s, self.progress, self.settings, self.runner, self.open_project)
        self.files.relocated.connect(self._relocated)
        self.project_actions = ProjectActions(s, self.image_list, self.progress, self.runner)
        # database projects: user name, claims, per-machine images folder
        self.team = Team(s, self.settings, self.statusBar(), self.image_list)
        self.team.open_requested.connect(self.open_project)
        self.browser.shown.connect(lambda _: self.team.claim_current())
        self.browser.shown.connect(lambda _: self._message("") if self._error_shown else None)  # a stale error
        self.exchange = Exchange(s, self.statusBar())  # File > Export and File > Import
        self.instances = Instances(s, self.canvas, self.browser)  # several objects per image
        self.connection = ConnectionWatch(s, self)  # a database server gone: one banner; back: reload
        # the verbs scripts and tests call on the window
        self.show_image, self.step_image = self.browser.show_image, self.browser.step_image
        self.refresh_current, self.refresh_index = self.browser.refresh_current, self.browser.refresh_index
        self.set_current_keypoint = self.labeling.set_current_keypoint
        self.start_propagation = self.propagation.start
        self.create_project, self.relocate_images = self.files.create_project, self.files.relocate_images
        self.change_schema = self.files.change_schema
        self.export_coco, self.export_spair = self.exchange.export_coco, self.exchange.export_spair

    def _build_actions(self) -> None:
        target = self.labeling.target_keypoint
        handlers: dict[str, Callable[[], None]] = {
            "new_project": self.files.new_project_dialog,
            "open_project": self.files.open_project_dialog,
            "export_coco": self.exchange.export_coco_dialog,
            "export_spair": self.exchange.export_spair_dialog,
            "quit": self.close,
            "next_image": lambda: self.browser.step_image(1),
            "previous_image": lambda: self.browser.step_image(-1),
            "first_image": lambda: self.browser.jump_image(0),
            "last_image": lambda: self.browser.jump_image(-1),
            "next_to_review": self.browser.next_to_review,
            "next_keypoint": lambda: self.labeling.step_keypoint(1),
            "previous_keypoint": lambda: self.labeling.step_keypoint(-1),
            "toggle_occluded": lambda: self.labeling.point_edit("toggle_occluded"),
            "set_absent": lambda: self.labeling.point_edit("toggle_absent"),
            "delete_point": lambda: self.labeling.point_edit("delete"),
            "swap_pair": self.labeling.swap_pair,
            "swap_all_pairs": self.labeling.swap_all_pairs,
            "cycle_point": self.labeling.cycle_point,
            "flag_skip": lambda: self.image_flags.toggle(FLAG_SKIP),
            "flag_no_object": lambda: self.image_flags.toggle(FLAG_NO_OBJECT),
            "flag_later": lambda: self.image_flags.toggle(FLAG_LATER),
            "next_low_point": self.point_review.next_low,
            "previous_low_point": self.point_review.previous_low,
            "accept_point": lambda: self.point_review.accept_point(target()),
            "reject_point": lambda: self.point_review.reject_point(target()),
            "reject_point_absent": lambda: self.point_review.reject_point(target(), absent=True),
            "accept_and_next": self.labeling.accept_and_next,
            "accept_all_and_next": self.labeling.accept_all_and_next,
            "accept": self.labeling.accept_current,
            "accept_above": self.labeling.accept_above_dialog,
            "propagate": self.propagation.dialog,
            "repropagate": self.propagation.repropagate,
            "stop_propagation": self.propagation.stop,
            "undo": self.labeling.undo,
            "redo": self.labeling.redo,
            "edit_schema": self.files.edit_schema_dialog,
            "zoom_fit": self.canvas.fit,
            "zoom_actual": self.canvas.actual_size,
            "zoom_in": lambda: self.canvas.zoom_by(1.25),
            "zoom_out": lambda: self.canvas.zoom_by(0.8),
            "toggle_names": lambda: self.canvas.set_show_names(self.actions["toggle_names"].isChecked()),
            "view_options": self.view_options_dialog,
            "show_shortcuts": self.show_shortcuts,
            **self.instances.handlers(),  # menu Objects
        }
        self.actions = make_actions(self, handlers, self.labeling.select_keypoint_index)
        self.actions["toggle_names"].setCheckable(True)
        self.actions["undo"].setEnabled(False)
        self.actions["redo"].setEnabled(False)
        self.undo_stack.canUndoChanged.connect(self.actions["undo"].setEnabled)
        self.undo_stack.canRedoChanged.connect(self.actions["redo"].setEnabled)
        self.undo_stack.undoTextChanged.connect(
            lambda t: self.actions["undo"].setText(f"&Undo {t}" if t else "&Undo"))
        self.undo_stack.redoTextChanged.connect(
            lambda t: self.actions["redo"].setText(f"&Redo {t}" if t else "&Redo"))
        for name, button in self.review_buttons.items():
            button.clicked.connect(self.actions[name].trigger)
            button.setToolTip(self.actions[name].toolTip())

    def _build_menus_and_toolbar(self) -> None:
        self.recent_menu = QMenu("Open &recent", self)
        self.recent_menu.aboutToShow.connect(lambda: self.files.fill_recent(self.recent_menu))
        self.add_images_action = QAction("&Add images…", self)
        self.add_images_action.triggered.connect(self.files.add_images_dialog)
        self.locate_images_action = QAction("&Locate images folder…", self)
        self.locate_images_action.setStatusTip("The images folder was moved or renamed: point the project at it")
        self.locate_images_action.triggered.connect(self.files.locate_images_dialog)
        self.remove_selected_action = QAction("&Remove selected images…", self)
        self.remove_selected_action.setStatusTip("Forget the images selected in the list (files are not touched)")
        self.remove_selected_action.triggered.connect(lambda: self.project_actions.remove_images(missing=False))
        self.remove_missing_action = QAction("Remove &missing images…", self)
        self.remove_missing_action.setStatusTip("Forget every image whose file is no longer on disk")
        self.remove_missing_action.triggered.connect(lambda: self.project_actions.remove_images(missing=True))
        self.clear_cache_action = QAction("&Clear reference cache…", self)
        self.clear_cache_action.setStatusTip("Delete the cached reference states (labels stay; rebuilt when needed)")
        self.clear_cache_action.triggered.connect(lambda: self.project_actions.clear_cache())
        menus = self.menus = make_menus(self.menuBar(), self.actions, [
            self.team.open_action, self.recent_menu, self.add_images_action, self.locate_images_action,
            self.remove_selected_action, self.remove_missing_action])
        self.exchange.install(menus["File"], [self.actions["export_coco"], self.actions["export_spair"]])
        self.keep_zoom_action = QAction("&Keep zoom between images", self)
        self.keep_zoom_action.setCheckable(True)
        self.keep_zoom_action.setStatusTip(
            "Next image of the same size: same zoom and view centre; another size: zoom to fit")
        keep = str(self.settings.value("view/keep_zoom", "true")).lower() not in ("false", "0")
        self.keep_zoom_action.setChecked(keep)
        self.canvas.keep_view = keep
        self.keep_zoom_action.toggled.connect(self._set_keep_zoom)
        menus["Propagate"].addSeparator()
        menus["Propagate"].addAction(self.clear_cache_action)
        menus["View"].addSeparator()
        menus["View"].addAction(self.keep_zoom_action)
        log_action = self.log_dock.toggleViewAction()
        log_action.setText("Run &log")
        log_action.setStatusTip("Every message and propagation result of this session, kept")
        menus["View"].addAction(log_action)
        menus["Help"].addSeparator()
        about = QAction("&About labeler", self)
        about.triggered.connect(self.show_about)
        menus["Help"].addAction(about)
        self.toolbar = make_toolbar(self, self.actions)
        self.addToolBar(self.toolbar)

    def _restore_layout(self) -> None:
        geometry, state = self.settings.geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)

    # ------------------------------------------------------------------------------ project
    def open_project(self, path: str | Path) -> bool:
        """Open a project file (closing the current one); False with a dialog when it cannot."""
        if self.runner.running:
            self._message("stop the running propagation before opening another project", error=True)
            return False
        try:
            project = Project.open(path)
        except LabelerError as exc:
            if not is_url(path):  # a server down for a while keeps its place in the list
                self.settings.remove_recent(where(path))
            show_error(exc, self)
            return False
        self.close_project()
        self.canvas.set_hint("" if project.image_count() else "This project has no images yet: File > Add images.")
        self.project = project
        self.team.opened(project)
        self.editor = Editor(project, self.undo_stack, self.team.expected_versions)
        self.editor.changed.connect(self.browser.edited)
        self.navigator = ReviewNavigator(project, self.image_list.queue_status_of)
        self.schema = project.schema()
        self.keypoints.set_schema(self.schema)
        self.current_keypoint = self.keypoints.current
        self.canvas.set_current_keypoint(self.current_keypoint)
        self.image_list.model.set_resolver(lambda rel: project.image_file(rel))
        self.settings.add_recent(project.path)
        self.setWindowTitle(team_title(project))
        project.has_changed()  # start polling from now
        listing = fetch_listing(project, least_confident=self.image_list.sort_key == BY_CONFIDENCE)
        rows = listing.rows
        self.image_list.set_listing(listing)
        self.browser.update_review_label(rows)
        background.run_in_background(lambda: [r[0] for r in project.image_index(missing=True)],
                                     self.image_list.model.set_missing_ids, lambda exc: None)
        if not project.images_root_found:
            self.files.ask_to_locate_images(project)
        self.browser.prefetch_review_queue()
        last = self.settings.last_image(project.path)
        target = project.find_image(last) if last else None
        if target is not None:
            self.show_image(target.id)
        elif rows:
            self.show_image(rows[0][0])
        self._update_enabled()
        return True

    def close_project(self) -> None:
        if self.project is None:
            return
        self.browser.last_image_timer.stop()
        self.browser.remember_image()
        self.undo_stack.clear()
        self.loader.forget()
        if self.thumbs is not None:
            self.thumbs.clear()
        background.wait_all()  # a list refresh may still be reading this project
        self.team.closing(self.project)
        self.project.close()
        self.project = None
        self.editor = None
        self.navigator = None
        self.current = None
        self.current_points = {}
        self.canvas.clear()
        self.image_list.model.set_resolver(None)
        self.image_list.set_index([])
        self.keypoints.set_schema(Schema())
        self.setWindowTitle("labeler")
        self.canvas.set_hint(WELCOME)
        self._update_enabled()

    def _update_enabled(self) -> None:
        has = self.project is not None
        for name, a in self.actions.items():
            if name in ("new_project", "open_project", "quit", "show_shortcuts", "undo", "redo"):
                continue
            a.setEnabled(has)
        for a in (self.add_images_action, self.locate_images_action, self.remove_selected_action,
                  self.remove_missing_action, self.clear_cache_action):
            a.setEnabled(has)
        self.actions["stop_propagation"].setEnabled(self.runner.running and not self.runner.stopping)
        for b in self.review_buttons.values():
            b.setEnabled(has)

    def _relocated(self, project: Project) -> None:
        """The images folder moved: read pixels and thumbnails again from there."""
        self.loader.forget()
        if self.thumbs is not None:
            self.thumbs.clear()
        self.image_list.model.set_resolver(lambda rel: project.image_file(rel))
        self.image_list.view.viewport().update()  # thumbnails are asked for again as rows are drawn
        if self.current is not None:
            self.show_image(self.current.id)
        self.team.relocated(project)

    def _set_keep_zoom(self, on: bool) -> None:
        self.canvas.keep_view = on
        self.settings.set_value("view/keep_zoom", on)

    # ------------------------------------------------------------------------------ dialogs
    def view_options_dialog(self) -> None:
        from labeler.gui.view_options import ViewOptionsDialog

        dialog = self.view_dialog = ViewOptionsDialog(self.canvas, self.schema.keypoints, self.settings, self)
        dialog.on_names = lambda on: self.actions["toggle_names"].setChecked(on) or self.canvas.set_show_names(on)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dialog.show()

    def show_shortcuts(self) -> None:
        ShortcutsDialog(self).exec()

    def show_about(self) -> None:
        from labeler import __version__

        QMessageBox.about(self, "About labeler",
                          f"<b>labeler {__version__}</b><br>Keypoint labeling with zero-shot Stable Diffusion "
                          "correspondence (DIFT, attention prompt optimisation).")

    # ------------------------------------------------------------------------------ misc
    def _message(self, text: str, *, error: bool = False) -> None:
        self._error_shown = error
        self.statusBar().setStyleSheet("QStatusBar { color: #ff9b9b; }" if error else "")
        if not text:
            self.statusBar().clearMessage()
            return
        self.statusBar().showMessage(text, STATUS_MS)
        self.run_log.add(text, error=error)
        if error:
            log.info("%s", text)

    def resizeEvent(self, event) -> None:  # noqa: ANN001
        super().resizeEvent(event)
        fit_docks(self, self.docks[:2], grew=event.size().width() > event.oldSize().width() > 0)

    def showEvent(self, event) -> None:  # noqa: ANN001
        super().showEvent(event)
        # the panels as wide as this window allows (a restored layout may be too wide or narrow)
        QTimer.singleShot(0, lambda: fit_docks(self, self.docks[:2], grew=True))

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.runner.running:
            answer = QMessageBox.question(self, "Quit", "A propagation is running. Stop it and quit? "
                                          "(Everything predicted so far is kept.)")
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> bool:
        """Stop threads, save the layout, close the project (idempotent). False when a thread
        could not be stopped in time (the caller then ends the process: every batch and every
        edit is already committed, so nothing is lost)."""
        self.browser.poll_timer.stop()
        self.connection.close()
        self.browser.last_image_timer.stop()
        self.browser.remember_image()
        stopped = self.runner.close()
        self.settings.set_geometry(self.saveGeometry(), self.saveState())
        self.settings.sync()
        self.loader.shutdown()
        if self.thumbs is not None:
            self.thumbs.shutdown()
        stopped = background.wait_all(10000) and stopped
        if stopped:
            self.close_project()
        self.shut_down_cleanly = stopped
        return stopped
