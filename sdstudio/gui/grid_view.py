"""A grid picture (X/Y/Z plot, prompt matrix, a batch) scaled to fit; clicking a cell says which one."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QImage, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from sdstudio.core.xyz_grid import GridPicture
from sdstudio.gui.images import pil_to_qimage


class GridView(QWidget):
    """Shows a GridPicture; cellClicked(x, y, z) when a cell (not a label) is clicked."""

    cellClicked = Signal(int, int, int)

    def __init__(self, picture: GridPicture, parent: QWidget | None = None):
        super().__init__(parent)
        self.picture = picture
        self.image: QImage = pil_to_qimage(picture.image)
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("click a cell to open its picture")

    def target(self) -> QRectF:
        """Where the picture is drawn: fitted inside the widget, centred, never enlarged past 2x."""
        w, h = self.image.width(), self.image.height()
        scale = min(self.width() / w, self.height() / h, 2.0)
        dw, dh = w * scale, h * scale
        return QRectF((self.width() - dw) / 2, (self.height() - dh) / 2, dw, dh)

    def to_picture(self, point: QPointF) -> tuple[int, int] | None:
        rect = self.target()
        if not rect.contains(point):
            return None
        scale = rect.width() / self.image.width()
        return int((point.x() - rect.x()) / scale), int((point.y() - rect.y()) / scale)

    def cell_centre(self, x: int, y: int, z: int = 0) -> QPointF:
        """The widget point at the middle of a cell (tests, keyboard)."""
        for cx, cy, cz, (left, top, right, bottom) in self.picture.boxes:
            if (cx, cy, cz) == (x, y, z):
                rect = self.target()
                scale = rect.width() / self.image.width()
                return QPointF(rect.x() + (left + right) / 2 * scale, rect.y() + (top + bottom) / 2 * scale)
        raise KeyError((x, y, z))

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(self.target(), self.image)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt name)
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        spot = self.to_picture(event.position())
        cell = self.picture.cell_at(*spot) if spot is not None else None
        if cell is not None:
            self.cellClicked.emit(*cell)


def batch_picture(images: list[Any], columns: int | None = None) -> GridPicture:
    """A batch's pictures as one unlabelled grid (about square), cells numbered left to right."""
    from sdstudio.core.xyz_grid import draw_xyz

    columns = columns or max(1, round(len(images) ** 0.5 + 0.49))
    rows = [images[i : i + columns] for i in range(0, len(images), columns)]
    blank = images[0].copy()
    blank.paste((40, 40, 40), (0, 0, blank.width, blank.height))
    rows[-1] = rows[-1] + [blank] * (columns - len(rows[-1]))
    picture = draw_xyz([rows], ("",) * columns, ("",) * len(rows), ("",), legend=False, margin=4)
    real = tuple(b for b in picture.boxes if b[1] * columns + b[0] < len(images))
    return GridPicture(picture.image, real)
