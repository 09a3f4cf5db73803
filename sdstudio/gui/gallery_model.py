"""The gallery's list model: records from the store a page at a time, thumbnails made off the GUI thread."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPointF,
    QRunnable,
    Qt,
    QThreadPool,
    QUrl,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QPainter, QPixmap, QPolygonF

from sdstudio.gui.images import pil_to_qimage

log = logging.getLogger(__name__)

THUMB = 128
PAGE = 200


def square(image: QImage) -> QImage:
    """A THUMB×THUMB tile with the picture centred: a landscape or portrait thumbnail keeps its shape and the
    selection frame lies around the tile, not a band below a short picture."""
    tile = QImage(THUMB, THUMB, QImage.Format.Format_ARGB32_Premultiplied)
    tile.fill(QColor(0, 0, 0, 0))
    painter = QPainter(tile)
    painter.drawImage((THUMB - image.width()) // 2, (THUMB - image.height()) // 2, image)
    painter.end()
    return tile


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
                    image = square(pil_to_qimage(img.convert("RGB")))
        except Exception as e:  # a missing or broken file shows as a blank tile
            log.warning("thumbnail of %s failed: %s", self.record.id, e)
        self.signals.loaded.emit(self.record.id, image)


class RescanSignals(QObject):
    done = Signal(int)


class RescanTask(QRunnable):
    def __init__(self, store: Any, signals: RescanSignals):
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
        self._badged_icons: dict[Any, QIcon] = {}  # (id, starred): the thumbnail with its star / video badge
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
            video = rec.kind == "video"
            if not rec.starred and not video:
                return icon
            key = (rec.id, rec.starred)
            return self._badged_icons.get(key) or _with_badges(
                self._badged_icons, key, icon, rec.starred, video
            )
        if role == Qt.ItemDataRole.ToolTipRole:
            if rec.kind == "video":
                return (
                    f"{'★ ' if rec.starred else ''}▶ {rec.origin} (double-click plays it)\n{rec.prompt[:200]}\n"
                    f"Seed {rec.seed}, {rec.steps} steps, {rec.width}×{rec.height}, {rec.sampler}"
                )
            return (
                f"{'★ ' if rec.starred else ''}{rec.prompt[:200]}\nSeed {rec.seed}, {rec.steps} steps, "
                f"{rec.width}×{rec.height}, {rec.sampler}, {rec.model}"
            )
        if role == Qt.ItemDataRole.UserRole:
            return rec
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        """Tiles can be dragged out: onto the canvas, or to any program that takes files."""
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() else base

    def mimeTypes(self) -> list[str]:  # noqa: N802 (Qt name)
        return ["text/uri-list"]

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:  # noqa: N802 (Qt name)
        """The pictures' files as URLs (the canvas opens a dropped file)."""
        data = QMimeData()
        records = [self.record(i.row()) for i in indexes]
        data.setUrls([QUrl.fromLocalFile(str(r.path)) for r in records if r is not None])
        return data

    def update_record(self, row: int, record: Any) -> None:
        """Replace one record (its star changed, say) and repaint its tile."""
        self._records[row] = record
        self._badged_icons.pop((record.id, record.starred), None)
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


def _with_badges(cache: dict[Any, QIcon], key: Any, icon: QIcon, star: bool, video: bool) -> QIcon:
    """The thumbnail with a star in its top-right corner and, for a video, a play badge bottom-left."""
    pixmap = icon.pixmap(THUMB, THUMB)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    if star:
        font = QFont(painter.font())
        font.setPixelSize(26)
        painter.setFont(font)
        corner = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop
        painter.setPen(QColor(0, 0, 0, 160))
        painter.drawText(pixmap.rect().adjusted(0, 2, -4, 0), corner, "★")
        painter.setPen(QColor(255, 200, 40))
        painter.drawText(pixmap.rect().adjusted(0, 0, -6, 0), corner, "★")
    if video:  # a dark disc with a white triangle: "this plays"
        d, x, y = 30, 6, pixmap.height() - 36
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 170))
        painter.drawEllipse(x, y, d, d)
        painter.setBrush(QColor(255, 255, 255))
        painter.drawPolygon(
            QPolygonF([QPointF(x + 11, y + 8), QPointF(x + 11, y + d - 8), QPointF(x + d - 7, y + d / 2)])
        )
    painter.end()
    cache[key] = QIcon(pixmap)
    return cache[key]
