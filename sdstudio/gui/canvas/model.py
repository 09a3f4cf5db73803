"""The canvas document: picture + 8-bit mask at the picture's resolution, with an undo stack."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, QPointF, QRect, Signal
from PySide6.QtGui import QImage, QImageReader, QUndoStack

from sdstudio.core.request import InputImage
from sdstudio.gui.canvas.brush import Brush
from sdstudio.gui.canvas.commands import MaskPatchCommand, SetImageCommand
from sdstudio.gui.images import qimage_to_input

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff)"
MAX_SIDE = 8192
RESTORE = "restore"  # set_image text of an autosave restore (not the user's new picture)


class CanvasModel(QObject):
    imageChanged = Signal()
    maskChanged = Signal()
    error = Signal(str)  # a readable message (a corrupt file, say); the canvas is left as it was
    pictureReplaced = Signal(int, int)  # the user put a new picture on the canvas (width, height)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._image: QImage | None = None
        self._mask: QImage | None = None
        self.undo_stack = QUndoStack(self)
        self.brush = Brush()
        self._stroke_before: QImage | None = None
        self._stroke_rect = QRect()

    # -- picture ---------------------------------------------------------------------------------
    def image(self) -> QImage | None:
        return self._image

    def set_image(self, image: QImage | None, text: str = "set image") -> None:
        """Undoable; a new picture comes with an empty mask."""
        if image is not None and image.isNull():
            image = None
        if image is not None:
            image = image.convertToFormat(
                QImage.Format.Format_RGB32 if not image.hasAlphaChannel() else QImage.Format.Format_ARGB32
            )
        self.undo_stack.push(SetImageCommand(self, image, text))
        if image is not None and text != RESTORE:
            self.pictureReplaced.emit(image.width(), image.height())

    def _set(self, image: QImage | None, mask: QImage | None) -> None:
        self._image = image
        if image is not None and (mask is None or mask.size() != image.size()):
            mask = QImage(image.size(), QImage.Format.Format_Grayscale8)
            mask.fill(0)
        self._mask = mask if image is not None else None
        self.imageChanged.emit()
        self.maskChanged.emit()

    def load_image(self, path: str | Path) -> bool:
        """Open a picture file; a bad file emits `error` and changes nothing."""
        reader = QImageReader(str(path))
        reader.setAutoTransform(True)
        size = reader.size()
        if size.isValid() and max(size.width(), size.height()) > MAX_SIDE:
            self.error.emit(
                f"{Path(path).name}: {size.width()}x{size.height()} is too large (max {MAX_SIDE} px a side)"
            )
            return False
        image = reader.read()
        if image.isNull():
            self.error.emit(f"{Path(path).name}: cannot open this picture ({reader.errorString()})")
            return False
        self.set_image(image, f"open {Path(path).name}")
        return True

    # -- mask ------------------------------------------------------------------------------------
    def mask_image(self) -> QImage | None:
        return self._mask

    def set_mask(self, mask: QImage | None) -> None:
        """Replace the mask (autosave restore); not undoable. A mask of another size is scaled."""
        if self._image is None:
            return
        if mask is None:
            mask = QImage(self._image.size(), QImage.Format.Format_Grayscale8)
            mask.fill(0)
        mask = mask.convertToFormat(QImage.Format.Format_Grayscale8)
        if mask.size() != self._image.size():
            mask = mask.scaled(self._image.size())
        self._mask = mask
        self.maskChanged.emit()

    def has_mask(self) -> bool:
        if self._mask is None:
            return False
        bits = self._mask.constBits()
        return any(bytes(bits))

    def _whole(self, text: str, op) -> None:
        if self._mask is None:
            return
        before = self._mask.copy()
        op(self._mask)
        self.undo_stack.push(MaskPatchCommand(self, self._mask.rect(), before, self._mask.copy(), text))
        self.maskChanged.emit()

    def clear_mask(self) -> None:
        self._whole("clear mask", lambda m: m.fill(0))

    def invert_mask(self) -> None:
        self._whole("invert mask", lambda m: m.invertPixels())

    # -- strokes ---------------------------------------------------------------------------------
    def begin_stroke(self) -> None:
        if self._mask is not None:
            self._stroke_before = self._mask.copy()
            self._stroke_rect = QRect()

    def stroke_to(self, start: QPointF, end: QPointF) -> None:
        if self._mask is None or self._stroke_before is None:
            return
        self._stroke_rect = self._stroke_rect.united(self.brush.stroke(self._mask, start, end))
        self.maskChanged.emit()

    def end_stroke(self) -> None:
        """One stroke, one undo step (only the touched rectangle is kept)."""
        if self._stroke_before is None or self._mask is None:
            return
        rect = self._stroke_rect
        if not rect.isEmpty():
            before, after = self._stroke_before.copy(rect), self._mask.copy(rect)
            self.undo_stack.push(
                MaskPatchCommand(self, rect, before, after, "erase" if self.brush.erase else "paint")
            )
        self._stroke_before = None

    # -- persistence and export ------------------------------------------------------------------
    def save_state(self, folder: Path) -> None:
        """image.png and mask.png, each written atomically (temp file, then rename)."""
        folder.mkdir(parents=True, exist_ok=True)
        for name, img in (("image.png", self._image), ("mask.png", self._mask)):
            target = folder / name
            if img is None:
                target.unlink(missing_ok=True)
                continue
            tmp = folder / f".{name}.tmp"
            if img.save(str(tmp), "PNG"):
                os.replace(tmp, target)

    def restore_state(self, folder: Path) -> bool:
        image = QImage(str(folder / "image.png"))
        if image.isNull():
            return False
        self.set_image(image, RESTORE)
        self.undo_stack.clear()
        mask = QImage(str(folder / "mask.png"))
        if not mask.isNull():
            self.set_mask(mask)
        return True

    def to_inputs(self) -> tuple[InputImage | None, InputImage | None]:
        """The picture and (if painted) the mask, at the picture's resolution."""
        if self._image is None:
            return None, None
        return qimage_to_input(self._image), (
            qimage_to_input(self._mask, mask=True) if self.has_mask() else None
        )
