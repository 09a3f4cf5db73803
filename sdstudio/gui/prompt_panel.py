"""The prompt panel: every generation parameter; builds the Request and can be filled from one."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QRegularExpression, Qt, Signal
from PySide6.QtGui import QFont, QRegularExpressionValidator
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sdstudio.core import demo
from sdstudio.core.request import (
    MAX_BATCH_COUNT,
    MAX_BATCH_SIZE,
    MAX_SEED,
    MAX_STEPS,
    InpaintArea,
    InputImage,
    Mode,
    Request,
)
from sdstudio.core.samplers import DEFAULT_SAMPLER, SAMPLERS
from sdstudio.gui.prompt_edit import PromptEdit

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
MODE_TEXT = {
    Mode.txt2img: "Mode: txt2img (empty canvas)",
    Mode.img2img: "Mode: img2img (image on the canvas)",
    Mode.inpaint: "Mode: inpaint (image + mask)",
}


def mode_for(has_image: bool, has_mask: bool) -> Mode:
    """The mode follows from the canvas: no image, image, image + mask."""
    if not has_image:
        return Mode.txt2img
    return Mode.inpaint if has_mask else Mode.img2img


class PromptPanel(QWidget):
    """All parameters of a job. `request(...)` builds the Request; `set_request(...)` fills every field."""

    generateRequested = Signal()
    cancelRequested = Signal()
    changed = Signal()

    def __init__(self, models: Iterable[tuple[str, str, str]] | None = None, parent: QWidget | None = None):
        """`models`: (display name, reference stored in the request, note) triples."""
        super().__init__(parent)
        self.last_seed: int | None = None
        self._styles: tuple[str, ...] = ()
        self._build(list(models or [(demo.DEMO_NAME, "", demo.DEMO_NOTE)]))
        self._wire()

    # -- building ----------------------------------------------------------------------------------
    def _build(self, models: list[tuple[str, str, str]]) -> None:
        self.prompt = PromptEdit("Prompt", "what to draw")
        self.negative = PromptEdit("Negative prompt", "what to keep away")
        self.mode_label = QLabel(MODE_TEXT[Mode.txt2img])
        self.mode_label.setObjectName("modeLabel")
        bold = QFont(self.mode_label.font())
        bold.setBold(True)
        self.mode_label.setFont(bold)

        self.model = QComboBox()
        self._fill_models(models)
        self.model_note = QLabel()
        self.model_note.setWordWrap(True)
        self.model_note.setStyleSheet("color: palette(mid);")
        self.sampler = QComboBox()
        for name in SAMPLERS:
            self.sampler.addItem(name, name)
        self.sampler.setCurrentIndex(self.sampler.findData(DEFAULT_SAMPLER))
        self.steps = _spin(1, MAX_STEPS, 20)
        self.cfg = _dspin(0.0, 30.0, 7.0, 0.5, 2)
        self.clip_skip = _spin(1, 12, 1)
        self.styles = QToolButton()
        self.styles.setObjectName("stylesButton")
        self.styles.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.styles.setToolTip(
            "negative presets and your styles (styles.csv), applied in order when the job runs"
        )
        self.styles_menu = QMenu(self.styles)
        self.styles.setMenu(self.styles_menu)
        self._fill_styles()

        self.seed = QLineEdit("-1")
        self.seed.setValidator(QRegularExpressionValidator(QRegularExpression(r"-?\d{0,10}"), self.seed))
        self.seed.setPlaceholderText("-1 = random")
        self.seed.setToolTip(f"-1 for a random seed, or 0 to {MAX_SEED}")
        self.seed_random = QPushButton("Random")
        self.seed_random.setToolTip("use a new random seed each run (-1)")
        self.seed_reuse = QPushButton("Reuse last")
        self.seed_reuse.setToolTip("the seed of the last finished image")
        self.seed_reuse.setEnabled(False)

        self.size_preset = QComboBox()
        for w, h in SIZE_PRESETS:
            self.size_preset.addItem(f"{w}×{h}", (w, h))
        self.size_preset.addItem(CUSTOM, None)
        self.width_ = _spin(8, 16384, 512, step=8)
        self.height_ = _spin(8, 16384, 512, step=8)
        self.batch_size = _spin(1, MAX_BATCH_SIZE, 1)
        self.batch_count = _spin(1, MAX_BATCH_COUNT, 1)
        self.strength = _dspin(0.0, 1.0, 0.75, 0.05, 2)
        self.mask_blur = _spin(0, 64, 4)
        self.inpaint_area = QComboBox()
        self.inpaint_area.addItem("Whole picture", InpaintArea.whole.value)
        self.inpaint_area.addItem("Only masked", InpaintArea.only_masked.value)
        self.inpaint_padding = _spin(0, 256, 32)

        self.error = QLabel()
        self.error.setObjectName("errorLabel")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #d33; font-weight: bold;")
        self.error.hide()
        self.generate = QPushButton("Generate")
        self.generate.setToolTip("Ctrl+Enter; while busy, adds the job to the queue")
        self.generate.setDefault(True)
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Esc: stop the running job")
        self.cancel.setEnabled(False)

        # layout
        lay = QVBoxLayout(self)
        lay.addWidget(self.mode_label)
        lay.addWidget(self.prompt, 3)
        self.lora_note = QLabel("LoRA tags are recorded with the picture but not applied yet.")
        self.lora_note.setObjectName("loraNote")
        self.lora_note.setWordWrap(True)
        self.lora_note.setStyleSheet("color: #b36b00;")
        self.lora_note.setVisible(False)
        lay.addWidget(self.lora_note)
        lay.addWidget(self.negative, 2)
        form = QFormLayout()
        form.addRow("Model", self.model)
        form.addRow("", self.model_note)
        form.addRow("Sampler", self.sampler)
        form.addRow("Steps", self.steps)
        form.addRow("CFG scale", self.cfg)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.seed_random)
        seed_row.addWidget(self.seed_reuse)
        form.addRow("Seed", seed_row)
        form.addRow("Size", self.size_preset)
        wh = QHBoxLayout()
        wh.addWidget(self.width_)
        wh.addWidget(QLabel("×"))
        wh.addWidget(self.height_)
        form.addRow("W × H", wh)
        batch = QHBoxLayout()
        batch.addWidget(QLabel("size"))
        batch.addWidget(self.batch_size)
        batch.addWidget(QLabel("count"))
        batch.addWidget(self.batch_count)
        form.addRow("Batch", batch)
        form.addRow("Clip skip", self.clip_skip)
        form.addRow("Styles", self.styles)
        lay.addLayout(form)
        self.image_box = QGroupBox("Image to image / inpaint")
        iform = QFormLayout(self.image_box)
        iform.addRow("Denoising strength", self.strength)
        iform.addRow("Mask blur", self.mask_blur)
        iform.addRow("Inpaint area", self.inpaint_area)
        iform.addRow("Padding", self.inpaint_padding)
        lay.addWidget(self.image_box)
        lay.addWidget(self.error)
        buttons = QHBoxLayout()
        buttons.addWidget(self.generate, 2)
        buttons.addWidget(self.cancel, 1)
        lay.addLayout(buttons)
        self._update_model_note()

    def _wire(self) -> None:
        self.generate.clicked.connect(self.generateRequested)
        self.cancel.clicked.connect(self.cancelRequested)
        self.seed_random.clicked.connect(lambda: self.seed.setText("-1"))
        self.seed_reuse.clicked.connect(self._reuse_seed)
        self.size_preset.activated.connect(self._apply_preset)
        self.width_.valueChanged.connect(self._sync_preset)
        self.height_.valueChanged.connect(self._sync_preset)
        self.model.currentIndexChanged.connect(self._update_model_note)
        for w in self._fields():
            sig = getattr(w, "textChanged", None) or getattr(w, "currentIndexChanged", None)
            if isinstance(w, (QSpinBox, QDoubleSpinBox)):
                sig = w.valueChanged
            sig.connect(self._on_edit)
        self.prompt.edit.textChanged.connect(self._on_edit)
        self.negative.edit.textChanged.connect(self._on_edit)

    def _fields(self) -> list[QWidget]:
        return [
            self.model,
            self.sampler,
            self.steps,
            self.cfg,
            self.clip_skip,
            self.seed,
            self.width_,
            self.height_,
            self.batch_size,
            self.batch_count,
            self.strength,
            self.mask_blur,
            self.inpaint_area,
            self.inpaint_padding,
        ]

    # -- the request -----------------------------------------------------------------------------
    def seed_value(self) -> int:
        """The typed seed; empty (or a lone "-") means random (-1)."""
        text = self.seed.text().strip()
        try:
            return int(text)
        except ValueError:
            return -1

    def request(self, init_image: InputImage | None = None, mask: InputImage | None = None) -> Request:
        """The Request these fields describe; the mode follows from the given canvas images."""
        mode = mode_for(init_image is not None, mask is not None)
        return Request(
            prompt=self.prompt.text(),
            negative_prompt=self.negative.text(),
            mode=mode,
            steps=self.steps.value(),
            cfg_scale=round(self.cfg.value(), 2),
            width=self.width_.value(),
            height=self.height_.value(),
            seed=self.seed_value(),
            batch_size=self.batch_size.value(),
            batch_count=self.batch_count.value(),
            sampler=self.sampler.currentData() or DEFAULT_SAMPLER,
            strength=round(self.strength.value(), 2),
            init_image=init_image if mode is not Mode.txt2img else None,
            mask=mask if mode is Mode.inpaint else None,
            mask_blur=self.mask_blur.value(),
            inpaint_area=InpaintArea(self.inpaint_area.currentData()),
            inpaint_padding=self.inpaint_padding.value(),
            clip_skip=self.clip_skip.value(),
            model=self.model.currentData() or "",
            styles=self._styles,  # in the order they were picked
        )

    def set_request(self, request: Request) -> None:
        """Fill every field from a request ("Reuse parameters"); the seed is kept exactly."""
        self.prompt.set_text(request.prompt)
        self.negative.set_text(request.negative_prompt)
        _select(self.model, request.model, request.model or "Default model")
        _select(self.sampler, request.sampler, request.sampler)
        self.steps.setValue(request.steps)
        self.cfg.setValue(float(request.cfg_scale))
        self.clip_skip.setValue(request.clip_skip)
        self.seed.setText(str(request.seed))
        self.width_.setValue(request.width)
        self.height_.setValue(request.height)
        self.batch_size.setValue(request.batch_size)
        self.batch_count.setValue(request.batch_count)
        self.strength.setValue(float(request.strength))
        self.mask_blur.setValue(request.mask_blur)
        self.inpaint_area.setCurrentIndex(self.inpaint_area.findData(InpaintArea(request.inpaint_area).value))
        self.inpaint_padding.setValue(request.inpaint_padding)
        self._set_styles(tuple(request.styles))
        self.clear_error()

    # -- styles ----------------------------------------------------------------------------------
    def _fill_styles(self) -> None:
        try:
            from sdstudio.core.prompt.styles import all_styles

            styles = all_styles()
        except Exception as e:  # a broken styles.csv: the presets menu says so, the panel works
            styles = {}
            self.styles.setToolTip(f"styles unavailable: {e}")
        for name, style in styles.items():
            action = self.styles_menu.addAction(name)
            action.setCheckable(True)
            action.setToolTip(", ".join(p for p in (style.prompt, style.negative_prompt) if p))
            action.toggled.connect(lambda on, n=name: self._toggle_style(n, on))
        self._update_styles_text()

    def _toggle_style(self, name: str, on: bool) -> None:
        if on and name not in self._styles:
            self._styles = (*self._styles, name)
        elif not on and name in self._styles:
            self._styles = tuple(n for n in self._styles if n != name)
        self._update_styles_text()
        self._on_edit()

    def _set_styles(self, names: tuple[str, ...]) -> None:
        self._styles = names
        for action in self.styles_menu.actions():
            action.blockSignals(True)
            action.setChecked(action.text() in names)
            action.blockSignals(False)
        self._update_styles_text()

    def _update_styles_text(self) -> None:
        self.styles.setText(", ".join(self._styles) if self._styles else "None")

    def _fill_models(self, models: list[tuple[str, str, str]]) -> None:
        for name, ref, note in models:
            self.model.addItem(name, ref)
            self.model.setItemData(self.model.count() - 1, note, Qt.ItemDataRole.ToolTipRole)

    def set_models(self, models: list[tuple[str, str, str]]) -> None:
        """New choices (name, reference, note); the selected model stays selected when still there."""
        current = self.model.currentData()
        self.model.blockSignals(True)
        self.model.clear()
        self._fill_models(models)
        self.model.blockSignals(False)
        self.model.setCurrentIndex(max(0, self.model.findData(current)))
        self._update_model_note()

    def select_model(self, ref: str | None) -> None:
        i = self.model.findData(ref) if ref else -1
        if i >= 0:
            self.model.setCurrentIndex(i)

    def set_mode(self, mode: Mode) -> None:
        self.mode_label.setText(MODE_TEXT[mode])
        self.image_box.setEnabled(mode is not Mode.txt2img)

    def set_last_seed(self, seed: int) -> None:
        self.last_seed = seed
        self.seed_reuse.setEnabled(True)
        self.seed_reuse.setToolTip(f"use the last seed: {seed}")

    def set_busy(self, busy: bool) -> None:
        self.generate.setText("Add to queue" if busy else "Generate")
        self.cancel.setEnabled(busy)

    # -- errors ----------------------------------------------------------------------------------
    def field_widget(self, name: str) -> QWidget | None:
        return {
            "prompt": self.prompt.edit,
            "negative_prompt": self.negative.edit,
            "steps": self.steps,
            "cfg_scale": self.cfg,
            "width": self.width_,
            "height": self.height_,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "batch_count": self.batch_count,
            "sampler": self.sampler,
            "strength": self.strength,
            "mask_blur": self.mask_blur,
            "inpaint_padding": self.inpaint_padding,
            "clip_skip": self.clip_skip,
            "model": self.model,
        }.get(name)

    def show_error(self, message: str, field: str | None = None) -> None:
        """A readable one-line error under the fields; the named field is outlined. Inputs stay as typed."""
        self.clear_error()
        self.error.setText(message)
        self.error.show()
        widget = self.field_widget(field) if field else None
        if widget is not None:
            widget.setProperty("invalid", True)
            widget.setStyleSheet("border: 2px solid #d33;")
            widget.setFocus(Qt.FocusReason.OtherFocusReason)

    def clear_error(self) -> None:
        self.error.hide()
        self.error.clear()
        for w in [self.prompt.edit, self.negative.edit, *self._fields()]:
            if w.property("invalid"):
                w.setProperty("invalid", False)
                w.setStyleSheet("")

    # -- slots -----------------------------------------------------------------------------------
    def _on_edit(self, *_: Any) -> None:
        if self.error.isVisible():
            self.clear_error()
        from sdstudio.core.prompt import lora_tags

        self.lora_note.setVisible(bool(lora_tags(self.prompt.edit.toPlainText())))
        self.changed.emit()

    def _reuse_seed(self) -> None:
        if self.last_seed is not None:
            self.seed.setText(str(self.last_seed))

    def randomize_seed_now(self) -> None:
        self.seed.setText(str(secrets.randbelow(MAX_SEED + 1)))

    def _apply_preset(self, index: int) -> None:
        size = self.size_preset.itemData(index)
        if size:
            self.set_size(*size)

    def generation_size(self) -> tuple[int, int]:
        return self.width_.value(), self.height_.value()

    def set_size(self, width: int, height: int) -> None:
        self.width_.setValue(width)
        self.height_.setValue(height)

    def _sync_preset(self) -> None:
        i = self.size_preset.findData((self.width_.value(), self.height_.value()))
        self.size_preset.setCurrentIndex(i if i >= 0 else self.size_preset.count() - 1)

    def _update_model_note(self) -> None:
        ref = self.model.currentData() or ""
        note = self.model.currentData(Qt.ItemDataRole.ToolTipRole) or (
            demo.DEMO_NOTE if demo.is_demo(ref) else ""
        )
        self.model_note.setText(note)
        self.model_note.setVisible(bool(note))


def _spin(lo: int, hi: int, value: int, step: int = 1) -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setSingleStep(step)
    s.setValue(value)
    s.setKeyboardTracking(True)
    return s


def _dspin(lo: float, hi: float, value: float, step: float, decimals: int) -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setDecimals(decimals)
    s.setRange(lo, hi)
    s.setSingleStep(step)
    s.setValue(value)
    return s


def _select(combo: QComboBox, data: str, label: str) -> None:
    """Select the item holding `data`, adding it when unknown so a reused request round-trips exactly."""
    i = combo.findData(data)
    if i < 0:
        combo.addItem(label, data)
        i = combo.count() - 1
    combo.setCurrentIndex(i)
