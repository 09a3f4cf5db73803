"""The canvas view: paint the mask with the mouse, zoom around the cursor, pan, drop or paste pictures."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeySequence, QPainter, QPixmap, QTransform
from PySide6.QtWidgets import (
    QApplication,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QWidget,
)

from sdstudio.gui.canvas.model import CanvasModel
from sdstudio.gui.canvas.overlay import BrushCursor, MaskOverlay

ZOOM_STEP = 1.25
EMPTY_HINT = (
    "Generate draws a new picture here (txt2img).\n\n"
    "Open, paste (Ctrl+V) or drop a picture for img2img;\n"
    "paint a mask over it to inpaint."
)


class CanvasView(QGraphicsView):
    zoomChanged = Signal(float)

    def __init__(self, model: CanvasModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = model
        self.setScene(QGraphicsScene(self))
        self.setBackgroundBrush(QColor(40, 40, 44))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setAcceptDrops(True)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setHorizontalScrollBarPolicy(
            Qt.ScrollBarPolicy.ScrollBarAlwaysOff
        )  # pan with Space+drag or the middle button
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._image_item = QGraphicsPixmapItem()
        self._mask_item = MaskOverlay()
        self._preview_item = QGraphicsPixmapItem()
        self._cursor = BrushCursor()
        for item in (self._image_item, self._mask_item, self._preview_item, self._cursor):
            self.scene().addItem(item)
        self._mask_item.setOpacity(0.5)
        self._preview_item.setZValue(5)
        self._preview_item.setVisible(False)
        self._preview_item.setTransformationMode(
            Qt.TransformationMode.SmoothTransformation
        )  # 1/8-size previews
        self._last_point: QPointF | None = None  # end of the last stroke (Shift+click draws a line from it)
        self._painting = False
        self._panning: QPointF | None = None
        self._space = False
        self._fitting = True  # the picture follows the view's size until the artist zooms
        self._peeking = False  # B held: the result is hidden to compare
        model.imageChanged.connect(self._image_changed)
        model.maskChanged.connect(self._mask_changed)

    # -- display ---------------------------------------------------------------------------------
    @property
    def hint_visible(self) -> bool:
        """The empty canvas says what it is for."""
        return self.model.image() is None and not self._preview_item.isVisible()

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802 (Qt name)
        if not self.hint_visible:
            return
        painter.save()
        painter.resetTransform()  # viewport coordinates
        painter.setPen(QColor(170, 170, 178))
        painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, EMPTY_HINT)
        painter.restore()

    @property
    def preview_visible(self) -> bool:
        """A step preview or a result lies over the picture."""
        return self._preview_item.isVisible()

    def peek(self, on: bool) -> None:
        """Show the picture under a result (on) or the result again (off); nothing without a result."""
        if on and self._preview_item.isVisible():
            self._peeking = True
            self._preview_item.setVisible(False)
            self._mask_item.setVisible(True)
        elif not on and self._peeking:
            self._peeking = False
            self._preview_item.setVisible(True)
            self._mask_item.setVisible(False)
        self.viewport().update()

    @property
    def overlay_opacity(self) -> float:
        return self._mask_item.opacity()

    def set_overlay_opacity(self, value: float) -> None:
        self._mask_item.setOpacity(max(0.0, min(1.0, value)))

    def _image_changed(self) -> None:
        image = self.model.image()
        self._image_item.setPixmap(QPixmap.fromImage(image) if image is not None else QPixmap())
        self._last_point = None
        self.show_preview(None)
        if image is not None:
            # room around the picture, so zoom and pan work at any size (as in a paint program)
            margin = max(image.width(), image.height()) * 2
            self.scene().setSceneRect(QRectF(image.rect()).adjusted(-margin, -margin, margin, margin))
            self.fit()

    def _mask_changed(self, rect: QRect) -> None:
        mask = self.model.mask_image()
        if mask is None:
            self._mask_item.clear()
            return
        if rect == mask.rect() and not self.model.has_mask():
            self._mask_item.reset(mask)  # a new picture's empty mask: nothing to colour
        else:
            self._mask_item.update_rect(mask, rect)  # only the changed rectangle is recoloured and redrawn

    @property
    def mask_color(self) -> QColor:
        return self._mask_item.color

    def set_mask_color(self, color: QColor) -> None:
        """The overlay's colour (a red picture hides a red mask)."""
        self._mask_item.set_color(color)

    def show_preview(self, image: QImage | None, box: tuple[int, int, int, int] | None = None) -> None:
        """A step preview over the picture, scaled to it or to `box` (left, top, right, bottom: the part an
        "only masked" job renders); None goes back to the picture and mask."""
        if image is None:
            self._preview_item.setPixmap(QPixmap())
            self._preview_item.setVisible(False)
            self._mask_item.setVisible(True)
            self.viewport().update()
            return
        target = self.model.image()
        pix = QPixmap.fromImage(image)
        self._preview_item.setPixmap(pix)
        if target is not None:
            x0, y0, x1, y1 = box or (0, 0, target.width(), target.height())
            self._preview_item.setPos(x0, y0)
            self._preview_item.setTransform(
                QTransform.fromScale((x1 - x0) / pix.width(), (y1 - y0) / pix.height())
            )
        else:
            self._preview_item.setPos(0, 0)
            self._preview_item.setTransform(QTransform())
            self.scene().setSceneRect(QRectF(pix.rect()))
            self.fitInView(self._preview_item, Qt.AspectRatioMode.KeepAspectRatio)
        self._preview_item.setVisible(True)
        self._mask_item.setVisible(False)
        self.viewport().update()

    def fit(self) -> None:
        """The whole picture in view; it stays fitted when the view is resized, until the artist zooms."""
        self._fitting = True
        if self.model.image() is not None:
            self.fitInView(self._image_item, Qt.AspectRatioMode.KeepAspectRatio)
            self.zoomChanged.emit(self.zoom)

    @property
    def fitting(self) -> bool:
        return self._fitting

    def actual_size(self) -> None:
        self._fitting = False
        self.resetTransform()
        self.zoomChanged.emit(1.0)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        if self._fitting:  # a restored window settles its size after the picture came back
            self.fit()

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom keeping the scene point under `anchor` (viewport coordinates) in place."""
        self._fitting = False
        anchor = anchor if anchor is not None else QPointF(self.viewport().rect().center())
        before = self.mapToScene(anchor.toPoint())
        self.scale(factor, factor)
        moved = self.mapFromScene(before) - anchor.toPoint()
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + moved.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + moved.y())
        self.zoomChanged.emit(self.zoom)

    # -- input -----------------------------------------------------------------------------------
    def _image_point(self, pos: QPointF) -> QPointF:
        return self.mapToScene(pos.toPoint())

    def _update_cursor(self, scene_pos: QPointF, inside: bool = True) -> None:
        brush = self.model.brush
        self._cursor.set_circle(scene_pos.x(), scene_pos.y(), brush.radius, brush.erase)
        self._cursor.setVisible(self.model.image() is not None and inside)

    @property
    def brush_cursor(self) -> BrushCursor:
        return self._cursor

    def leaveEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self._cursor.setVisible(False)  # the outline goes with the pointer
        super().leaveEvent(event)

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and self._space
        ):
            self._panning = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if event.button() == Qt.MouseButton.LeftButton and self.model.image() is not None:
            self.show_preview(None)  # a result over the picture gives way: the mask is painted on the picture
            point = self._image_point(event.position())
            self.model.begin_stroke()
            self._painting = True
            start = (
                self._last_point
                if (event.modifiers() & Qt.KeyboardModifier.ShiftModifier and self._last_point is not None)
                else point
            )
            self.model.stroke_to(start, point)
            self._last_point = point
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self._panning is not None:
            delta = event.position() - self._panning
            self._panning = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(delta.y()))
            return
        point = self._image_point(event.position())
        self._update_cursor(point)
        if self._painting and self._last_point is not None:
            self.model.stroke_to(self._last_point, point)
            self._last_point = point
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self._panning is not None and event.button() in (
            Qt.MouseButton.MiddleButton,
            Qt.MouseButton.LeftButton,
        ):
            self._panning = None
            self.viewport().unsetCursor()
            return
        if self._painting and event.button() == Qt.MouseButton.LeftButton:
            self._painting = False
            self.model.end_stroke()
            return
        super().mouseReleaseEvent(event)

    def wheelEvent(self, event) -> None:
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoom_by(ZOOM_STEP**steps, event.position())

    def keyPressEvent(self, event) -> None:
        key, mods = event.key(), event.modifiers()
        if event.matches(QKeySequence.StandardKey.Undo):
            self.model.undo_stack.undo()
        elif (
            event.matches(QKeySequence.StandardKey.Redo)
            or (key == Qt.Key.Key_Y and mods & Qt.KeyboardModifier.ControlModifier)
            or (
                key == Qt.Key.Key_Z
                and mods & Qt.KeyboardModifier.ControlModifier
                and mods & Qt.KeyboardModifier.ShiftModifier
            )
        ):
            self.model.undo_stack.redo()
        elif event.matches(QKeySequence.StandardKey.Paste):
            self.paste()
        elif key == Qt.Key.Key_BracketLeft:
            self.model.brush.resized(1 / 1.2)
        elif key == Qt.Key.Key_BracketRight:
            self.model.brush.resized(1.2)
        elif key == Qt.Key.Key_E and not mods:
            self.model.brush.erase = not self.model.brush.erase
        elif key == Qt.Key.Key_B and not mods and not event.isAutoRepeat():
            self.peek(True)  # before/after: the picture under the result while B is held
        elif key == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
        else:
            super().keyPressEvent(event)
            return
        at = self.viewport().mapFromGlobal(self.cursor().pos())
        self._update_cursor(self.mapToScene(at), self.viewport().rect().contains(at))

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_B and not event.isAutoRepeat():
            self.peek(False)
            return
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.viewport().unsetCursor()
            return
        super().keyReleaseEvent(event)

    def paste(self) -> None:
        image = QApplication.clipboard().image()
        if not image.isNull():
            self.model.set_image(image, "paste")

    # -- drag and drop ---------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        data = event.mimeData()
        if data.hasImage():
            self.model.set_image(QImage(data.imageData()), "drop")
        else:
            for url in data.urls():
                if url.isLocalFile():
                    self.model.load_image(Path(url.toLocalFile()))
                    break
        event.acceptProposedAction()
