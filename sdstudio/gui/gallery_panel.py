"""The gallery panel: saved generations newest first, thumbnails loaded lazily off the GUI thread."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRunnable,
    QSize,
    Qt,
    QThreadPool,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QKeySequence, QPainter, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from sdstudio.gui.images import pil_to_qimage

log = logging.getLogger(__name__)

THUMB = 128
PAGE = 200


class _ThumbSignals(QObject):
    loaded = Signal(object, QImage)  # (record id, image)


class _ThumbTask(QRunnable):
    """Makes or reads a thumbnail on the thread pool; only a QImage crosses back to the GUI thread."""

    def __init__(self, store: Any, record: Any, signals: _ThumbSignals):
        super().__init__()
        self.store, self.record, self.signals = store, record, signals

    def run(self) -> None:
        image = QImage()
        try:
            path = self.store.thumbnail(self.record.id)  # made and cached on disk by the store
            if path:
                from PIL import Image

                with Image.open(path) as img:
                    img.thumbnail((THUMB, THUMB))
                    image = pil_to_qimage(img.convert("RGB"))
        except Exception as e:  # a missing or broken file shows as a blank tile
            log.warning("thumbnail of %s failed: %s", self.record.id, e)
        self.signals.loaded.emit(self.record.id, image)


class _RescanSignals(QObject):
    done = Signal(int)


class _RescanTask(QRunnable):
    def __init__(self, store: Any, signals: _RescanSignals):
        super().__init__()
        self.store, self.signals = store, signals

    def run(self) -> None:
        try:
            changed = int(self.store.rescan() or 0)
        except Exception as e:  # the gallery still shows what the index has
            log.warning("gallery rescan failed: %s", e)
            changed = 0
        self.signals.done.emit(changed)


class GalleryModel(QAbstractListModel):
    """Records from the store, fetched a page at a time; a thumbnail is requested when a tile is first shown."""

    def __init__(self, store: Any, parent: QObject | None = None):
        super().__init__(parent)
        self.store = store
        self.query = ""
        self.starred_only = False
        self._records: list[Any] = []
        self._exhausted = False
        self._icons: dict[Any, QIcon] = {}
        self._starred_icons: dict[Any, QIcon] = {}
        self._pending: set[Any] = set()
        self._signals = _ThumbSignals(self)
        self._signals.loaded.connect(self._on_thumb)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        blank = QPixmap(THUMB, THUMB)
        blank.fill(QColor(60, 60, 60))
        self._blank = QIcon(blank)

    # -- data ------------------------------------------------------------------------------------
    def reload(self, query: str | None = None) -> None:
        if query is not None:
            self.query = query
        self.beginResetModel()
        self._records, self._exhausted = [], False
        self._fetch()
        self.endResetModel()

    def _fetch(self) -> list[Any]:
        if self.store is None:  # no store: an empty gallery
            self._exhausted = True
            return []
        try:  # keyset paging: the next page starts after the last record held
            after = self._records[-1] if self._records else None
            starred = True if self.starred_only else None
            page = list(self.store.search(self.query, limit=PAGE, after=after, starred=starred))
        except Exception as e:
            log.warning("gallery search failed: %s", e)
            page = []
        self._exhausted = len(page) < PAGE
        self._records.extend(page)
        return page

    def canFetchMore(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> bool:  # noqa: N802, B008
        return not parent.isValid() and not self._exhausted

    def fetchMore(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> None:  # noqa: N802, B008
        start = len(self._records)
        page = self._fetch()
        if page:
            self.beginInsertRows(QModelIndex(), start, start + len(page) - 1)
            self.endInsertRows()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._records)

    def record(self, row: int) -> Any | None:
        return self._records[row] if 0 <= row < len(self._records) else None

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        rec = self.record(index.row())
        if rec is None:
            return None
        if role == Qt.ItemDataRole.DecorationRole:
            icon = self._icons.get(rec.id)
            if icon is None:
                self._request_thumb(rec)
                return self._blank
            if not rec.starred:
                return icon
            return self._starred_icons.get(rec.id) or _with_star(self._starred_icons, rec.id, icon)
        if role == Qt.ItemDataRole.ToolTipRole:
            return (
                f"{'★ ' if rec.starred else ''}{rec.prompt[:200]}\nSeed {rec.seed}, {rec.steps} steps, "
                f"{rec.width}×{rec.height}, {rec.sampler}, {rec.model}"
            )
        if role == Qt.ItemDataRole.UserRole:
            return rec
        return None

    def update_record(self, row: int, record: Any) -> None:
        """Replace one record (its star changed, say) and repaint its tile."""
        self._records[row] = record
        self._starred_icons.pop(record.id, None)
        idx = self.index(row)
        self.dataChanged.emit(idx, idx)

    def thumbnails_loaded(self) -> int:
        return len(self._icons)

    # -- thumbnails ------------------------------------------------------------------------------
    def _request_thumb(self, rec: Any) -> None:
        if rec.id in self._pending:
            return
        self._pending.add(rec.id)
        self.pool.start(_ThumbTask(self.store, rec, self._signals))

    def _on_thumb(self, record_id: Any, image: QImage) -> None:
        self._pending.discard(record_id)
        if image.isNull():
            self._icons[record_id] = self._blank
        else:
            self._icons[record_id] = QIcon(QPixmap.fromImage(image))
        for row, rec in enumerate(self._records):
            if rec.id == record_id:
                idx = self.index(row)
                self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])
                break


def _with_star(cache: dict[Any, QIcon], key: Any, icon: QIcon) -> QIcon:
    """The thumbnail with a star in its corner (cached per record)."""
    pixmap = icon.pixmap(THUMB, THUMB)
    painter = QPainter(pixmap)
    font = QFont(painter.font())
    font.setPixelSize(26)
    painter.setFont(font)
    painter.setPen(QColor(0, 0, 0, 160))
    painter.drawText(
        pixmap.rect().adjusted(0, 2, -4, 0), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop, "★"
    )
    painter.setPen(QColor(255, 200, 40))
    painter.drawText(
        pixmap.rect().adjusted(0, 0, -6, 0), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop, "★"
    )
    painter.end()
    cache[key] = QIcon(pixmap)
    return cache[key]


def _parameters_text(record: Any) -> str:
    """The picture's full parameters as A1111 shows them (any tool's), else what the index holds."""
    from sdstudio.core.gallery.metadata import read_parameters

    try:
        if text := read_parameters(Path(record.path)).infotext:
            return text
    except (OSError, ValueError):
        pass
    return f"{record.prompt}\nNegative prompt: {record.negative_prompt}\nSeed: {record.seed}"


class ImageViewer(QDialog):
    """A saved picture shown large, with its parameters."""

    def __init__(self, record: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"sdstudio: {Path(record.path).name}")
        label = QLabel()
        label.setPixmap(QPixmap(str(record.path)))
        scroll = QScrollArea()
        scroll.setWidget(label)
        scroll.setWidgetResizable(True)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        info = QLabel(_parameters_text(record))
        info.setObjectName("parameters")
        info.setWordWrap(True)
        info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay = QVBoxLayout(self)
        lay.addWidget(scroll, 1)
        lay.addWidget(info)
        self.resize(900, 900)


class GalleryPanel(QWidget):
    """Search, thumbnails and the actions on the selected picture."""

    sendToCanvas = Signal(QImage)
    reuseRequested = Signal(object)  # Request
    message = Signal(str, bool)  # (text, is_error)

    def __init__(self, store: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.store = store
        self.loras: Any = None  # a LoraCatalog: Reuse relinks renamed LoRAs by their recorded hash
        self.model = GalleryModel(store, self)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search prompts…")
        self.search.setClearButtonEnabled(True)
        self.starred_filter = QCheckBox("★ only")
        self.starred_filter.setToolTip("show starred pictures only")
        self.view = QListView()
        self.view.setObjectName("galleryView")
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setIconSize(QSize(THUMB, THUMB))
        self.view.setGridSize(QSize(THUMB + 8, THUMB + 8))
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setUniformItemSizes(True)
        self.view.setModel(self.model)
        self.open_button = QPushButton("View")
        self.send_button = QPushButton("Send to canvas")
        self.reuse_button = QPushButton("Reuse parameters")
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("move the file to the system trash")
        self.star_button = QPushButton("★")
        self.star_button.setCheckable(True)
        self.star_button.setToolTip("star or unstar the picture (S)")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.starred_filter)
        lay.addLayout(top)
        lay.addWidget(self.view, 1)
        self.action_buttons = (
            self.star_button,
            self.open_button,
            self.send_button,
            self.reuse_button,
            self.delete_button,
        )  # act on the selected picture
        row = QGridLayout()  # two rows: the dock fits beside the canvas on a laptop screen
        for i, b in enumerate((self.star_button, self.open_button, self.delete_button)):
            row.addWidget(b, 0, i)
        row.addWidget(self.send_button, 1, 0, 1, 2)
        row.addWidget(self.reuse_button, 1, 2)
        lay.addLayout(row)
        self._search_timer = QTimer(self, singleShot=True, interval=200)
        self._search_timer.timeout.connect(lambda: self.model.reload(self.search.text().strip()))
        self.search.textChanged.connect(self._search_timer.start)
        self.view.doubleClicked.connect(lambda _: self.open_selected())
        self.view.selectionModel().selectionChanged.connect(self._update_buttons)
        self.model.modelReset.connect(self._update_buttons)
        self.open_button.clicked.connect(self.open_selected)
        self.send_button.clicked.connect(self.send_selected)
        self.reuse_button.clicked.connect(self.reuse_selected)
        self.delete_button.clicked.connect(self.delete_selected)
        self.star_button.clicked.connect(self.toggle_star)
        star_key = QShortcut(QKeySequence(Qt.Key.Key_S), self.view)
        star_key.setContext(Qt.ShortcutContext.WidgetShortcut)
        star_key.activated.connect(self.toggle_star)
        self.starred_filter.toggled.connect(self._filter_starred)
        self.viewer: ImageViewer | None = None
        self.refresh()

    def rescan_in_background(self) -> None:
        """Bring the index in line with the files on a pool thread, then refresh if anything changed."""
        if self.store is None or not hasattr(self.store, "rescan"):
            return
        self._rescan_signals = _RescanSignals(self)
        self._rescan_signals.done.connect(lambda n: self.refresh() if n else None)
        self.model.pool.start(_RescanTask(self.store, self._rescan_signals))

    def shutdown(self) -> None:
        """Drop queued thumbnail work and wait for the running tasks (before the widgets go)."""
        self.model.pool.clear()
        self.model.pool.waitForDone(3000)

    def refresh(self) -> None:
        """Reload from the store, keeping the selected picture selected when it is still there."""
        keep = self.selected()
        self.model.reload()
        if keep is not None:
            for row in range(self.model.rowCount()):
                if self.model.record(row).id == keep.id:
                    self.select_row(row)
                    break
        self._update_buttons()

    def selected(self) -> Any | None:
        rows = self.view.selectionModel().selectedIndexes()
        return self.model.record(rows[0].row()) if rows else None

    def select_row(self, row: int) -> None:
        self.view.setCurrentIndex(self.model.index(row))

    def _update_buttons(self) -> None:
        rec = self.selected()
        for b in self.action_buttons:
            b.setEnabled(rec is not None)
        self.star_button.setChecked(bool(rec is not None and rec.starred))

    def _filter_starred(self, on: bool) -> None:
        self.model.starred_only = on
        self.refresh()

    def toggle_star(self) -> None:
        """Star the selected picture, or unstar it (kept in the index and in a file beside the pictures)."""
        rows = self.view.selectionModel().selectedIndexes()
        rec = self.model.record(rows[0].row()) if rows else None
        if rec is None:
            return
        try:
            self.store.set_star(rec.id, not rec.starred)
            updated = self.store.get(rec.id)
        except Exception as e:
            self.message.emit(f"Could not star {Path(rec.path).name}: {e}", True)
            return
        if updated is not None:
            self.model.update_record(rows[0].row(), updated)
        self._update_buttons()

    # -- actions ---------------------------------------------------------------------------------
    def open_selected(self) -> None:
        rec = self.selected()
        if rec is not None:
            self.viewer = ImageViewer(rec, self)
            self.viewer.show()

    def send_selected(self) -> None:
        rec = self.selected()
        if rec is None:
            return
        image = QImage(str(rec.path))
        if image.isNull():
            self.message.emit(f"Cannot read {rec.path}; the file may have been moved or deleted.", True)
            return
        self.sendToCanvas.emit(image)

    def reuse_selected(self) -> None:
        rec = self.selected()
        if rec is None:
            return
        try:
            request = self.store.request_of(rec, loras=self.loras)
        except Exception as e:
            request, why = None, str(e)
        else:
            why = "it holds no generation parameters"
        if request is None:
            self.message.emit(f"Cannot reuse {Path(rec.path).name}: {why}.", True)
            return
        self.reuseRequested.emit(request)

    def delete_selected(self) -> None:
        rec = self.selected()
        if rec is None:
            return
        try:
            if not self.store.delete(rec.id):
                raise OSError("it is no longer in the gallery")
        except Exception as e:  # shown in the window, never as a traceback
            self.message.emit(f"Could not move {Path(rec.path).name} to the trash: {e}", True)
            return
        self.message.emit(f"Moved {Path(rec.path).name} to the trash.", False)
        self.refresh()
