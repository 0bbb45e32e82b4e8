"""The main window: image list | canvas | keypoints and review, with propagation in the status bar.

It wires widgets to the store through :class:`~labeler.gui.editing.Editor` (undoable edits),
to :mod:`labeler.propagation` through :class:`~labeler.gui.worker.PropagationRunner`, and to
the disk through the image loaders. Every action comes from the one shortcut table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QPoint, Qt, QTimer
from PyQt6.QtGui import QAction, QCloseEvent, QImage, QKeySequence, QUndoStack
from PyQt6.QtWidgets import (
    QCheckBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from labeler.correspondence.cards import is_test_model
from labeler.errors import LabelerError
from labeler.gui import background, project_actions
from labeler.gui.canvas import Canvas
from labeler.gui.commands import StoreEdit
from labeler.gui.editing import Editor
from labeler.gui.connection import ConnectionWatch
from labeler.gui.errors import show_error
from labeler.gui.exchange import Exchange
from labeler.gui.help_dialog import ShortcutsDialog
from labeler.gui.image_flags import ImageFlags
from labeler.gui.image_list import BY_CONFIDENCE, ImageListPanel, Listing, fetch_listing
from labeler.gui.image_loader import ImageLoader, ThumbnailLoader
from labeler.gui.keypoint_panel import KeypointPanel
from labeler.gui.progress_panel import ProgressPanel
from labeler.gui.project_jobs import CreatedProject, create_project
from labeler.gui.point_review import PointReview
from labeler.gui.review import AcceptAboveDialog, ReviewNavigator
from labeler.gui.review_panel import ReviewPanel
from labeler.gui.run_log import RunLog
from labeler.gui.schema_dialog import SchemaEdit
from labeler.gui.settings import AppSettings, where
from labeler.gui.team import Team
from labeler.gui.team import title as team_title
from labeler.gui.shortcuts import KEYPOINT_KEYS, SHORTCUTS
from labeler.gui.style import icon
from labeler.gui.view_options import restore_view
from labeler.gui.window_layout import CompactToolBar, dock_widths, fit_docks
from labeler.gui.worker import PropagationRunner
from labeler.propagation import MatcherCache, ProgressEvent, PropagationConfig, PropagationSummary
from labeler.store import (
    FLAG_LATER,
    FLAG_NO_OBJECT,
    FLAG_SKIP,
    PROJECT_SUFFIX,
    REVIEW_PREDICTED,
    ImageRecord,
    PointRecord,
    Project,
    Schema,
    image_file,
)
from labeler.store.location import is_url

log = logging.getLogger(__name__)

WELCOME = (
    "File > New project (Ctrl+N): pick a folder of images and name the keypoints.\n"
    "File > Open project (Ctrl+O) to continue. Help > Keyboard shortcuts (F1)."
)
POLL_MS = 500  # how often other processes' writes are looked for
STATUS_MS = 6000


class MainWindow(QMainWindow):
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
        self.project: Project | None = None
        self.schema = Schema()
        self.editor: Editor | None = None
        self.navigator: ReviewNavigator | None = None
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(1000)
        self.current: ImageRecord | None = None
        self.current_points: dict[str, PointRecord] = {}
        self.current_keypoint: str | None = None
        self._ticket = 0
        self._last_row = 0
        self._refresh_job: background.BackgroundJob | None = None
        self._refresh_again = False
        self._points_stale = False
        self.auto_advance = True
        self.shut_down_cleanly = True
        self.bulk_job: background.BackgroundJob | None = None
        self.history_job: background.BackgroundJob | None = None  # a bulk undo/redo being written
        self.schema_job: background.BackgroundJob | None = None  # a keypoint edit being written
        self.locate_box: QMessageBox | None = None  # asks to locate a moved images folder
        self.new_dialog: QWidget | None = None  # the New project dialog while it is open
        self.skipped_box: QMessageBox | None = None  # lists the files a new project skipped
        self.repropagate_box: QMessageBox | None = None  # says how re-propagate will run, before it does
        self.view_dialog: QWidget | None = None  # View options (non-modal)
        self.remove_job: background.BackgroundJob | None = None  # images being removed

        self.loader = ImageLoader()
        self.loader.loaded.connect(self._pixels_loaded)
        self.loader.failed.connect(self._pixels_failed)
        self.thumbs = ThumbnailLoader() if thumbnails else None
        self.runner = PropagationRunner(matcher_cache, self)
        self.runner.progress.connect(self._propagation_progress)
        self.runner.images_updated.connect(self._images_updated)
        self.runner.finished.connect(self._propagation_finished)
        self.runner.failed.connect(self._propagation_failed)
        self.runner.workers.connect(lambda statuses: self.progress.workers.show_workers(statuses))
        self.runner.running_changed.connect(self._running_changed)

        self._build_widgets()
        self.team = Team(self)  # database projects: user name, claims, per-machine images folder
        self.connection = ConnectionWatch(self)  # a database server gone: one banner, back: reload
        restore_view(self.canvas, self.settings)
        self.canvas.set_hint(WELCOME)
        self._build_actions()
        self._build_menus_and_toolbar()
        self._restore_layout()

        self.poll_timer = QTimer(self)
        self.poll_timer.setInterval(POLL_MS)
        self.poll_timer.timeout.connect(self._poll)
        self.poll_timer.start()
        self._last_image_timer = QTimer(self)
        self._last_image_timer.setSingleShot(True)
        self._last_image_timer.setInterval(1500)
        self._last_image_timer.timeout.connect(self._remember_image)
        self._index_timer = QTimer(self)
        self._index_timer.setSingleShot(True)
        self._index_timer.setInterval(150)
        self._index_timer.timeout.connect(self.refresh_index)
        self._update_enabled()

    # ------------------------------------------------------------------------------ building
    def _build_widgets(self) -> None:
        self.canvas = Canvas(self)
        self.setCentralWidget(self.canvas)
        self.canvas.place_requested.connect(self._place)
        self.canvas.point_moved.connect(self._moved)
        self.canvas.point_clicked.connect(self.set_current_keypoint)
        self.canvas.context_requested.connect(self._point_menu)
        self.canvas.cursor_moved.connect(self._cursor_moved)
        self.canvas.refused.connect(lambda text: self._message(text, error=True))
        self.canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))

        self.image_list = ImageListPanel(self.thumbs)
        self.image_list.image_activated.connect(self.show_image)
        self.image_list.filter_changed.connect(self._filter_changed)
        self.image_list.refresh_wanted.connect(self.refresh_index)
        left = QDockWidget("Images", self)
        left.setObjectName("images_dock")
        left.setWidget(self.image_list)
        left.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, left)

        self.keypoints = KeypointPanel()
        self.keypoints.keypoint_selected.connect(self.set_current_keypoint)
        review = self.review_panel = ReviewPanel(self.settings)
        self.review_label = review.summary
        self.review_buttons = review.buttons
        self.point_review = PointReview(self)
        self.image_flags = ImageFlags(self)
        self.advance_box = QCheckBox("Auto-advance keypoint")
        self.advance_box.setToolTip("After placing a keypoint, the next unlabelled one becomes current")
        self.advance_box.setChecked(True)
        self.advance_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.advance_box.toggled.connect(lambda on: setattr(self, "auto_advance", on))
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
        self.progress.stop_clicked.connect(self.stop_propagation)
        bar.addWidget(self.image_label, 1)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cursor_label)
        bar.addPermanentWidget(self.zoom_label)

    def _build_actions(self) -> None:
        handlers: dict[str, Callable[[], None]] = {
            "new_project": self.new_project_dialog,
            "open_project": self.open_project_dialog,
            "export_coco": self.export_coco_dialog,
            "export_spair": self.export_spair_dialog,
            "quit": self.close,
            "next_image": lambda: self.step_image(1),
            "previous_image": lambda: self.step_image(-1),
            "first_image": lambda: self.jump_image(0),
            "last_image": lambda: self.jump_image(-1),
            "next_to_review": self.next_to_review,
            "next_keypoint": lambda: self.step_keypoint(1),
            "previous_keypoint": lambda: self.step_keypoint(-1),
            "toggle_occluded": lambda: self._point_edit("toggle_occluded"),
            "set_absent": lambda: self._point_edit("toggle_absent"),
            "delete_point": lambda: self._point_edit("delete"),
            "swap_pair": self.swap_pair,
            "swap_all_pairs": self.swap_all_pairs,
            "cycle_point": self.cycle_point,
            "flag_skip": lambda: self.image_flags.toggle(FLAG_SKIP),
            "flag_no_object": lambda: self.image_flags.toggle(FLAG_NO_OBJECT),
            "flag_later": lambda: self.image_flags.toggle(FLAG_LATER),
            "next_low_point": self.point_review.next_low,
            "previous_low_point": self.point_review.previous_low,
            "accept_point": lambda: self.point_review.accept_point(self._target_keypoint()),
            "reject_point": lambda: self.point_review.reject_point(self._target_keypoint()),
            "reject_point_absent": lambda: self.point_review.reject_point(self._target_keypoint(), absent=True),
            "accept_and_next": self.accept_and_next,
            "accept": self.accept_current,
            "accept_above": self.accept_above_dialog,
            "propagate": self.propagate_dialog,
            "repropagate": self.repropagate,
            "stop_propagation": self.stop_propagation,
            "undo": self.undo,
            "redo": self.redo,
            "edit_schema": self.edit_schema_dialog,
            "zoom_fit": self.canvas.fit,
            "zoom_actual": self.canvas.actual_size,
            "zoom_in": lambda: self.canvas.zoom_by(1.25),
            "zoom_out": lambda: self.canvas.zoom_by(0.8),
            "toggle_names": lambda: self.canvas.set_show_names(self.actions["toggle_names"].isChecked()),
            "view_options": self.view_options_dialog,
            "show_shortcuts": self.show_shortcuts,
        }
        icons = {
            "new_project": "new", "open_project": "open", "export_coco": "export", "export_spair": "export",
            "next_image": "next", "previous_image": "prev", "next_to_review": "review", "accept_and_next": "accept",
            "accept": "accept", "propagate": "propagate", "repropagate": "propagate", "stop_propagation": "stop",
            "undo": "undo", "redo": "redo", "zoom_fit": "fit", "toggle_occluded": "occluded", "set_absent": "absent",
            "swap_pair": "swap", "show_shortcuts": "help", "edit_schema": "schema", "accept_point": "accept",
            "reject_point": "absent", "next_low_point": "review",
        }
        self.actions: dict[str, QAction] = {}
        for s in SHORTCUTS:
            if s.action == "select_keypoint":
                for i, key in enumerate(s.keys):
                    a = QAction(f"Keypoint {i + 1}", self)
                    a.setShortcut(QKeySequence(key))
                    a.triggered.connect(lambda _=False, i=i: self.select_keypoint_index(i))
                    self.addAction(a)
                    self.actions[f"select_keypoint_{i + 1}"] = a
                continue
            a = QAction(icon(icons[s.action]) if s.action in icons else icon("none"), s.text, self)
            a.setShortcuts([QKeySequence(k) for k in s.keys])
            a.setToolTip(f"{s.description} ({', '.join(s.keys)})")
            a.setStatusTip(s.description)
            handler = handlers[s.action]
            a.triggered.connect(lambda _=False, h=handler: h())
            self.addAction(a)
            self.actions[s.action] = a
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
        # keys that must not fire while a text field or list has focus are window-wide on purpose:
        # the annotator's hands stay on the keyboard whatever was clicked last
        for a in self.actions.values():
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)

    def _build_menus_and_toolbar(self) -> None:
        menus: dict[str, QMenu] = {}
        bar = self.menuBar()
        for group in ("File", "Edit", "Navigate", "Label", "Review", "Propagate", "View", "Help"):
            menus[group] = bar.addMenu(f"&{group}")
        self.recent_menu = QMenu("Open &recent", self)
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self.add_images_action = QAction("&Add images…", self)
        self.add_images_action.triggered.connect(self.add_images_dialog)
        self.locate_images_action = QAction("&Locate images folder…", self)
        self.locate_images_action.setStatusTip("The images folder was moved or renamed: point the project at it")
        self.locate_images_action.triggered.connect(self.locate_images_dialog)
        self.remove_selected_action = QAction("&Remove selected images…", self)
        self.remove_selected_action.setStatusTip("Forget the images selected in the list (files are not touched)")
        self.remove_selected_action.triggered.connect(lambda: project_actions.remove_images(self, missing=False))
        self.remove_missing_action = QAction("Remove &missing images…", self)
        self.remove_missing_action.setStatusTip("Forget every image whose file is no longer on disk")
        self.remove_missing_action.triggered.connect(lambda: project_actions.remove_images(self, missing=True))
        self.clear_cache_action = QAction("&Clear reference cache…", self)
        self.clear_cache_action.setStatusTip("Delete the cached reference states (labels stay; rebuilt when needed)")
        self.clear_cache_action.triggered.connect(lambda: project_actions.clear_cache(self))
        for s in SHORTCUTS:  # the table is the single source of the menus
            if s.action == "select_keypoint":
                continue
            menu = menus[s.group]
            if s.action == "quit":
                menu.addSeparator()
            menu.addAction(self.actions[s.action])
            if s.action == "open_project":
                menu.addAction(self.team.open_action)
                menu.addMenu(self.recent_menu)
                menu.addAction(self.add_images_action)
                menu.addAction(self.locate_images_action)
                menu.addAction(self.remove_selected_action)
                menu.addAction(self.remove_missing_action)
                menu.addSeparator()
        keys = QMenu("Current &keypoint", self)
        for i in range(len(KEYPOINT_KEYS)):
            keys.addAction(self.actions[f"select_keypoint_{i + 1}"])
        menus["Label"].insertMenu(menus["Label"].actions()[0], keys)
        self.keypoint_menu = keys
        self.exchange = Exchange(self)  # File > Export and File > Import (YOLO pose, DeepLabCut, ...)
        self.exchange.install(menus["File"])
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
        self.menus = menus

        tb = CompactToolBar("Main", self)
        tb.setObjectName("main_toolbar")
        tb.setMovable(False)
        short = {"open_project": "Open", "previous_image": "Previous", "next_image": "Next",
                 "next_to_review": "Next to review", "accept_and_next": "Accept && next", "propagate": "Propagate",
                 "stop_propagation": "Stop", "undo": "Undo", "redo": "Redo", "zoom_fit": "Fit", "show_shortcuts": "Keys"}
        for name, text in short.items():
            self.actions[name].setIconText(text)
        for name in ("open_project", None, "previous_image", "next_image", "next_to_review", None,
                     "accept_and_next", None, "propagate", "stop_propagation", None, "undo", "redo", None, "zoom_fit",
                     "show_shortcuts"):
            if name is None:
                tb.addSeparator()
            else:
                tb.addAction(self.actions[name])
        self.addToolBar(tb)
        self.toolbar = tb

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
        self.editor.changed.connect(self._edited)
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
        self._update_review_label(rows)
        background.run_in_background(lambda: [r[0] for r in project.image_index(missing=True)],
                                     self.image_list.model.set_missing_ids, lambda exc: None)
        if not project.images_root_found:
            self._ask_to_locate_images(project)
        self._prefetch_review_queue()
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
        self._last_image_timer.stop()
        self._remember_image()
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

    # ------------------------------------------------------------------------------ images
    def show_image(self, image_id: int) -> None:
        project = self.project
        if project is None:
            return
        try:
            record = project.image(image_id)
        except LabelerError as exc:  # deleted by another process meanwhile
            self._message(str(exc), error=True)
            self.refresh_index()
            return
        self.current = record
        self.current_points = project.points(image_id)
        self.cursor_label.setText("")  # the last image's coordinates mean nothing here
        self.canvas.show_image(record, self.schema, self.current_points)
        self.keypoints.set_points(self.current_points)
        first_open = next((n for n in self.schema.keypoints if n not in self.current_points), None)
        if first_open is not None:
            self.set_current_keypoint(first_open)
        self.image_list.select(image_id)
        self.team.claim_current()
        row = self.image_list.model.row_of(image_id)
        if row is not None:
            self._last_row = row
        self._last_image_timer.start()  # remembered once the annotator stays on an image
        self._update_image_label()
        path = project.image_path(record)
        cached = self.loader.cached(record.id, path)
        neighbours = self._neighbours(image_id)
        if cached is not None:
            self._ticket = 0
            self.canvas.set_pixels(cached)
            self.loader.prefetch(neighbours)
        else:
            self._ticket = self.loader.request(record.id, path, prefetch=neighbours)
        self.canvas.setFocus()

    def _set_keep_zoom(self, on: bool) -> None:
        self.canvas.keep_view = on
        self.settings.set_value("view/keep_zoom", on)

    def _remember_image(self) -> None:
        if self.project is not None and self.current is not None:
            self.settings.set_last_image(self.project.path, self.current.path)

    def _neighbours(self, image_id: int) -> list[tuple[int, Path]]:
        project = self.project
        model = self.image_list.model
        row = model.row_of(image_id)
        if project is None or row is None:
            return []
        out = []
        for r in (row + 1, row - 1, row + 2):
            found = model.row_at(r)
            if found is not None:
                out.append((found[0], project.image_file(found[1])))
        return out

    def _pixels_loaded(self, ticket: int, image_id: int, image: QImage) -> None:
        if ticket == self._ticket and self.current is not None and self.current.id == image_id:
            self.canvas.set_pixels(image)

    def _pixels_failed(self, ticket: int, image_id: int, message: str) -> None:
        if ticket == self._ticket and self.current is not None and self.current.id == image_id:
            self.canvas.show_failure(message)
            self._message(message, error=True)
            if self.project is not None and not self.project.image_path(self.current).is_file():
                self._mark_missing(image_id)

    def _mark_missing(self, image_id: int) -> None:
        """The file is gone: the list says so (not the old thumbnail) and the store records it."""
        project = self.project
        if project is None:
            return
        self.image_list.model.set_missing(image_id, True)
        if self.thumbs is not None:
            self.thumbs.forget(image_id)
        background.run_in_background(lambda: project.check_missing([image_id]), lambda _: None, lambda exc: None)

    def step_image(self, step: int) -> None:
        model = self.image_list.model
        n = model.rowCount()
        if n == 0:
            return
        row = model.row_of(self.current.id) if self.current is not None else None
        if row is None:  # the current image left the filtered list: continue where it was
            target = min(self._last_row, n - 1) if step > 0 else max(min(self._last_row, n) - 1, 0)
        else:
            target = row + step
        if 0 <= target < n:
            self.show_image(model.row_at(target)[0])  # type: ignore[index]
        else:
            self._message("last image of the list" if step > 0 else "first image of the list")

    def jump_image(self, row: int) -> None:
        model = self.image_list.model
        if model.rowCount():
            self.show_image(model.row_at(row % model.rowCount())[0])  # type: ignore[index]

    def next_to_review(self) -> None:
        if self.navigator is None:
            return
        target = self.navigator.next_image(self.current.id if self.current else None)
        if target is None:
            self._message("nothing to review: no predictions await review")
            return
        if self.current is not None and target == self.current.id:
            self._message("this is the last image to review")
        self.show_image(target)

    def _prefetch_review_queue(self) -> None:
        navigator = self.navigator
        if navigator is not None:
            background.run_in_background(navigator.fetch, navigator.set_queue, lambda exc: None)

    def _filter_changed(self) -> None:
        if self.current is not None:
            self.image_list.select(self.current.id)
        self.canvas.setFocus()

    # ------------------------------------------------------------------------------ refreshing
    def refresh_current(self) -> None:
        """Re-read the current image's points (after an edit, a batch, another process)."""
        if self.project is None or self.current is None:
            return
        if self.canvas.dragging:
            self._points_stale = True  # after the drag
            return
        self._points_stale = False
        try:
            self.current_points = self.project.points(self.current.id)
            record = self.project.image(self.current.id)
        except LabelerError:
            self.refresh_index()
            return
        self.current = record
        self.canvas.set_points(self.current_points)
        self.keypoints.set_points(self.current_points)
        self.image_list.set_status(record.id, record.review_status)
        self.image_list.set_confirmed(record.id, sum(1 for p in self.current_points.values() if p.confirmed))
        self._update_image_label()

    def refresh_index(self) -> None:
        """Reload the image list off the UI thread (one query), keeping the selection."""
        project = self.project
        if project is None:
            return
        if self._refresh_job is not None and not self._refresh_job.is_finished:
            self._refresh_again = True
            return

        def done(listing: Listing) -> None:
            self._refresh_job = None
            if self.project is project:
                self.image_list.set_listing(listing, keep=self.current.id if self.current else None)
                self._update_review_label(listing.rows)
            if self._refresh_again:
                self._refresh_again = False
                self.refresh_index()

        def failed(exc: BaseException) -> None:
            self._refresh_job = None
            log.warning("refreshing the image list failed: %s", exc)

        by_confidence = self.image_list.sort_key == BY_CONFIDENCE
        self._refresh_job = background.run_in_background(
            lambda: fetch_listing(project, least_confident=by_confidence), done, failed)

    def _poll(self) -> None:
        project = self.project
        if project is None:
            return
        try:
            changed = project.has_changed()
        except LabelerError:
            return
        if changed:
            self.refresh_current()
            self.refresh_index()
        elif self._points_stale and not self.canvas.dragging:
            self.refresh_current()

    def _edited(self, image_ids: set[int], from_history: bool) -> None:
        if self.current is not None and self.current.id in image_ids:
            self.refresh_current()
        elif from_history and len(image_ids) == 1:
            self.show_image(next(iter(image_ids)))  # follow undo/redo to where it happened
        if len(image_ids) > 1 or from_history or self.current is None or self.current.id not in image_ids:
            self._index_timer.start()
        else:
            self._update_review_label(None)

    def _update_review_label(self, rows: list[tuple[int, str, str]] | None) -> None:
        if rows is None:
            rows = self.image_list.all_rows()
        n = sum(1 for r in rows if r[2] == REVIEW_PREDICTED)
        self.review_label.setText(
            f"{n} image(s) with predictions to review." if n else "No predictions to review. Label an image, then Propagate."
        )

    def _update_image_label(self) -> None:
        c = self.current
        if c is None or self.project is None:
            self.image_label.setText("")
            return
        n_conf = sum(1 for p in self.current_points.values() if p.confirmed)
        n_pred = sum(1 for p in self.current_points.values() if not p.confirmed)
        self.image_label.setText(
            f"{c.path}   {c.width}×{c.height}   {n_conf}/{len(self.schema.keypoints)} confirmed"
            + (f", {n_pred} predicted" if n_pred else "")
        )

    def _cursor_moved(self, x: float, y: float) -> None:
        self.cursor_label.setText(f"x {x:.1f}  y {y:.1f}")

    # ------------------------------------------------------------------------------ keypoints
    def set_current_keypoint(self, name: str | None) -> None:
        self.current_keypoint = name
        self.keypoints.set_current(name)
        self.canvas.set_current_keypoint(name)

    def select_keypoint_index(self, index: int) -> None:
        if 0 <= index < len(self.schema.keypoints):
            self.set_current_keypoint(self.schema.keypoints[index])

    def step_keypoint(self, step: int) -> None:
        names = self.schema.keypoints
        if not names:
            return
        i = names.index(self.current_keypoint) if self.current_keypoint in names else -step
        self.set_current_keypoint(names[(i + step) % len(names)])

    def _advance_after(self, name: str) -> None:
        if not self.auto_advance:
            return
        names = self.schema.keypoints
        start = names.index(name)
        for k in range(1, len(names)):
            candidate = names[(start + k) % len(names)]
            if candidate not in self.current_points:
                self.set_current_keypoint(candidate)
                return

    def _target_keypoint(self) -> str | None:
        return self.canvas.hovered_keypoint or self.current_keypoint

    # ------------------------------------------------------------------------------ edits
    def undo(self) -> None:
        self._history(undo=True)

    def redo(self) -> None:
        self._history(undo=False)

    def _history(self, *, undo: bool) -> None:
        """Undo/redo; a bulk edit (thousands of rows) is written off the UI thread, and other
        edits wait until it is done (the stack moves only once the store has it)."""
        if self._busy_message():
            self._message(self._busy_message(), error=True)
            return
        stack = self.undo_stack
        if not (stack.canUndo() if undo else stack.canRedo()):
            return
        cmd = stack.command(stack.index() - 1 if undo else stack.index())
        if not (isinstance(cmd, StoreEdit) and cmd.is_bulk):
            stack.undo() if undo else stack.redo()
            return
        what = "Undoing" if undo else "Redoing"
        self.progress.start(f"{what}: {cmd.text()}")
        self.progress.stop.setEnabled(False)

        project = self.project

        def done(_: object) -> None:
            self.history_job = None
            self.progress.finish()
            if self.project is not project:  # closed meanwhile: the stack was cleared
                return
            stack.undo() if undo else stack.redo()
            self._message(f"{'undone' if undo else 'redone'}: {cmd.text()}")

        def failed(exc: BaseException) -> None:
            self.history_job = None
            self.progress.finish()
            show_error(exc, self)
            self.refresh_current()
            self.refresh_index()

        self.history_job = background.run_in_background(lambda: cmd.restore_state(undo), done, failed)

    def _try(self, fn: Callable[[], object]) -> object | None:
        """Run an edit; a LabelerError becomes a status-bar message (the edit did nothing)."""
        if self._busy_message():
            self._message(self._busy_message(), error=True)
            return None
        if self.canvas.failure_message:  # a missing or unreadable file cannot be labelled
            self._message(f"cannot label this image: {self.canvas.failure_message}", error=True)
            return None
        try:
            return fn()
        except LabelerError as exc:
            self._message(str(exc), error=True)
            self.refresh_current()
            return None

    def _place(self, name: str, x: float, y: float, occluded: bool) -> None:
        if self.editor is None or self.current is None:
            return
        image_id = self.current.id
        if self._try(lambda: self.editor.place(image_id, name, x, y, occluded=occluded)) is not None:
            self._advance_after(name)

    def _moved(self, name: str, x: float, y: float) -> None:
        if self.editor is None or self.current is None:
            return
        image_id = self.current.id
        self._try(lambda: self.editor.move(image_id, name, x, y))
        if self._points_stale:
            self.refresh_current()

    def _point_edit(self, what: str, name: str | None = None) -> None:
        if self.editor is None or self.current is None:
            return
        name = name or self._target_keypoint()
        if name is None:
            return
        image_id = self.current.id
        fn = getattr(self.editor, what)
        self._try(lambda: fn(image_id, name))

    def swap_pair(self, name: str | None = None) -> None:
        if self.editor is None or self.current is None:
            return
        name = name or self._target_keypoint()
        if name is not None:
            image_id = self.current.id
            self._try(lambda: self.editor.swap(image_id, name))

    def swap_all_pairs(self) -> None:
        if self.editor is not None and self.current is not None:
            image_id = self.current.id
            self._try(lambda: self.editor.swap_all(image_id))

    def _point_menu(self, name: str, where: QPoint) -> None:
        menu = self.point_menu = QMenu(self)
        rec = self.current_points.get(name)
        menu.addAction(name.replace("&", "&&")).setEnabled(False)  # "&" would be a mnemonic
        menu.addSeparator()
        entries = [
            ("Visible" if rec is not None and rec.visibility == 1 else "Occluded", "toggle_occluded", "O"),
            ("Absent", "toggle_absent", "X"),
            ("Delete (unlabelled)", "delete", "Del"),
        ]
        for text, what, key in entries:
            a = menu.addAction(f"{text}\t{key}")
            a.triggered.connect(lambda _=False, w=what: self._point_edit(w, name))
        if self.schema.flip_of(name):
            a = menu.addAction(f"Swap with {self.schema.flip_of(name).replace('&', '&&')}\tS")
            a.triggered.connect(lambda: self.swap_pair(name))
        menu.exec(where)

    # ------------------------------------------------------------------------------ review
    def accept_current(self) -> int:
        return int(self.point_review.accept_image() or 0)

    def accept_and_next(self) -> None:
        if self.current is not None and any(not p.confirmed for p in self.current_points.values()):
            if self.point_review.accept_image() is None:
                return  # cancelled (or refused): stay on this image
        self.next_to_review()

    def cycle_point(self) -> None:
        name = self.canvas.cycle_under_mouse()
        if name is not None:
            self.set_current_keypoint(name)
            self._message(f"{name} on top: a drag grabs it (Tab: the next one under the mouse)")

    def accept_above_dialog(self) -> None:
        """Confidences are read off the UI thread, the dialog asks, the bulk accept runs off the
        UI thread too; the executed edit is then pushed (one undo step)."""
        editor, project = self.editor, self.project
        if editor is None or project is None:
            return
        if self._busy_message():
            self._message(self._busy_message(), error=True)
            return

        def ask(points: list[tuple[float | None, str | None]]) -> None:
            if self.editor is not editor:
                return
            if not points:
                self._message("no predictions await review")
                return
            threshold = float(self.settings.value("review/threshold", 0.5))
            tests = sorted({m for _, m in points if is_test_model(m)})
            dialog = AcceptAboveDialog([c for c, _ in points], threshold, self,
                                       test_confidences=[c for c, m in points if m in tests], test_models=tests)
            if dialog.exec() != AcceptAboveDialog.DialogCode.Accepted:
                return
            chosen = dialog.threshold
            excluded = dialog.excluded_models
            self.settings.set_value("review/threshold", chosen)
            self.progress.start(f"Accepting predictions ≥ {chosen:.2f}")
            self.progress.stop.setEnabled(False)

            def done(cmd) -> None:  # noqa: ANN001
                self.progress.finish()
                if cmd is None or self.editor is not editor:
                    return
                editor.push(cmd)
                self._message(f"accepted {cmd.result} prediction(s) with confidence ≥ {chosen:.2f} (Ctrl+Z undoes)")

            def failed(exc: BaseException) -> None:
                self.progress.finish()
                show_error(exc, self)

            self.bulk_job = background.run_in_background(
                lambda: editor.accept_above_command(chosen, exclude_models=excluded), done, failed)

        background.run_in_background(lambda: [(p.confidence, p.model) for p in project.review_points()], ask,
                                     lambda exc: show_error(exc, self))

    # ------------------------------------------------------------------------------ propagation
    def _remembered_config(self) -> PropagationConfig | None:
        if self.runner.last_config is not None:
            return self.runner.last_config
        data = self.settings.value("propagate/last")
        if not data:
            return None
        try:
            import json

            d = json.loads(data)
            return PropagationConfig(**{k: v for k, v in d.items() if k not in ("images", "image_ids", "force")})
        except (TypeError, ValueError):
            return None

    def _remember_config(self, config: PropagationConfig) -> None:
        import dataclasses
        import json

        d = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
        d["overrides"] = dict(config.overrides)
        d["image_ids"] = None
        self.settings.set_value("propagate/last", json.dumps(d, default=str))

    def propagate_dialog(self) -> None:
        if self.project is None:
            return
        if self.runner.running:
            self._message("a propagation is already running (Esc stops it)", error=True)
            return
        from labeler.gui.propagate_dialog import PropagateDialog

        dialog = PropagateDialog(self.project, self._remembered_config(), self, cluster=self.runner.last_cluster)
        if dialog.exec() != PropagateDialog.DialogCode.Accepted:
            return
        try:
            config, cluster = dialog.config(), dialog.cluster()
        except LabelerError as exc:
            show_error(exc, self)
            return
        self.start_propagation(config, cluster)

    def start_propagation(self, config: PropagationConfig, cluster=None) -> bool:  # noqa: ANN001 - ClusterOptions | None
        if self.project is None:
            return False
        if not self.runner.start(self.project, config, cluster):
            self._message("a propagation is already running", error=True)
            return False
        self._remember_config(config)
        self.progress.start(f"Starting {config.method}")
        return True

    def repropagate(self) -> None:
        """Predict the unreviewed images again with the last settings; corrections and accepted
        points are references now, so every image predicted from older references is stale.
        Says which method and model first (nothing starts unseen)."""
        config = self._remembered_config()
        if config is None:
            self.propagate_dialog()
            return
        if self.runner.running:
            self._message("a propagation is already running (Esc stops it)", error=True)
            return
        import dataclasses

        from labeler.gui.propagate_dialog import RepropagateBox

        config = dataclasses.replace(config, images=None, image_ids=None, force=False)
        box = self.repropagate_box = RepropagateBox(config, self)

        def clicked(button) -> None:  # noqa: ANN001
            self.repropagate_box = None
            if button is box.run_button:
                self.start_propagation(config, self.runner.last_cluster)
            elif button is box.change_button:
                self.propagate_dialog()

        box.buttonClicked.connect(clicked)
        box.open()

    def stop_propagation(self) -> None:
        if self.runner.running and not self.runner.stopping:
            self.runner.stop()
            self.progress.stopping()
            self.actions["stop_propagation"].setEnabled(False)  # asked once; the panel says when it ends

    def _propagation_progress(self, event: ProgressEvent) -> None:
        self.progress.update_event(event)
        if event.notice and event.message:
            self._message(event.message)

    def _images_updated(self, image_ids: tuple[int, ...]) -> None:
        if self.current is not None and self.current.id in image_ids:
            self.refresh_current()
        self._index_timer.start()

    def _propagation_finished(self, summary: PropagationSummary) -> None:
        self.progress.finish()
        if self.navigator is not None:
            self.navigator.reset()  # new predictions: walk the queue from its start again
            self._prefetch_review_queue()
        what = "stopped" if summary.stopped else "done"
        text = (f"propagation {what}: {summary.predicted_images} image(s) predicted, "
                f"{summary.skipped_up_to_date} up to date, {summary.seconds:.1f} s on {summary.device}")
        if summary.failed:
            text += f", {len(summary.failed)} failed"
        self._message(text)
        for m in summary.messages:
            log.info("propagation: %s", m)
            self.run_log.add(f"  {m}")
        if summary.failed:
            listed = "\n".join(f"{p}: {r}" for p, r in summary.failed[:15])
            more = f"\n… and {len(summary.failed) - 15} more" if len(summary.failed) > 15 else ""
            box = QMessageBox(QMessageBox.Icon.Warning, "Some images were not predicted",
                              f"{len(summary.failed)} image(s) could not be predicted:\n{listed}{more}",
                              QMessageBox.StandardButton.Ok, self)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
            box.open()
        self.refresh_current()
        self.refresh_index()

    def _propagation_failed(self, message: str, details: str) -> None:
        self.progress.finish()
        if details:
            from labeler.gui.errors import reporter

            reporter().parent_widget = self
            reporter().report(RuntimeError(message), details)
        else:
            show_error(LabelerError(message), self)
        self.refresh_index()

    def _running_changed(self, running: bool) -> None:
        self.actions["stop_propagation"].setEnabled(running)
        self.actions["propagate"].setEnabled(not running and self.project is not None)
        self.actions["repropagate"].setEnabled(not running and self.project is not None)
        self.review_buttons["repropagate"].setEnabled(not running and self.project is not None)

    # ------------------------------------------------------------------------------ dialogs
    def new_project_dialog(self, draft: tuple[Path, Path, Schema, str | None] | None = None, message: str = "") -> None:
        from labeler.gui.schema_dialog import NewProjectDialog

        dialog = NewProjectDialog(self)
        if draft is not None:
            dialog.restore(*draft, message=message)
        self.new_dialog = dialog
        accepted = dialog.exec() == NewProjectDialog.DialogCode.Accepted
        self.new_dialog = None
        if not accepted:
            return
        try:
            folder, path, schema, name = dialog.values()
        except LabelerError as exc:
            show_error(exc, self)
            return
        self.create_project(folder, path, schema, name, reopen_on_failure=True)

    def create_project(self, folder: Path, path: Path, schema: Schema, name: str | None, *,
                       reopen_on_failure: bool = False) -> background.BackgroundJob:
        """Scan and register the folder off the UI thread, then open the new project. When it
        fails (no images there, none readable, no permission) and ``reopen_on_failure``, the New
        project dialog comes back filled in as it was, with the reason: nothing typed is lost."""
        self.progress.start("Creating project")
        self.progress.stop.setEnabled(False)

        def progress(done: int, total: int, text: str) -> None:
            self.progress.stage.setText(text)
            if total:
                self.progress.bar.setRange(0, total)
                self.progress.bar.setValue(done)

        def done(created: CreatedProject) -> None:
            self.progress.finish()
            if self.open_project(created.path):
                note = f", {len(created.skipped)} unreadable file(s) skipped" if created.skipped else ""
                self._message(f"created {created.path} with {created.images} images{note}")
                if created.skipped:
                    self._list_skipped(created.skipped)

        def failed(exc: BaseException) -> None:
            self.progress.finish()
            if reopen_on_failure and isinstance(exc, (LabelerError, OSError)):
                # an OSError here is the disk saying no (no such folder, not writable): the
                # person can fix it in the dialog, so it is not reported as a bug
                text = str(exc) if isinstance(exc, LabelerError) else f"cannot create {path}: {exc}"
                self._message(text.splitlines()[0].rstrip(":"), error=True)
                QTimer.singleShot(0, lambda: self.new_project_dialog((folder, path, schema, name), text))
            else:
                show_error(exc, self)

        return background.run_in_background(
            lambda report: create_project(folder, path, schema, name, report), done, failed, on_progress=progress
        )

    def _list_skipped(self, skipped) -> None:  # noqa: ANN001
        listed = "\n".join(f"{s.path}: {s.reason}" for s in skipped[:15])
        more = f"\n… and {len(skipped) - 15} more" if len(skipped) > 15 else ""
        box = QMessageBox(QMessageBox.Icon.Information, "Unreadable files skipped",
                          f"{len(skipped)} file(s) could not be read as images and were not added:\n{listed}{more}",
                          QMessageBox.StandardButton.Ok, self)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self.skipped_box = box
        box.open()

    def open_project_dialog(self) -> None:
        start = str(Path(self.project.path).parent) if self.project else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open project", start, f"Labeler projects (*{PROJECT_SUFFIX});;All files (*)")
        if path:
            self.open_project(path)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_projects()
        for p in recent:
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _=False, p=p: self.open_project(p))
        if not recent:
            self.recent_menu.addAction("(none yet)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list").triggered.connect(self.settings.clear_recent)

    def add_images_dialog(self) -> None:
        project = self.project
        if project is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Add images from a folder inside the images root", str(project.images_root))
        if not folder:
            return
        self.progress.start("Adding images")
        self.progress.stop.setEnabled(False)

        def done(report) -> None:  # noqa: ANN001
            self.progress.finish()
            self._message(f"added {len(report.added)} image(s); {len(report.skipped)} unreadable file(s) skipped")
            self.refresh_index()

        def failed(exc: BaseException) -> None:
            self.progress.finish()
            show_error(exc, self)

        background.run_in_background(lambda: project.add_images(folder, progress=False), done, failed)

    def _ask_to_locate_images(self, project: Project) -> None:
        """The project opened but its images folder is gone (moved, renamed, another disk):
        say so once, with a way to fix it (labels are in the project file and are all there)."""
        self._message(f"the images folder {project.images_root} is not found: images show as missing", error=True)
        box = QMessageBox(
            QMessageBox.Icon.Warning, "Images folder not found",
            f"The images folder of this project was not found:\n{project.images_root}\n\n"
            "It may have been moved, renamed or be on a disk that is not connected. Your labels are "
            "safe in the project file. Locate the folder now? (Later: File > Locate images folder.)",
            QMessageBox.StandardButton.NoButton, self,
        )
        box.setTextFormat(Qt.TextFormat.PlainText)
        locate = box.addButton("Locate folder…", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        box.buttonClicked.connect(lambda b: self.locate_images_dialog() if b is locate else None)
        self.locate_box = box
        box.open()

    def locate_images_dialog(self) -> None:
        project = self.project
        if project is None:
            return
        start = project.images_root if project.images_root_found else Path(project.path).parent
        folder = QFileDialog.getExistingDirectory(self, "Locate the project's images folder", str(start))
        if not folder:
            return
        if not self._images_found_in(project, Path(folder)):
            answer = QMessageBox.question(
                self, "Locate images folder",
                f"None of the project's images were found in\n{folder}\n(for example {project.image_index()[0][1]}).\n"
                "Use this folder anyway?",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.relocate_images(Path(folder))

    @staticmethod
    def _images_found_in(project: Project, folder: Path, sample: int = 20) -> bool:
        rows = project.image_index()[:sample]
        return not rows or any(image_file(folder, rel).is_file() for _, rel, _ in rows)

    def relocate_images(self, folder: Path) -> bool:
        """Point the project at ``folder`` (image paths stay relative) and show the images again."""
        project = self.project
        if project is None:
            return False
        try:
            project.set_images_root(folder)
        except LabelerError as exc:
            show_error(exc, self)
            return False
        self.loader.forget()
        if self.thumbs is not None:
            self.thumbs.clear()
        self.image_list.model.set_resolver(lambda rel: project.image_file(rel))
        self.image_list.view.viewport().update()  # thumbnails are asked for again as rows are drawn
        if self.current is not None:
            self.show_image(self.current.id)
        self.team.relocated(project)
        self._message(f"images folder is now {project.images_root}")
        return True

    def edit_schema_dialog(self) -> None:
        project = self.project
        if project is None:
            return
        if self.runner.running:
            self._message("stop the running propagation before editing keypoints", error=True)
            return
        if self._busy_message():
            self._message(self._busy_message(), error=True)
            return
        from labeler.gui.schema_dialog import EditSchemaDialog

        dialog = EditSchemaDialog(self.schema, self)
        if dialog.exec() != EditSchemaDialog.DialogCode.Accepted:
            return
        try:
            edit = dialog.editor.edit()
        except LabelerError as exc:
            show_error(exc, self)
            return
        self.change_schema(edit)

    def change_schema(self, edit: SchemaEdit, *, confirm: bool = True) -> background.BackgroundJob | None:
        """Count what removing keypoints deletes (ask first), then apply the edit; both read or
        write every point of the project, so both run off the UI thread (seconds at 10k
        images) while other edits wait."""
        project = self.project
        if project is None:
            return None
        from labeler.gui.schema_dialog import apply_schema_edit, points_per_keypoint

        def apply() -> None:
            self.progress.start("Updating keypoints")
            self.progress.stop.setEnabled(False)
            self.schema_job = background.run_in_background(lambda: apply_schema_edit(project, edit), applied, failed)

        def applied(schema: Schema) -> None:
            self.schema_job = None
            self.progress.finish()
            if self.project is project:
                self._schema_changed(schema)
                self._message("keypoints updated: " + ", ".join(schema.keypoints))

        def failed(exc: BaseException) -> None:
            self.schema_job = None
            self.progress.finish()
            show_error(exc, self)
            if self.project is project:
                self._schema_changed(project.schema())

        def counted(counts: dict[str, int]) -> None:
            self.schema_job = None
            self.progress.finish()
            if self.project is not project:
                return
            lost = sum(counts.values())
            if lost and confirm:
                listed = ", ".join(f"{n} ({c} points)" for n, c in counts.items())
                answer = QMessageBox.question(
                    self, "Remove keypoints",
                    f"Removing {listed} deletes {lost} point(s). This cannot be undone. Remove them?",
                )
                if answer != QMessageBox.StandardButton.Yes:
                    return
            apply()

        if not edit.removed:
            apply()
        else:
            self.progress.start("Counting the points of removed keypoints")
            self.progress.stop.setEnabled(False)
            self.schema_job = background.run_in_background(
                lambda: points_per_keypoint(project, list(edit.removed)), counted, failed)
        return self.schema_job

    def _schema_changed(self, schema: Schema) -> None:
        self.schema = schema
        self.undo_stack.clear()  # snapshots name keypoints that may have changed
        self.keypoints.set_schema(self.schema)
        self.set_current_keypoint(self.keypoints.current)
        if self.current is not None:
            self.show_image(self.current.id)
        self.refresh_index()

    def _busy_message(self) -> str:
        """Why edits must wait now (a bulk undo/redo or a schema change is being written)."""
        if self.history_job is not None:
            return "still undoing/redoing a bulk edit: a moment"
        if self.schema_job is not None:
            return "still updating the keypoints: a moment"
        return ""

    def export_coco_dialog(self) -> None:
        project = self.project
        if project is None:
            return
        start = str(Path(project.path).with_suffix(".coco.json"))
        path, _ = QFileDialog.getSaveFileName(self, "Export COCO keypoints", start, "COCO JSON (*.json)")
        if not path:
            return
        predicted = QMessageBox.question(
            self, "Export COCO", "Include predictions that still await review?\n"
            "(No: only confirmed points: placed, accepted, corrected.)",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No,
        ) == QMessageBox.StandardButton.Yes
        self.export_coco(Path(path), predicted=predicted)

    def export_coco(self, path: Path, *, predicted: bool = False) -> background.BackgroundJob | None:
        project = self.project
        if project is None:
            return None
        from labeler.formats.coco import export_coco

        def done(report) -> None:  # noqa: ANN001
            self._message(f"wrote {report.path}: {report.images} images, {report.visible_or_occluded} points, "
                          f"{report.absent} absent" + (f", {report.predicted} predicted" if predicted else "")
                          + (f"; {report.no_object} no-object image(s) as negatives (no annotation)" if report.no_object else "")
                          + (f"; {report.skipped} skipped image(s) left out" if report.skipped else ""))

        return background.run_in_background(lambda: export_coco(project, path, predicted=predicted), done,
                                            lambda exc: self._write_failed(path, exc))

    def export_spair_dialog(self) -> None:
        project = self.project
        if project is None:
            return
        dialog = project_actions.SPairExportDialog(Path(project.path).parent / f"{Path(project.path).stem}-spair", self)
        if dialog.exec() != project_actions.SPairExportDialog.DialogCode.Accepted:
            return
        out, config, predictions = dialog.values()
        self.export_spair(out, config=config, include_predictions=predictions)

    def export_spair(self, out: Path, *, overwrite: bool = True, config=None,  # noqa: ANN001
                     include_predictions: bool = False) -> background.BackgroundJob | None:
        project = self.project
        if project is None:
            return None
        from labeler.formats.pairs import export_pairs
        from labeler.formats.spair import SPairExportConfig

        def done(summary) -> None:  # noqa: ANN001
            pairs = sum(summary.pairs.values())
            self._message(f"wrote {summary.root}: {pairs} pairs from {sum(summary.images.values())} images")
            if summary.warnings:
                box = QMessageBox(QMessageBox.Icon.Information, "SPair export", "\n".join(summary.warnings[:10]),
                                  QMessageBox.StandardButton.Ok, self)
                box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
                box.open()

        config = config or SPairExportConfig(overwrite=overwrite)
        return background.run_in_background(
            lambda: export_pairs(project, out, config, include_predictions=include_predictions), done,
            lambda exc: self._write_failed(out, exc))

    def _write_failed(self, path: Path, exc: BaseException) -> None:
        """An export the disk refused (no such folder, a file in the way, no space) is the
        person's to fix, not a bug: say so with the OS's reason."""
        if isinstance(exc, OSError) and not isinstance(exc, LabelerError):
            exc = LabelerError(f"cannot write {path}: {exc.strerror or exc}")
        show_error(exc, self)

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
        self.statusBar().setStyleSheet("QStatusBar { color: #ff9b9b; }" if error else "")
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
        self.poll_timer.stop()
        self.connection.close()
        self._last_image_timer.stop()
        self._remember_image()
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
