"""The prompt panel's A1111 extras: variation seed and hires fix, each widget bound to a Request field."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QWidget

from sdstudio.core.hires import LATENT_MODES
from sdstudio.core.request import MAX_SIDE, MAX_STEPS
from sdstudio.gui import bind
from sdstudio.gui.prompt_fields import dspin, seed_edit, spin


def _row(*widgets: QWidget) -> QHBoxLayout:
    row = QHBoxLayout()
    for w in widgets:
        row.addWidget(w)
    return row


class VariationBox(QGroupBox):
    """A1111's variation seed: the noise blends towards the subseed's; "resize seed from" keeps a composition."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Variation seed", parent)
        self.setToolTip("strength 0 = off; a little strength gives a variation of the seed's picture")
        self.subseed = seed_edit()
        self.strength = dspin(0.0, 1.0, 0.0, 0.05, 2)
        self.resize_w = spin(0, MAX_SIDE, 0, step=8)
        self.resize_h = spin(0, MAX_SIDE, 0, step=8)
        for s in (self.resize_w, self.resize_h):
            s.setSpecialValueText("off")
        form = QFormLayout(self)
        form.addRow("Variation seed", self.subseed)
        form.addRow("Strength", self.strength)
        form.addRow("Resize seed from", _row(self.resize_w, QLabel("×"), self.resize_h))

    def bindings(self) -> dict[str, bind.Binding]:
        return {
            "subseed": bind.int_line(self.subseed, -1),
            "subseed_strength": bind.dspin(self.strength),
            "seed_resize_from_w": bind.spin(self.resize_w),
            "seed_resize_from_h": bind.spin(self.resize_h),
        }


class HiresBox(QGroupBox):
    """A1111's hires fix (txt2img): a first pass, an upscale, a second pass at the larger size."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Hires fix", parent)
        self.setCheckable(True)
        self.setChecked(False)
        self.setToolTip(
            "txt2img at the size above, upscaled, then refined by a second pass (denoising strength)"
        )
        self.upscaler = QComboBox()
        for name in (*LATENT_MODES, "None", "Lanczos", "Nearest"):
            self.upscaler.addItem(name, name)
        self.scale = dspin(1.0, 8.0, 2.0, 0.25, 2)
        self.resize_x = spin(0, MAX_SIDE, 0, step=8)
        self.resize_y = spin(0, MAX_SIDE, 0, step=8)
        for s in (self.resize_x, self.resize_y):
            s.setSpecialValueText("by scale")
        self.steps = spin(0, MAX_STEPS, 0)
        self.steps.setSpecialValueText("same")
        form = QFormLayout(self)
        form.addRow("Upscaler", self.upscaler)
        form.addRow("Upscale by", self.scale)
        form.addRow("Resize to", _row(self.resize_x, QLabel("×"), self.resize_y))
        form.addRow("Hires steps", self.steps)

    def set_upscalers(self, names: list[str]) -> None:
        """Model upscalers of the library, after the built-in ones (the selected one stays)."""
        for name in names:
            if self.upscaler.findData(name) < 0:
                self.upscaler.addItem(name, name)

    def bindings(self) -> dict[str, bind.Binding]:
        return {
            "enable_hr": bind.Binding(self, self.isChecked, self.setChecked, self.toggled),
            "hr_upscaler": bind.combo(self.upscaler, lambda v: v or "Latent"),
            "hr_scale": bind.dspin(self.scale),
            "hr_resize_x": bind.spin(self.resize_x),
            "hr_resize_y": bind.spin(self.resize_y),
            "hr_second_pass_steps": bind.spin(self.steps),
        }
