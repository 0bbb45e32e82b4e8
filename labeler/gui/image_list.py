"""The image list: a virtual model over the store's image index, thumbnails decoded lazily.

The model holds only ``(id, path, review status)`` tuples (one query for the whole project,
run off the UI thread); rows are drawn on demand, and a thumbnail is asked for only when its
row is painted, so 100k images cost a list of tuples, not 100k widgets or decodes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PyQt6.QtCore import QAbstractListModel, QItemSelectionModel, QModelIndex, QRect, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPixmap
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from labeler.errors import LabelerError
from labeler.gui.image_flags import FLAG_LOOKS
from labeler.gui.image_loader import ThumbnailLoader
from labeler.gui.style import STATUS_COLOURS
from labeler.store import (
    FLAG_LATER,
    FLAG_NO_OBJECT,
    FLAG_SKIP,
    FLAGS_OUT_OF_REVIEW,
    PARTIAL,
    REVIEW_PREDICTED,
    REVIEW_STATUSES,
    REVIEWED,
    UNLABELED,
    Project,
)

IndexRow = tuple[int, str, str]  # (image id, path relative to the images root, review status)

IdRole = Qt.ItemDataRole.UserRole + 1
StatusRole = Qt.ItemDataRole.UserRole + 2
PathRole = Qt.ItemDataRole.UserRole + 3
ThumbRole = Qt.ItemDataRole.UserRole + 4
ClaimRole = Qt.ItemDataRole.UserRole + 5  # who else is labelling the image (team projects)
MissingRole = Qt.ItemDataRole.UserRole + 6
FlagRole = Qt.ItemDataRole.UserRole + 7
ConfirmedRole = Qt.ItemDataRole.UserRole + 8

BY_NAME, BY_CONFIDENCE = "name", "confidence"
SORTS: tuple[tuple[str, str], ...] = (("By name", BY_NAME), ("Least confident first", BY_CONFIDENCE))


def name_lines(name: str, fm: QFontMetrics, width: int, lines: int = 2) -> list[str]:
    """A file name in up to ``lines`` lines of ``width`` pixels: whole when it fits (broken after
    "_", "-", "." or a space when it can, else anywhere); only a name longer than that is
    shortened, in the middle of its last line. A narrow list showed "cat_1…r.jpg"."""
    if fm.horizontalAdvance(name) <= width:
        return [name]
    if lines <= 1:
        return [fm.elidedText(name, Qt.TextElideMode.ElideMiddle, width)]
    cut = 1
    while cut < len(name) and fm.horizontalAdvance(name[:cut + 1]) <= width:
        cut += 1
    soft = max((name.rfind(c, 0, cut) + 1 for c in "_-. "), default=0)
    if soft > cut // 2:
        cut = soft
    return [name[:cut], *name_lines(name[cut:], fm, width, lines - 1)]


@dataclass(frozen=True)
class Listing:
    """What the list shows, read in one go off the UI thread (see :func:`fetch_listing`)."""

    rows: list[IndexRow]
    flags: dict[int, str] = field(default_factory=dict)
    confirmed: dict[int, int] = field(default_factory=dict)
    keypoints: int = 0
    least_confident: list[int] | None = None  # image ids, the review queue's order (None: not read)


def fetch_listing(project: Project, *, least_confident: bool = False) -> Listing:
    """The index, flags and confirmed counts (a few GROUP BYs); the review queue's order too
    when the list sorts by confidence (an aggregate over every prediction: only then)."""
    return Listing(
        rows=project.image_index(),
        flags=project.image_flags(),
        confirmed=project.confirmed_per_image(),
        keypoints=len(project.schema().keypoints),
        least_confident=[q.image_id for q in project.review_queue()] if least_confident else None,
    )

#: The filter choices: label, review statuses shown (None = all).
FILTERS: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("All images", None),
    ("Unlabeled", (UNLABELED,)),
    ("In progress", (PARTIAL,)),
    ("Predicted (to review)", (REVIEW_PREDICTED,)),
    ("Reviewed", (REVIEWED,)),
)
STATUS_WORDS = {UNLABELED: "unlabeled", PARTIAL: "in progress", REVIEW_PREDICTED: "to review", REVIEWED: "reviewed"}


def row_status_words(status: str, flag: str | None) -> str:
    """A row's state in words. A flagged image is out of the review queue (its predictions wait
    until the flag is cleared, and it is counted by its flag), so it never says "to review"."""
    if status == REVIEW_PREDICTED and flag in FLAGS_OUT_OF_REVIEW:
        return "out of review"
    return STATUS_WORDS.get(status, status)

#: Filters by image flag, after the status filters in the same combo: label, flag.
FLAG_FILTERS: tuple[tuple[str, str], ...] = (
    ("Skipped", FLAG_SKIP),
    ("No object", FLAG_NO_OBJECT),
    ("Flagged for later", FLAG_LATER),
)


class ImageListModel(QAbstractListModel):
    def __init__(self, thumbnails: ThumbnailLoader | None = None, resolve: Callable[[str], Path] | None = None) -> None:
        super().__init__()
        self._rows: list[IndexRow] = []
        self._row_of: dict[int, int] = {}
        self._thumbs = thumbnails
        self._resolve = resolve
        self._claims: dict[int, str] = {}
        self._missing: set[int] = set()  # files not found (at the last check, or when shown)
        self.flags: dict[int, str] = {}  # image id -> flag (skip, no_object, later)
        self.confirmed: dict[int, int] = {}  # image id -> keypoints a person decided
        self.keypoint_count = 0  # K of "k/K confirmed" (0: not shown)
        if thumbnails is not None:
            thumbnails.ready.connect(self._thumbnail_ready)

    def set_resolver(self, resolve: Callable[[str], Path] | None) -> None:
        self._resolve = resolve

    # -- contents ------------------------------------------------------------------------------
    def set_rows(self, rows: Sequence[IndexRow]) -> None:
        """Replace the rows; when the same images are listed in the same order only the changed
        statuses are signalled (selection and scroll position stay)."""
        rows = list(rows)
        same = len(rows) == len(self._rows) and all(a[0] == b[0] for a, b in zip(rows, self._rows, strict=True))
        if same:
            changed = [i for i, (a, b) in enumerate(zip(rows, self._rows, strict=True)) if a != b]
            self._rows = rows
            for i in changed:
                idx = self.index(i)
                self.dataChanged.emit(idx, idx)
            return
        self.beginResetModel()
        self._rows = rows
        self._row_of = {r[0]: i for i, r in enumerate(rows)}
        self.endResetModel()

    def rows(self) -> list[IndexRow]:
        return list(self._rows)

    def row_of(self, image_id: int) -> int | None:
        return self._row_of.get(image_id)

    def row_at(self, row: int) -> IndexRow | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def set_claims(self, claims: dict[int, str]) -> None:
        """image id -> who else is labelling it now (shown under the name and in the tooltip)."""
        changed = set(claims.items()) ^ set(self._claims.items())
        self._claims = dict(claims)
        for image_id in {i for i, _ in changed}:
            row = self._row_of.get(image_id)
            if row is not None:
                idx = self.index(row)
                self.dataChanged.emit(idx, idx)

    def set_status(self, image_id: int, status: str) -> None:
        row = self._row_of.get(image_id)
        if row is not None and self._rows[row][2] != status:
            i, p, _ = self._rows[row]
            self._rows[row] = (i, p, status)
            idx = self.index(row)
            self.dataChanged.emit(idx, idx)

    def set_missing(self, image_id: int, missing: bool) -> None:
        if missing == (image_id in self._missing):
            return
        (self._missing.add if missing else self._missing.discard)(image_id)
        row = self._row_of.get(image_id)
        if row is not None:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx)

    def set_missing_ids(self, image_ids: Sequence[int]) -> None:
        for image_id in set(self._missing) - set(image_ids):
            self.set_missing(image_id, False)
        for image_id in image_ids:
            self.set_missing(image_id, True)

    def is_missing(self, image_id: int) -> bool:
        return image_id in self._missing

    def changed(self, image_id: int) -> None:
        row = self._row_of.get(image_id)
        if row is not None:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx)

    # -- Qt model ------------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: ANN201
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        image_id, path, status = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return path.rsplit("/", 1)[-1]
        if role == Qt.ItemDataRole.ToolTipRole:
            who = self._claims.get(image_id)
            state = "file missing" if image_id in self._missing else row_status_words(status, self.flags.get(image_id))
            return f"{path}\n{state}" + (f"\nbeing labelled by {who}" if who else "")
        if role == ClaimRole:
            return self._claims.get(image_id)
        if role == MissingRole:
            return image_id in self._missing
        if role == FlagRole:
            return self.flags.get(image_id)
        if role == ConfirmedRole:
            return f"{self.confirmed.get(image_id, 0)}/{self.keypoint_count}" if self.keypoint_count else ""
        if role == IdRole:
            return image_id
        if role == StatusRole:
            return status
        if role == PathRole:
            return path
        if role == ThumbRole:
            return self._thumbnail(image_id, path)
        return None

    def _thumbnail(self, image_id: int, path: str) -> QImage | None | bool:
        if self._thumbs is None:
            return None
        found = self._thumbs.get(image_id)
        if found is False and self._resolve is not None:
            try:
                file = self._resolve(path)
            except LabelerError:  # a link leading outside the images folder: no thumbnail
                return None
            self._thumbs.request(image_id, file)
        return found

    def _thumbnail_ready(self, image_id: int) -> None:
        row = self._row_of.get(image_id)
        if row is not None:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [ThumbRole])


class ImageRowDelegate(QStyledItemDelegate):
    """Thumbnail, file name, folder, and a dot in the review status's colour."""

    def __init__(self, thumb_size: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumb = thumb_size
        self._broken = self._make_broken()

    def _make_broken(self) -> QPixmap:
        pm = QPixmap(self.thumb, self.thumb)
        pm.fill(QColor("#2a1f24"))
        p = QPainter(pm)
        p.setPen(QColor("#ff8a8a"))
        p.drawText(pm.rect(), Qt.AlignmentFlag.AlignCenter, "missing")
        p.end()
        return pm

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        return QSize(120, self.thumb + 8)  # rows fill the list's width; wider would add a scroll bar

    def text_width(self, row: QRect) -> int:
        """Pixels for the name and status lines of a row drawn in ``row`` (right of the thumbnail)."""
        return row.right() - (row.left() + 4 + self.thumb - 1 + 8) - 4

    def name_font(self, base: QFont) -> QFont:
        font = QFont(base)
        font.setBold(True)
        return font

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        painter.save()
        r = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.fillRect(r, QColor("#2f6fb3") if selected else (QColor("#151920") if index.row() % 2 else QColor("#181c24")))
        thumb_rect = QRect(r.left() + 4, r.top() + 4, self.thumb, self.thumb)
        thumb = index.data(ThumbRole)
        missing = bool(index.data(MissingRole))
        if missing:
            painter.drawPixmap(thumb_rect, self._broken)
        elif isinstance(thumb, QImage):
            x = thumb_rect.left() + (self.thumb - thumb.width()) // 2
            y = thumb_rect.top() + (self.thumb - thumb.height()) // 2
            painter.drawImage(x, y, thumb)
        elif thumb is None:
            painter.drawPixmap(thumb_rect, self._broken)
        else:
            painter.fillRect(thumb_rect, QColor("#232833"))
        status = index.data(StatusRole) or UNLABELED
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        out = status == REVIEW_PREDICTED and index.data(FlagRole) in FLAGS_OUT_OF_REVIEW  # not "to review" blue
        painter.setBrush(QColor("#6b7380" if out else STATUS_COLOURS.get(status, "#6b7380")))
        painter.setPen(QColor(10, 12, 16))
        painter.drawEllipse(thumb_rect.right() - 9, thumb_rect.bottom() - 9, 10, 10)
        text_left = thumb_rect.right() + 8
        text_rect = QRect(text_left, r.top() + 4, self.text_width(r), r.height() - 8)
        name_font = self.name_font(option.font)
        painter.setFont(name_font)
        painter.setPen(QColor("#ffffff") if selected else QColor("#e6e9ef"))
        fm = QFontMetrics(name_font)
        names = name_lines(index.data(Qt.ItemDataRole.DisplayRole) or "", fm, text_rect.width())
        for i, part in enumerate(names):
            painter.drawText(text_rect.translated(0, i * fm.height()), Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft, part)
        path = index.data(PathRole) or ""
        folder = path.rsplit("/", 1)[0] if "/" in path else ""
        small = QFont(option.font)
        small.setPointSizeF(max(7.0, option.font.pointSizeF() * 0.85))
        painter.setFont(small)
        painter.setPen(QColor("#dfe6f0") if selected else QColor("#8a93a2"))
        fm2 = QFontMetrics(small)
        lower = QRect(text_rect.left(), text_rect.top() + fm.height() * len(names) + 2, text_rect.width(),
                      fm2.height() * 2)
        words = row_status_words(status, index.data(FlagRole))
        confirmed = index.data(ConfirmedRole)
        if confirmed:
            words = f"{words} · {confirmed}"
        flag = index.data(FlagRole)
        if flag:
            self._badge(painter, FLAG_LOOKS[flag], r, selected)
        if missing:
            words = f"FILE MISSING · {words}"
            painter.setPen(QColor("#ff8a8a"))
        line = fm2.elidedText(f"{folder + '/  ' if folder else ''}{words}", Qt.TextElideMode.ElideLeft, text_rect.width())
        who = index.data(ClaimRole)
        if who:  # someone else is labelling it: that matters more than the folder
            line = fm2.elidedText(f"{who} is labelling", Qt.TextElideMode.ElideRight, text_rect.width())
        painter.drawText(lower, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft, line)
        painter.restore()


    @staticmethod
    def _badge(painter: QPainter, look: tuple[str, str], r: QRect, selected: bool) -> None:
        """The flag as a small tag at the row's bottom right."""
        word, colour = look
        small = QFont(painter.font())
        small.setPointSizeF(max(6.5, small.pointSizeF() * 0.8))
        small.setBold(True)
        fm = QFontMetrics(small)
        w, h = fm.horizontalAdvance(word.upper()) + 8, fm.height() + 2
        tag = QRect(r.right() - w - 4, r.bottom() - h - 4, w, h)
        painter.save()
        painter.setFont(small)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(colour))
        painter.drawRoundedRect(tag, 3, 3)
        painter.setPen(QColor("#11141a"))
        painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, word.upper())
        painter.restore()


class ImageListPanel(QWidget):
    """Filter combo, counts, and the list. ``image_activated(id)`` when the user picks a row."""

    image_activated = pyqtSignal(int)
    filter_changed = pyqtSignal()
    refresh_wanted = pyqtSignal()  # the sort needs data the list does not have yet

    def __init__(self, thumbnails: ThumbnailLoader | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = ImageListModel(thumbnails)
        self.view = QListView()
        self.view.setModel(self.model)
        self.view.setUniformItemSizes(True)
        self.view.setItemDelegate(ImageRowDelegate(thumbnails.size if thumbnails else 40, self.view))
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)  # several: to remove them
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.setLayoutMode(QListView.LayoutMode.Batched)
        self.view.setBatchSize(200)
        self.view.selectionModel().currentChanged.connect(self._current_changed)
        self.filter = QComboBox()
        for label, _ in FILTERS:
            self.filter.addItem(label)
        self.filter.insertSeparator(self.filter.count())
        for label, _ in FLAG_FILTERS:
            self.filter.addItem(label)
        self.filter.currentIndexChanged.connect(self._filter_changed)
        self.filter.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.filter.setMinimumContentsLength(10)  # a narrow list leaves the image its room
        self.counts = QLabel("")
        self.counts.setObjectName("muted")
        self.counts.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(QLabel("Show"))
        top.addWidget(self.filter, 1)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search file names")
        self.search.setClearButtonEnabled(True)
        self.search.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.search.textChanged.connect(self._search_changed)
        self.search.returnPressed.connect(self.filter_changed)  # back to the image (the window focuses it)
        self.sort = QComboBox()
        for label, _ in SORTS:
            self.sort.addItem(label)
        self.sort.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.sort.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.sort.setMinimumContentsLength(6)
        self.sort.currentIndexChanged.connect(self._sort_changed)
        second = QHBoxLayout()
        second.addWidget(self.search, 3)
        second.addWidget(self.sort, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addLayout(second)
        layout.addWidget(self.counts)
        layout.addWidget(self.view, 1)
        self._all: list[IndexRow] = []
        self._confidence_rank: dict[int, int] = {}
        self._status: dict[int, str] = {}
        self._programmatic = False

    @property
    def statuses(self) -> tuple[str, ...] | None:
        i = self.filter.currentIndex()
        return FILTERS[i][1] if 0 <= i < len(FILTERS) else None

    @property
    def flag_filter(self) -> str | None:
        """The flag the list is filtered by (None: a status filter)."""
        label = self.filter.currentText()
        return next((f for text, f in FLAG_FILTERS if text == label), None)

    def set_filter(self, statuses: tuple[str, ...] | None) -> None:
        for i, (_, st) in enumerate(FILTERS):
            if st == statuses:
                self.filter.setCurrentIndex(i)
                return

    def set_flag_filter(self, flag: str) -> None:
        label = next(text for text, f in FLAG_FILTERS if f == flag)
        self.filter.setCurrentIndex(self.filter.findText(label))

    # -- flags ---------------------------------------------------------------------------------
    def set_flags(self, flags: dict[int, str]) -> None:
        self.model.flags = dict(flags)

    def flag_of(self, image_id: int) -> str | None:
        return self.model.flags.get(image_id)

    def set_flag(self, image_id: int, flag: str | None) -> None:
        if flag is None:
            self.model.flags.pop(image_id, None)
        else:
            self.model.flags[image_id] = flag
        self.model.changed(image_id)
        self.set_index(self._all, keep=self.current_id())  # counts (and a flag filter) change

    def queue_status_of(self, image_id: int) -> str | None:
        """The review status, or "flagged" for a flagged image (the store's review queue leaves
        those out: FLAGS_OUT_OF_REVIEW; this keeps a queue fetched earlier in step)."""
        if self.model.flags.get(image_id) in FLAGS_OUT_OF_REVIEW:
            return "flagged"
        return self._status.get(image_id)

    def set_index(self, rows: Sequence[IndexRow], keep: int | None = None) -> None:
        """The whole project's index: counts are updated, the filter applied, ``keep`` stays selected."""
        self._all = list(rows)
        self._status = {r[0]: r[2] for r in rows}
        counts = Counter(r[2] for r in rows if r[0] not in self.model.flags)  # flagged ones: counted by flag
        # each "● 3 in progress" stays on one line (&nbsp;); lines break only between them
        parts = [f"{len(rows)}&nbsp;images"] + [
            f"<span style='color:{STATUS_COLOURS[s]}'>●</span>&nbsp;{counts.get(s, 0)}&nbsp;"
            + STATUS_WORDS[s].replace(" ", "&nbsp;") for s in REVIEW_STATUSES
        ]
        flagged = Counter(self.model.flags.get(r[0]) for r in rows)
        parts += [f"{flagged[f]}&nbsp;{FLAG_LOOKS[f][0].replace(' ', '&nbsp;')}" for f in FLAG_LOOKS if flagged.get(f)]
        self.counts.setText(" &nbsp; ".join(parts))
        wanted, flag = self.statuses, self.flag_filter
        if flag is not None:
            shown = [r for r in rows if self.model.flags.get(r[0]) == flag]
        else:
            shown = rows if wanted is None else [r for r in rows if r[2] in wanted]
        query = self.search.text().strip().casefold()
        if query:
            shown = [r for r in shown if query in r[1].rsplit("/", 1)[-1].casefold()]
        if self.sort_key == BY_CONFIDENCE:
            # least confident first (the review queue's order), then the rest by name
            rank = self._confidence_rank
            shown = sorted(shown, key=lambda r: (rank.get(r[0], len(rank)), r[1]))
        self.model.set_rows(shown)
        if keep is not None:
            self.select(keep)

    # -- search, sort, listing -----------------------------------------------------------------
    @property
    def sort_key(self) -> str:
        return SORTS[self.sort.currentIndex()][1]

    def set_sort(self, key: str) -> None:
        self.sort.setCurrentIndex(next(i for i, (_, k) in enumerate(SORTS) if k == key))

    def set_listing(self, listing: Listing, keep: int | None = None) -> None:
        """Everything the list shows, as :func:`fetch_listing` read it."""
        self.model.flags = dict(listing.flags)
        self.model.confirmed = dict(listing.confirmed)
        self.model.keypoint_count = listing.keypoints
        if listing.least_confident is not None:
            self._confidence_rank = {image_id: i for i, image_id in enumerate(listing.least_confident)}
        self.set_index(listing.rows, keep=keep)

    def set_confirmed(self, image_id: int, n: int) -> None:
        if self.model.confirmed.get(image_id, 0) != n:
            self.model.confirmed[image_id] = n
            self.model.changed(image_id)

    def _search_changed(self) -> None:
        self.set_index(self._all, keep=self.current_id())

    def _sort_changed(self) -> None:
        if self.sort_key == BY_CONFIDENCE:
            self.refresh_wanted.emit()  # the confidences are read off the UI thread, then sorted
        self.set_index(self._all, keep=self.current_id())
        self.filter_changed.emit()

    def all_rows(self) -> list[IndexRow]:
        return list(self._all)

    def status_of(self, image_id: int) -> str | None:
        """The image's review status as last listed (None: not listed)."""
        return self._status.get(image_id)

    def set_status(self, image_id: int, status: str) -> None:
        if image_id in self._status:
            self._status[image_id] = status
        self.model.set_status(image_id, status)

    def select(self, image_id: int) -> None:
        row = self.model.row_of(image_id)
        self._programmatic = True
        try:
            if row is None:
                self.view.selectionModel().clearCurrentIndex()
                self.view.clearSelection()
            else:
                idx = self.model.index(row)
                if self.view.currentIndex() != idx:  # (a refresh keeping the current row keeps a multi-selection)
                    # explicitly this row alone: the view's own command reads the keyboard's
                    # modifiers, and a key that moves here with Ctrl or Shift held (Ctrl+Z,
                    # Shift+X) would add the row to the selection (which Remove acts on)
                    flags = QItemSelectionModel.SelectionFlag
                    self.view.selectionModel().setCurrentIndex(idx, flags.ClearAndSelect | flags.Rows)
                self.view.scrollTo(idx, QAbstractItemView.ScrollHint.EnsureVisible)
        finally:
            self._programmatic = False

    def selected_ids(self) -> list[int]:
        return sorted(int(i.data(IdRole)) for i in self.view.selectionModel().selectedIndexes())

    def current_id(self) -> int | None:
        idx = self.view.currentIndex()
        return int(idx.data(IdRole)) if idx.isValid() else None

    def _filter_changed(self) -> None:
        self.set_index(self._all, keep=self.current_id())
        self.filter_changed.emit()

    def current_row(self) -> int | None:
        idx = self.view.currentIndex()
        return idx.row() if idx.isValid() else None

    def _current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        if self._programmatic or not current.isValid():
            return
        self.image_activated.emit(int(current.data(IdRole)))
