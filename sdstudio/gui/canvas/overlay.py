"""The mask overlay: a coloured, see-through copy of the mask, updated only where the mask changed."""

from __future__ import annotations

from PySide6.QtCore import QRect, QRectF
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

DEFAULT_COLOR = QColor(230, 40, 60)


class MaskOverlay(QGraphicsItem):
    """Paints the mask in one colour; a stroke recolours and repaints only its rectangle (dirty rect)."""

    def __init__(self) -> None:
        super().__init__()
        self._image = QImage()
        self._mask: QImage | None = None
        self._color = QColor(DEFAULT_COLOR)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)

    @property
    def color(self) -> QColor:
        return QColor(self._color)

    def set_color(self, color: QColor) -> None:
        self._color = QColor(color)
        if self._mask is not None:
            self.update_rect(self._mask, self._mask.rect())

    def clear(self) -> None:
        self.prepareGeometryChange()
        self._image, self._mask = QImage(), None

    def reset(self, mask: QImage) -> None:
        """An empty mask: a transparent overlay of its size, nothing to colour."""
        self.prepareGeometryChange()
        self._image = QImage(mask.size(), QImage.Format.Format_ARGB32_Premultiplied)
        self._image.fill(0)
        self._mask = mask
        self.update()

    def update_rect(self, mask: QImage, rect: QRect) -> None:
        """Recolour `rect` of the mask (all of it when the mask is new or resized) and repaint it."""
        if mask.size() != self._image.size():
            self.prepareGeometryChange()
            self._image = QImage(mask.size(), QImage.Format.Format_ARGB32_Premultiplied)
            rect = mask.rect()
        self._mask = mask
        rect = rect.intersected(mask.rect())
        if rect.isEmpty():
            return
        patch = QImage(rect.size(), QImage.Format.Format_ARGB32_Premultiplied)
        patch.fill(self._color)
        patch.setAlphaChannel(mask.copy(rect))
        painter = QPainter(self._image)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.drawImage(rect.topLeft(), patch)
        painter.end()
        self.update(QRectF(rect))

    def image(self) -> QImage:
        return self._image

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt name)
        return QRectF(self._image.rect())

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if self._image.isNull():
            return
        exposed = option.exposedRect.toAlignedRect().intersected(self._image.rect())  # only what is redrawn
        if not exposed.isEmpty():
            painter.drawImage(exposed.topLeft(), self._image, exposed)


class BrushCursor(QGraphicsItem):
    """The brush outline: a dark and a light ring, so it shows on any picture; dashed for the eraser."""

    def __init__(self) -> None:
        super().__init__()
        self._rect = QRectF()
        self.erase = False
        self.setZValue(10)
        self.setVisible(False)

    def set_circle(self, center_x: float, center_y: float, radius: float, erase: bool) -> None:
        rect = QRectF(center_x - radius, center_y - radius, 2 * radius, 2 * radius)
        if rect != self._rect or erase != self.erase:
            self.prepareGeometryChange()
            self._rect, self.erase = rect, erase

    def rect(self) -> QRectF:
        return QRectF(self._rect)

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt name)
        pad = max(2.0, self._rect.width() * 0.05)  # the cosmetic pens' width, in scene units at any zoom
        return self._rect.adjusted(-pad, -pad, pad, pad)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtGui import QPen

        dark = QPen(QColor(0, 0, 0, 200), 3)
        dark.setCosmetic(True)
        light = QPen(QColor(255, 255, 255, 230), 1)
        light.setCosmetic(True)
        if self.erase:
            light.setStyle(Qt.PenStyle.DashLine)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for pen in (dark, light):
            painter.setPen(pen)
            painter.drawEllipse(self._rect)
