"""Dialogs for iterating: the X/Y/Z plot's axes, outpainting's borders, a grid to click, before/after."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from sdstudio.core.outpaint import FILLS, Outpaint
from sdstudio.core.request import RequestError
from sdstudio.core.upscale.extras import ExtrasUpscale
from sdstudio.core.xyz import AXES, NOTHING, Axis, axis_kind, parse_values
from sdstudio.core.xyz_grid import GridPicture
from sdstudio.gui.compare_view import CompareView
from sdstudio.gui.grid_view import GridView
from sdstudio.gui.layouts import ok_cancel

EXAMPLES = {"Steps": "10-30 [3]", "CFG Scale": "3, 7, 11", "Seed": "-1, -1", "Prompt S/R": "cat, dog"}


class XyzDialog(QDialog):
    """Three axes (type and values in A1111's syntax), legend and margin; axes() parses them."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("X/Y/Z plot")
        form = QFormLayout(self)
        self.kinds: list[QComboBox] = []
        self.values: list[QLineEdit] = []
        for name, default in (("X", "Steps"), ("Y", "CFG Scale"), ("Z", "Nothing")):
            kind, values = QComboBox(), QLineEdit()
            kind.addItems(list(AXES))
            kind.setCurrentText(default)
            values.setPlaceholderText('1-5, 1-10 (+2), 10-20 [3] or a, b, "c, d"')
            values.setText(EXAMPLES.get(default, ""))
            kind.currentTextChanged.connect(lambda text, v=values: v.setEnabled(text != "Nothing"))
            values.setEnabled(default != "Nothing")
            row = QHBoxLayout()
            row.addWidget(kind)
            row.addWidget(values, 1)
            form.addRow(f"{name} axis", row)
            self.kinds.append(kind)
            self.values.append(values)
        self.legend = QCheckBox("Draw legend")
        self.legend.setChecked(True)
        self.margin = QSpinBox()
        self.margin.setRange(0, 500)
        self.margin.setSuffix(" px")
        form.addRow(self.legend)
        form.addRow("Grid margins", self.margin)
        self.error = QLabel()
        self.error.setStyleSheet("color: #c0392b")
        self.error.setWordWrap(True)
        form.addRow(self.error)
        buttons = ok_cancel(self, form, self._accept)  # the axes are checked before the dialog closes
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Run plot")

    def axes(self) -> list[Axis]:
        """The X, Y and Z axes; RequestError names the first bad one."""
        out = []
        for kind, values in zip(self.kinds, self.values, strict=True):
            axis = axis_kind(kind.currentText())
            out.append(NOTHING if axis.label == "Nothing" else Axis(axis, parse_values(axis, values.text())))
        return out

    def _accept(self) -> None:
        try:
            self.axes()
        except RequestError as e:
            self.error.setText(e.message)
            return
        self.accept()


class OutpaintDialog(QDialog):
    """Pixels to add on each side, how to fill them and how wide a band of the original to blend."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Outpaint")
        form = QFormLayout(self)
        self.sides: list[QSpinBox] = []
        for name in ("Left", "Top", "Right", "Bottom"):
            spin = QSpinBox()
            spin.setRange(0, 2048)
            spin.setSingleStep(64)
            spin.setSuffix(" px")
            form.addRow(name, spin)
            self.sides.append(spin)
        self.sides[2].setValue(256)
        self.fill = QComboBox()
        self.fill.addItems(list(FILLS))
        self.fill.setToolTip("fill: the edge colours stretched out; noise: start from noise")
        self.blend = QSpinBox()
        self.blend.setRange(0, 256)
        self.blend.setValue(32)
        self.blend.setSuffix(" px")
        form.addRow("Fill", self.fill)
        form.addRow("Blend band", self.blend)
        ok_cancel(self, form)

    def plan(self) -> Outpaint:
        left, top, right, bottom = (s.value() for s in self.sides)
        return Outpaint(left, top, right, bottom, self.fill.currentText(), self.blend.value())


class GridDialog(QDialog):
    """A grid picture to look at; a click on a cell is forwarded as cellClicked(x, y, z)."""

    cellClicked = Signal(int, int, int)

    def __init__(self, picture: GridPicture, title: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.view = GridView(picture, self)
        self.view.cellClicked.connect(self.cellClicked)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view)
        layout.addWidget(QLabel("Click a cell to open its picture."))
        self.resize(900, 700)


class CompareDialog(QDialog):
    """Before/after with a slider, or side by side."""

    def __init__(self, before: QImage, after: QImage, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Compare")
        self.view = CompareView(before, after, self)
        self.side_by_side = QCheckBox("Side by side")
        self.side_by_side.toggled.connect(self.view.set_side_by_side)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.side_by_side)
        self.resize(900, 700)


class UpscaleDialog(QDialog):
    """An upscaler (built-in or a model file of the library) and the factor, as A1111's Extras tab."""

    def __init__(self, names: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Upscale")
        form = QFormLayout(self)
        self.upscaler = QComboBox()
        self.upscaler.addItems(names)
        self.upscaler.setCurrentText("Lanczos")
        self.scale = QDoubleSpinBox()
        self.scale.setRange(1.0, 8.0)
        self.scale.setSingleStep(0.5)
        self.scale.setValue(2.0)
        self.scale.setSuffix(" ×")
        form.addRow("Upscaler", self.upscaler)
        form.addRow("Scale by", self.scale)
        ok_cancel(self, form)

    def settings(self) -> ExtrasUpscale:
        return ExtrasUpscale(upscaler_1=self.upscaler.currentText(), upscaling_resize=self.scale.value())
