"""The canvas toolbar: brush size and hardness, eraser, invert, clear, overlay opacity, fit/100%, undo/redo."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence, QPixmap
from PySide6.QtWidgets import QComboBox, QLabel, QSlider, QSpinBox, QToolBar, QWidget

from sdstudio.gui.canvas import CanvasModel, CanvasView
from sdstudio.gui.canvas.brush import MAX_SIZE, MIN_SIZE

MASK_COLORS = {
    "Red": QColor(230, 40, 60),
    "Green": QColor(40, 200, 80),
    "Blue": QColor(40, 110, 240),
    "Yellow": QColor(240, 210, 40),
    "Magenta": QColor(220, 50, 220),
}


class CanvasToolBar(QToolBar):
    """Controls over the canvas model's brush and mask, and the view's zoom and overlay."""

    def __init__(self, model: CanvasModel, view: CanvasView, parent: QWidget | None = None):
        super().__init__("Canvas", parent)
        self.setObjectName("canvasToolBar")
        self.model, self.view = model, view

        # 1. brush
        self.size = QSpinBox()
        self.size.setRange(MIN_SIZE, MAX_SIZE)
        self.size.setSuffix(" px")
        self.size.setToolTip("brush size in image pixels ([ and ] on the canvas)")
        self.hardness = QSlider(Qt.Orientation.Horizontal)
        self.hardness.setRange(0, 100)
        self.hardness.setMaximumWidth(90)
        self.hardness.setToolTip("brush hardness: soft edge (left) to hard edge (right)")
        self.eraser = QAction("Eraser", self, checkable=True)
        self.eraser.setToolTip("erase the mask instead of painting it (E on the canvas)")
        self.addWidget(QLabel(" Brush "))
        self.addWidget(self.size)
        self.addWidget(QLabel(" Hardness "))
        self.addWidget(self.hardness)
        self.addAction(self.eraser)
        self.addSeparator()

        # 2. mask
        self.invert = self.addAction("Invert mask", model.invert_mask)
        self.clear = self.addAction("Clear mask", model.clear_mask)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setMaximumWidth(90)
        self.opacity.setToolTip("opacity of the red mask overlay")
        self.opacity.setValue(round(view.overlay_opacity * 100))
        self.mask_color = QComboBox()
        self.mask_color.setObjectName("maskColor")
        self.mask_color.setToolTip("the mask overlay's colour (a red picture hides a red mask)")
        for name, color in MASK_COLORS.items():
            swatch = QPixmap(12, 12)
            swatch.fill(color)
            self.mask_color.addItem(QIcon(swatch), name, color)
        self.addWidget(QLabel(" Overlay "))
        self.addWidget(self.opacity)
        self.addWidget(self.mask_color)
        self.addSeparator()

        # 3. view and history
        self.fit = self.addAction("Fit", view.fit)
        self.actual = self.addAction("100%", view.actual_size)
        self.zoom_label = QLabel()
        self.zoom_label.setObjectName("zoomLabel")
        self.zoom_label.setToolTip("zoom: the wheel zooms around the cursor; Fit follows the window's size")
        self.zoom_label.setMinimumWidth(48)
        self.addWidget(self.zoom_label)
        view.zoomChanged.connect(self.show_zoom)
        self.show_zoom(view.zoom)
        self.undo = model.undo_stack.createUndoAction(self, "Undo")
        self.undo.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo = model.undo_stack.createRedoAction(self, "Redo")
        self.redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence.StandardKey.Redo])
        for action in (self.undo, self.redo):
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.addActions([self.undo, self.redo])

        self.size.valueChanged.connect(self._set_size)
        self.hardness.valueChanged.connect(lambda v: setattr(model.brush, "hardness", v / 100))
        self.eraser.toggled.connect(lambda on: setattr(model.brush, "erase", on))
        self.opacity.valueChanged.connect(lambda v: view.set_overlay_opacity(v / 100))
        self.mask_color.currentIndexChanged.connect(
            lambda i: view.set_mask_color(self.mask_color.itemData(i))
        )
        # the canvas changes the brush from keys too ([ ] E): follow it cheaply
        self._sync = QTimer(self, interval=250)
        self._sync.timeout.connect(self.sync)
        self._sync.start()
        self.sync()

    def show_zoom(self, zoom: float) -> None:
        self.zoom_label.setText(f" {zoom * 100:.0f}% ")

    def _set_size(self, value: int) -> None:
        self.model.brush.size = float(value)

    def sync(self) -> None:
        """Show the brush as it is now."""
        brush = self.model.brush
        if self.size.value() != round(brush.size) and not self.size.hasFocus():
            self.size.blockSignals(True)
            self.size.setValue(round(brush.size))
            self.size.blockSignals(False)
        if self.hardness.value() != round(brush.hardness * 100) and not self.hardness.isSliderDown():
            self.hardness.blockSignals(True)
            self.hardness.setValue(round(brush.hardness * 100))
            self.hardness.blockSignals(False)
        if self.eraser.isChecked() != brush.erase:
            self.eraser.blockSignals(True)
            self.eraser.setChecked(brush.erase)
            self.eraser.blockSignals(False)
