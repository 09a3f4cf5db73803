"""The prompt panel's field widgets: number boxes, size presets, the seed and the styles menu."""

from __future__ import annotations

from PySide6.QtCore import QRegularExpression, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QLineEdit, QMenu, QSpinBox, QToolButton, QWidget

from sdstudio.core.request import MAX_SEED

SIZE_PRESETS: tuple[tuple[int, int], ...] = (
    (512, 512),
    (512, 768),
    (768, 512),
    (768, 768),
    (1024, 1024),
    (832, 1216),
    (1216, 832),
)
CUSTOM = "Custom"


def spin(lo: int, hi: int, value: int, step: int = 1) -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setSingleStep(step)
    s.setValue(value)
    s.setKeyboardTracking(True)
    return s


def dspin(lo: float, hi: float, value: float, step: float, decimals: int) -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setDecimals(decimals)
    s.setRange(lo, hi)
    s.setSingleStep(step)
    s.setValue(value)
    return s


def seed_edit() -> QLineEdit:
    seed = QLineEdit("-1")
    seed.setValidator(QRegularExpressionValidator(QRegularExpression(r"-?\d{0,20}"), seed))
    seed.setPlaceholderText("-1 = random")
    seed.setToolTip(f"-1 for a random seed, or 0 to {MAX_SEED}")
    return seed


class SizePresets(QComboBox):
    """Common sizes; shows "Custom" when W×H is none of them."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        for w, h in SIZE_PRESETS:
            self.addItem(f"{w}×{h}", f"{w}x{h}")  # a string: Qt's findData does not match Python tuples
        self.addItem(CUSTOM, "")

    def size_at(self, index: int) -> tuple[int, int] | None:
        data = self.itemData(index)
        return (int(data.split("x")[0]), int(data.split("x")[1])) if data else None

    def show_size(self, width: int, height: int) -> None:
        i = self.findData(f"{width}x{height}")
        self.blockSignals(True)  # showing the size is not choosing a preset
        self.setCurrentIndex(i if i >= 0 else self.count() - 1)
        self.blockSignals(False)


class StylesButton(QToolButton):
    """Negative presets and the user's styles (styles.csv), checked in the order they were picked."""

    edited = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("stylesButton")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setToolTip("negative presets and your styles (styles.csv), applied in order when the job runs")
        self.menu_ = QMenu(self)
        self.setMenu(self.menu_)
        self._names: tuple[str, ...] = ()
        self._fill()

    def _fill(self) -> None:
        try:
            from sdstudio.core.prompt.styles import all_styles

            styles = all_styles()
        except Exception as e:  # a broken styles.csv: the presets menu says so, the panel works
            styles = {}
            self.setToolTip(f"styles unavailable: {e}")
        for name, style in styles.items():
            action = self.menu_.addAction(name)
            action.setCheckable(True)
            action.setToolTip(", ".join(p for p in (style.prompt, style.negative_prompt) if p))
            action.toggled.connect(lambda on, n=name: self._toggle(n, on))
        self._update_text()

    def names(self) -> tuple[str, ...]:
        return self._names

    def set_names(self, names: tuple[str, ...]) -> None:
        self._names = tuple(names)
        for action in self.menu_.actions():
            action.blockSignals(True)
            action.setChecked(action.text() in self._names)
            action.blockSignals(False)
        self._update_text()

    def _toggle(self, name: str, on: bool) -> None:
        if on and name not in self._names:
            self._names = (*self._names, name)
        elif not on and name in self._names:
            self._names = tuple(n for n in self._names if n != name)
        self._update_text()
        self.edited.emit()

    def _update_text(self) -> None:
        self.setText(", ".join(self._names) if self._names else "None")
