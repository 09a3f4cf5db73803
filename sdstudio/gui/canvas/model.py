"""The canvas document: picture + 8-bit mask at the picture's resolution, with an undo stack."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, QPointF, QRect, Signal
from PySide6.QtGui import QImage, QImageReader, QUndoStack

from sdstudio.core.request import InputImage
from sdstudio.gui.canvas.brush import Brush
from sdstudio.gui.canvas.commands import MaskPatchCommand, SetImageCommand, paste
from sdstudio.gui.images import qimage_to_input

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff)"
MAX_SIDE = 8192
RESTORE = "restore"  # set_image text of an autosave restore (not the user's new picture)


class CanvasModel(QObject):
    imageChanged = Signal()
    maskChanged = Signal(QRect)  # the changed rectangle of the mask (all of it for a new picture)
    error = Signal(str)  # a readable message (a corrupt file, say); the canvas is left as it was
    pictureReplaced = Signal(int, int)  # the user put a new picture on the canvas (width, height)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._image: QImage | None = None
        self._mask: QImage | None = None
        self.undo_stack = QUndoStack(self)
        self.brush = Brush()
        self._stroke_before: QImage | None = None
        self._shadow: QImage | None = None  # the mask as it was before the stroke in progress (undo)
        self._stroke_rect = QRect()
        self._mask_empty: bool | None = True  # None: unknown until looked at (after an erase, an undo)

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
        fresh = image is not None and (mask is None or mask.size() != image.size())
        if fresh:
            mask = QImage(image.size(), QImage.Format.Format_Grayscale8)
            mask.fill(0)
        self._mask = mask if image is not None else None
        self._shadow = self._mask.copy() if self._mask is not None else None
        self._mask_empty = True if fresh else None  # a fresh mask is known to be empty without looking
        self.imageChanged.emit()
        self.maskChanged.emit(self._mask.rect() if self._mask is not None else QRect())

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
        self.mask_changed(mask.rect())

    def mask_changed(self, rect: QRect, painted: bool = False) -> None:
        """Announce a change of `rect`; `painted` (a brush stroke) means the mask is not empty."""
        if painted:
            self._mask_empty = False
        elif not rect.isEmpty():
            self._mask_empty = None
        if self._stroke_before is None and self._mask is not None and self._shadow is not None:
            paste(self._shadow, self._mask.copy(rect), rect.topLeft())  # outside a stroke: keep in step
        self.maskChanged.emit(rect)

    def has_mask(self) -> bool:
        """Whether any mask pixel is set (remembered; looked at again only after an erase or an undo)."""
        if self._mask is None:
            return False
        if self._mask_empty is None:
            data = self._mask.constBits()
            self._mask_empty = bytes(data) == bytes(len(data))  # two C-level passes, no Python loop
        return not self._mask_empty

    def _whole(self, text: str, op) -> None:
        if self._mask is None:
            return
        before = self._mask.copy()
        op(self._mask)
        self.undo_stack.push(MaskPatchCommand(self, self._mask.rect(), before, self._mask.copy(), text))
        self.mask_changed(self._mask.rect())

    def clear_mask(self) -> None:
        self._whole("clear mask", lambda m: m.fill(0))

    def invert_mask(self) -> None:
        self._whole("invert mask", lambda m: m.invertPixels())

    # -- strokes ---------------------------------------------------------------------------------
    def begin_stroke(self) -> None:
        """The mask before the stroke is the shadow copy kept in step with it: nothing is copied here."""
        if self._mask is not None and self._shadow is not None:
            self._stroke_before = self._shadow
            self._stroke_rect = QRect()

    def stroke_to(self, start: QPointF, end: QPointF) -> None:
        if self._mask is None or self._stroke_before is None:
            return
        touched = self.brush.stroke(self._mask, start, end)
        self._stroke_rect = self._stroke_rect.united(touched)
        self.mask_changed(touched, painted=not self.brush.erase and not touched.isEmpty())

    def end_stroke(self) -> None:
        """One stroke, one undo step (only the touched rectangle is kept)."""
        if self._stroke_before is None or self._mask is None:
            return
        rect = self._stroke_rect
        self._stroke_before = None
        if not rect.isEmpty():
            before, after = self._shadow.copy(rect), self._mask.copy(rect)
            paste(self._shadow, after, rect.topLeft())
            self.undo_stack.push(
                MaskPatchCommand(self, rect, before, after, "erase" if self.brush.erase else "paint")
            )

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
