"""One reference of the strip: its picture, preprocessed preview, kind, weight, start/end, model, on/off."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QWidget,
)

from sdstudio.core.control.ipadapter import is_ip_unit
from sdstudio.core.control.tags import KINDS
from sdstudio.core.control.unit import ControlUnit
from sdstudio.core.references import available, kind_of
from sdstudio.gui.prompt_fields import dspin

THUMB = 72
AUTO = "Auto"
CARD_STYLE = "ReferenceCard { border: 1px solid palette(mid); border-radius: 4px; }"
MARKED_STYLE = (
    "ReferenceCard { border: 2px solid #2a82da; border-radius: 4px; background: palette(alternate-base); }"
)


def _picture_label(tip: str) -> QLabel:
    label = QLabel()
    label.setFixedSize(THUMB, THUMB)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setStyleSheet("background: palette(dark); color: palette(light);")
    label.setToolTip(tip)
    return label


class ReferenceCard(QFrame):
    """The widgets of one unit; `edited(index, fields)` when the artist changes one, `removeRequested(index)`."""

    edited = Signal(int, dict)
    removeRequested = Signal(int)

    def __init__(self, index: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.index = index
        self.setObjectName(f"referenceCard{index}")
        self.setStyleSheet(CARD_STYLE)
        # 1. the picture and what its preprocessor makes of it
        self.thumb = _picture_label("the reference picture")
        self.preview = _picture_label("what the preprocessor makes of it (the ControlNet sees this)")
        self.name = QLabel()
        self.name.setObjectName("referenceName")
        self.enabled = QCheckBox()
        self.enabled.setToolTip("use this reference in the next job")
        self.remove = QToolButton()
        self.remove.setText("✕")
        self.remove.setToolTip("remove this reference")
        # 2. how it steers the picture
        self.kind = QComboBox()
        self.kind.setToolTip("what the reference gives the picture: its edges, lines, depth, pose, look, ...")
        for kind in KINDS:
            self.kind.addItem(kind, kind)
            if not available(kind):
                item = self.kind.model().item(self.kind.count() - 1)  # type: ignore[attr-defined]
                item.setEnabled(False)
                item.setToolTip("its preprocessor is not in this build yet")
        self.weight = dspin(0.0, 2.0, 1.0, 0.05, 2)
        self.weight.setToolTip("how strongly the reference steers the picture (0 to 2)")
        self.start = dspin(0.0, 1.0, 0.0, 0.05, 2)
        self.start.setToolTip("the fraction of the steps where it starts acting")
        self.end = dspin(0.0, 1.0, 1.0, 0.05, 2)
        self.end.setToolTip("the fraction of the steps where it stops acting")
        self.model = QComboBox()
        self.model.setToolTip(
            "the ControlNet model from the library; Auto picks the first named like the kind"
        )
        self.model.addItem(AUTO, "")
        # 3. layout: pictures on top, the fields under them
        top = QHBoxLayout()
        top.addWidget(self.thumb)
        top.addWidget(self.preview)
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.setVerticalSpacing(2)
        head = QHBoxLayout()
        head.addWidget(self.enabled)
        head.addWidget(self.name, 1)
        head.addWidget(self.remove)
        grid.addLayout(head, 0, 0, 1, 4)
        grid.addLayout(top, 1, 0, 1, 4)
        grid.addWidget(self.kind, 2, 0, 1, 2)
        grid.addWidget(self.weight, 2, 2, 1, 2)
        grid.addWidget(QLabel("from"), 3, 0)
        grid.addWidget(self.start, 3, 1)
        grid.addWidget(QLabel("to"), 3, 2)
        grid.addWidget(self.end, 3, 3)
        grid.addWidget(self.model, 4, 0, 1, 4)
        self.setFixedWidth(2 * THUMB + 64)
        # 4. each widget edits one field
        self.enabled.toggled.connect(lambda on: self._edit(enabled=on))
        self.kind.activated.connect(lambda _i: self._edit(kind=self.kind.currentData()))
        self.weight.valueChanged.connect(lambda v: self._edit(weight=round(v, 2)))
        self.start.valueChanged.connect(lambda v: self._edit(guidance_start=round(v, 2)))
        self.end.valueChanged.connect(lambda v: self._edit(guidance_end=round(v, 2)))
        self.model.activated.connect(lambda _i: self._edit(model=self.model.currentData() or ""))
        self.remove.clicked.connect(lambda: self.removeRequested.emit(self.index))
        self._showing = False
        self._family = "controlnet"
        self._models: dict[str, list[str]] = {}

    def field_widgets(self) -> dict[str, QWidget]:
        """The widget of each unit field an error can name."""
        return {
            "weight": self.weight,
            "guidance_start": self.start,
            "guidance_end": self.end,
            "model": self.model,
            "module": self.kind,
            "ip_kind": self.kind,
            "image": self.thumb,
        }

    def _edit(self, **fields: Any) -> None:
        if not self._showing:
            self.edited.emit(self.index, fields)

    def set_models(self, models: dict[str, list[str]]) -> None:
        """The library's models by what runs a unit ("controlnet", "ip-adapter"); the card lists its unit's."""
        self._models = models
        self._fill_models(self._family, self.model.currentData() or "")

    def _fill_models(self, family: str, current: str) -> None:
        """Auto, then the family's models; the unit's own model stays listed."""
        showing, self._showing = self._showing, True
        self._family = family
        self.model.clear()
        self.model.addItem(AUTO, "")
        for name in self._models.get(family, []):
            self.model.addItem(name, name)
        self._select(self.model, current)
        self._showing = showing

    def show_unit(self, unit: ControlUnit) -> None:
        """Show a unit's values (no edits are announced while showing)."""
        self._showing = True
        try:
            self.name.setText(unit.name or "(unnamed)")
            stem = unit.name.rsplit(".", 1)[0] if unit.name else ""
            self.name.setToolTip(f"write {{image:{stem}}} in the prompt to name it" if stem else "")
            self.enabled.setChecked(unit.enabled)
            self._select(self.kind, kind_of(unit))
            for box, value in ((self.weight, unit.weight), (self.start, unit.guidance_start)):
                _show_number(box, value)
            _show_number(self.end, unit.guidance_end)
            family = "ip-adapter" if is_ip_unit(unit) else "controlnet"
            if family != self._family:  # another kind of model runs it now: its list
                self._fill_models(family, unit.model)
            self._select(self.model, unit.model)
        finally:
            self._showing = False

    @staticmethod
    def _select(combo: QComboBox, data: str) -> None:
        i = combo.findData(data)
        if i < 0:  # a value from a reused job or the API that the list lacks: shown as it is
            combo.addItem(data, data)
            i = combo.count() - 1
        combo.setCurrentIndex(i)

    def show_pictures(self, thumb: QImage | None, preview: QImage | None, note: str = "") -> None:
        """The thumbnails made off the GUI thread; `note` says why there is no preview."""
        for label, image in ((self.thumb, thumb), (self.preview, preview)):
            if image is not None and not image.isNull():
                label.setPixmap(QPixmap.fromImage(image))
            else:
                label.setPixmap(QPixmap())
        self.preview.setText("" if preview is not None else ("…" if note == "…" else "no map"))
        self.preview.setToolTip(note or "what the preprocessor makes of it (the ControlNet sees this)")

    def mark(self, on: bool) -> None:
        """Outline the card: the prompt's cursor or mouse is in a tag naming this reference."""
        self.setProperty("marked", on)
        self.setStyleSheet(MARKED_STYLE if on else CARD_STYLE)


def _show_number(box: QDoubleSpinBox, value: float) -> None:
    if round(box.value(), box.decimals()) != round(float(value), box.decimals()):
        box.setValue(float(value))
