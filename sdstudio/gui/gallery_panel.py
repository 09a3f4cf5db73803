"""The gallery panel: saved generations newest first, thumbnails loaded lazily off the GUI thread."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QEvent,
    QObject,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QImage, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from sdstudio.core.metadata_io import atomic_write
from sdstudio.gui.gallery_model import THUMB, GalleryModel, RescanSignals, RescanTask
from sdstudio.gui.gallery_video import still_of
from sdstudio.gui.gallery_viewer import ImageViewer

log = logging.getLogger(__name__)

UNDO_DELETES = 10  # deletions Ctrl+Z can bring back


class GalleryPanel(QWidget):
    """Search, thumbnails and the actions on the selected picture."""

    sendToCanvas = Signal(QImage)
    reuseRequested = Signal(object)  # Request
    animationReuseRequested = Signal(object)  # Path: a video's project folder (its settings.txt)
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
        self.view.setSelectionMode(QListView.SelectionMode.ExtendedSelection)  # Ctrl/Shift+click: several
        self.view.setDragEnabled(True)  # a tile dragged onto the canvas becomes its picture
        self.view.setDragDropMode(QListView.DragDropMode.DragOnly)
        self.view.setModel(self.model)
        self.count = QLabel()
        self.count.setObjectName("galleryCount")
        self.count.setStyleSheet("color: palette(mid);")
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
        lay.addWidget(self.count)
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
        self.model.modelReset.connect(self._update_count)
        self.open_button.clicked.connect(self.open_selected)
        self.send_button.clicked.connect(self.send_selected)
        self.reuse_button.clicked.connect(self.reuse_selected)
        self.delete_button.clicked.connect(self.delete_selected)
        self.star_button.clicked.connect(self.toggle_star)
        star_key = QShortcut(QKeySequence(Qt.Key.Key_S), self.view)
        star_key.setContext(Qt.ShortcutContext.WidgetShortcut)
        star_key.activated.connect(self.toggle_star)
        self.starred_filter.toggled.connect(self._filter_starred)
        self._deleted: list[list[tuple[Path, bytes]]] = []
        self.view.installEventFilter(self)  # Ctrl+Z on the thumbnails: undo the last delete
        self.viewer: ImageViewer | None = None
        self.player: QWidget | None = None  # the VideoPlayer of a video entry
        self.refresh()

    def rescan_in_background(self) -> None:
        """Bring the index in line with the files on a pool thread, then refresh if anything changed."""
        if self.store is None or not hasattr(self.store, "rescan"):
            return
        self._rescan_signals = RescanSignals(self)
        self._rescan_signals.done.connect(lambda n: self.refresh() if n else None)
        self.model.pool.start(RescanTask(self.store, self._rescan_signals))

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

    def _update_count(self) -> None:
        """How many pictures match ("no matches" when a search finds none)."""
        query, starred = self.model.query, self.model.starred_only
        try:
            n = self.store.count(query, starred=True if starred else None) if self.store is not None else 0
        except Exception as e:  # the count is a nicety; the list still shows what it found
            log.warning("gallery count failed: %s", e)
            n = self.model.rowCount()
        what = f"“{query}”" if query else ("starred pictures" if starred else "")
        if n:
            self.count.setText(f"{n} picture{'s' * (n != 1)}" + (f" matching {what}" if query else ""))
        elif query or starred:
            self.count.setText(f"No matches for {what}" if query else "No starred pictures")
        else:
            self.count.setText("No pictures yet: Generate saves each one here")

    def _filter_starred(self, on: bool) -> None:
        self.model.starred_only = on
        self.refresh()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if (
            watched is self.view
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.matches(QKeySequence.StandardKey.Undo)
        ):
            self.undo_delete()
            return True
        return super().eventFilter(watched, event)

    def selected_rows(self) -> list[int]:
        return sorted({i.row() for i in self.view.selectionModel().selectedIndexes()})

    def toggle_star(self) -> None:
        """Star the selected pictures (all of them unstarred when all were starred); kept beside the files."""
        rows = self.selected_rows()
        records = [(row, self.model.record(row)) for row in rows]
        records = [(row, rec) for row, rec in records if rec is not None]
        if not records:
            return
        star = not all(rec.starred for _, rec in records)
        for row, rec in records:
            try:
                self.store.set_star(rec.id, star)
                updated = self.store.get(rec.id)
            except Exception as e:
                self.message.emit(f"Could not star {Path(rec.path).name}: {e}", True)
                return
            if updated is not None:
                self.model.update_record(row, updated)
        self._update_buttons()

    # -- actions ---------------------------------------------------------------------------------
    def open_selected(self) -> None:
        """View the picture, or play the video (an animation)."""
        rows = self.view.selectionModel().selectedIndexes()
        if not rows:
            return
        rec = self.model.record(rows[0].row())
        if rec is not None and rec.kind == "video":
            from sdstudio.gui.gallery_video import VideoPlayer

            if self.player is not None:
                self.player.close()
            self.player = VideoPlayer(self, rec)
            self.player.show()
            return
        self.viewer = ImageViewer(self, rows[0].row())
        self.viewer.show()

    def send_selected(self) -> None:
        rec = self.selected()
        if rec is None:
            return
        image = QImage(str(still_of(rec)))
        if image.isNull():
            self.message.emit(f"Cannot read {rec.path}; the file may have been moved or deleted.", True)
            return
        self.sendToCanvas.emit(image)

    def reuse_selected(self) -> None:
        rec = self.selected()
        if rec is not None:
            self.reuse_record(rec)

    def reuse_record(self, rec: Any) -> None:
        """Its parameters back into the prompt panel; a video's settings into the Animation panel."""
        if rec.kind == "video":
            if rec.project and Path(rec.project, "settings.txt").is_file():
                self.animationReuseRequested.emit(Path(rec.project))
            else:
                self.message.emit(f"Cannot reuse {Path(rec.path).name}: its project folder is gone.", True)
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
        """Move the selected pictures to the trash; Ctrl+Z in the gallery brings the last deletion back."""
        records = [r for r in (self.model.record(row) for row in self.selected_rows()) if r is not None]
        if not records:
            return
        kept: list[tuple[Path, bytes]] = []
        for rec in records:
            path = Path(rec.path)
            try:
                data = path.read_bytes()  # for Ctrl+Z: the system trash has no portable way back
                if not self.store.delete(rec.id):
                    raise OSError("it is no longer in the gallery")
            except Exception as e:  # shown in the window, never as a traceback
                self.message.emit(f"Could not move {path.name} to the trash: {e}", True)
                break
            kept.append((path, data))
        if kept:
            self._deleted = (self._deleted + [kept])[-UNDO_DELETES:]
            what = kept[0][0].name if len(kept) == 1 else f"{len(kept)} pictures"
            self.message.emit(f"Moved {what} to the trash. Ctrl+Z in the gallery brings it back.", False)
        self.refresh()

    def undo_delete(self) -> bool:
        """Write the last deleted pictures back where they were and index them again."""
        if not self._deleted:
            self.message.emit("Nothing deleted to bring back.", False)
            return False
        batch = self._deleted.pop()
        for path, data in batch:
            try:
                if not path.exists():
                    atomic_write(path, data)
            except OSError as e:
                self.message.emit(f"Could not bring back {path.name}: {e}", True)
        try:
            self.store.rescan()
        except Exception as e:
            self.message.emit(f"The gallery could not be read again: {e}", True)
        self.refresh()
        what = batch[0][0].name if len(batch) == 1 else f"{len(batch)} pictures"
        self.message.emit(f"Brought back {what}.", False)
        return True
