"""Undo commands: each keeps only what it needs (a stroke keeps the changed rectangle before and after)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QImage, QPainter, QUndoCommand

if TYPE_CHECKING:
    from sdstudio.gui.canvas.model import CanvasModel


def paste(target: QImage, patch: QImage, at: QPoint) -> None:
    p = QPainter(target)
    p.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
    p.drawImage(at, patch)
    p.end()


class MaskPatchCommand(QUndoCommand):
    """A change to one rectangle of the mask (a stroke, an invert, a clear)."""

    def __init__(
        self, model: CanvasModel, rect: QRect, before: QImage, after: QImage, text: str, applied: bool = True
    ):
        super().__init__(text)
        self.model, self.rect, self.before, self.after = model, rect, before, after
        self._skip_first_redo = applied

    def redo(self) -> None:
        if self._skip_first_redo:  # already painted while the user drew
            self._skip_first_redo = False
            return
        paste(self.model._mask, self.after, self.rect.topLeft())
        self.model.mask_changed(self.rect)

    def undo(self) -> None:
        paste(self.model._mask, self.before, self.rect.topLeft())
        self.model.mask_changed(self.rect)


class SetImageCommand(QUndoCommand):
    """A new picture (opened, pasted, a result used as input); the mask is cleared with it."""

    def __init__(self, model: CanvasModel, image: QImage | None, text: str = "set image"):
        super().__init__(text)
        self.model = model
        self.old = (model._image, model._mask)
        self.new_image = image

    def redo(self) -> None:
        self.model._set(self.new_image, None)

    def undo(self) -> None:
        self.model._set(*self.old)
