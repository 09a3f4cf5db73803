"""A minimal stand-in for the canvas (image + mask, preview) until sdstudio.gui.canvas lands."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPixmap
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene, QGraphicsView, QWidget


class CanvasModel(QObject):
    imageChanged = Signal()
    maskChanged = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._image: QImage | None = None
        self._mask: QImage | None = None

    def image(self) -> QImage | None:
        return self._image

    def set_image(self, image: QImage | None) -> None:
        self._image = None if image is None or image.isNull() else image.copy()
        self._mask = None
        self.imageChanged.emit()
        self.maskChanged.emit()

    def mask_image(self) -> QImage | None:
        return self._mask

    def set_mask(self, mask: QImage | None) -> None:
        self._mask = mask
        self.maskChanged.emit()

    def has_mask(self) -> bool:
        if self._mask is None:
            return False
        gray = self._mask.convertToFormat(QImage.Format.Format_Grayscale8)
        return any(any(gray.constScanLine(y).tobytes()) for y in range(gray.height()))

    def save_state(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name, img in (("image.png", self._image), ("mask.png", self._mask)):
            if img is not None:
                img.save(str(folder / name))
            else:
                (folder / name).unlink(missing_ok=True)

    def restore_state(self, folder: Path) -> bool:
        image = QImage(str(folder / "image.png"))
        if image.isNull():
            return False
        self.set_image(image)
        mask = QImage(str(folder / "mask.png"))
        if not mask.isNull():
            self.set_mask(mask)
        return True


class CanvasView(QGraphicsView):
    def __init__(self, model: CanvasModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = model
        self.setScene(QGraphicsScene(self))
        self._item = QGraphicsPixmapItem()
        self._overlay = QGraphicsPixmapItem()
        self._overlay.setOpacity(0.55)
        self.scene().addItem(self._item)
        self.scene().addItem(self._overlay)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setBackgroundBrush(QColor(40, 40, 44))
        model.imageChanged.connect(lambda: self.show_preview(None))
        model.maskChanged.connect(self._show_mask)

    def _show_mask(self) -> None:
        """The mask as a red overlay (white = repaint)."""
        mask = self.model.mask_image()
        if mask is None:
            self._overlay.setPixmap(QPixmap())
            return
        red = QImage(mask.size(), QImage.Format.Format_ARGB32)
        red.fill(QColor(230, 40, 60))
        red.setAlphaChannel(mask.convertToFormat(QImage.Format.Format_Grayscale8))
        self._overlay.setPixmap(QPixmap.fromImage(red))

    def show_preview(self, image: QImage | None) -> None:
        shown = image if image is not None else self.model.image()
        self._item.setPixmap(QPixmap.fromImage(shown) if shown is not None else QPixmap())
        self._overlay.setVisible(image is None)
        self.scene().setSceneRect(self._item.boundingRect())
        if shown is not None:
            self.fitInView(self._item, Qt.AspectRatioMode.KeepAspectRatio)
