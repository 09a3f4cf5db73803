"""The prompt panel: a view bound to the studio model's parameters; it scrolls, Generate stays in sight."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from sdstudio.core import demo
from sdstudio.core.request import (
    MAX_BATCH_COUNT,
    MAX_BATCH_SIZE,
    MAX_STEPS,
    RANDOM_SEEDS,
    InpaintArea,
    InputImage,
    Mode,
    Request,
)
from sdstudio.core.samplers import DEFAULT_SAMPLER, SAMPLERS
from sdstudio.core.studio import PARAMETERS, StudioModel
from sdstudio.gui import bind
from sdstudio.gui.image_tags import TagLink
from sdstudio.gui.layouts import scrollable
from sdstudio.gui.prompt_edit import PromptEdit
from sdstudio.gui.prompt_extras import HiresBox, VariationBox
from sdstudio.gui.prompt_fields import SizePresets, StylesButton, dspin, seed_edit, spin
from sdstudio.gui.reference_strip import ReferenceStrip

MODE_TEXT = {
    Mode.txt2img: "Mode: txt2img (empty canvas)",
    Mode.img2img: "Mode: img2img (image on the canvas)",
    Mode.inpaint: "Mode: inpaint (image + mask)",
}


class PromptPanel(QWidget):
    """Every parameter of a job, each widget bound to one field of the studio model."""

    generateRequested = Signal()
    cancelRequested = Signal()
    errorCleared = Signal()  # the artist edited after an error: it is stale

    def __init__(
        self,
        studio: StudioModel | None = None,
        models: Iterable[tuple[str, str, str]] | None = None,
        parent: QWidget | None = None,
    ):
        """`models`: (display name, reference stored in the request, note) triples."""
        super().__init__(parent)
        self.studio = studio if studio is not None else StudioModel()
        self.last_seed: int | None = None
        self._build(list(models or [(demo.DEMO_NAME, "", demo.DEMO_NOTE)]))
        self._bind()

    # -- building ----------------------------------------------------------------------------------
    def _build(self, models: list[tuple[str, str, str]]) -> None:
        # 1. the fields
        self.prompt = PromptEdit("Prompt", "what to draw")
        self.negative = PromptEdit("Negative prompt", "what to keep away")
        self.references = ReferenceStrip()  # ControlNet / IP-Adapter units; `{image}` tags name them
        self.tag_link = TagLink(self.prompt.edit, self.references)
        self.mode_label = QLabel(MODE_TEXT[Mode.txt2img])
        self.mode_label.setObjectName("modeLabel")
        bold = QFont(self.mode_label.font())
        bold.setBold(True)
        self.mode_label.setFont(bold)
        self.model = QComboBox()
        self._fill_models(models)
        self.model_note = _note("color: palette(mid);")
        self.sampler = QComboBox()
        for name in SAMPLERS:
            self.sampler.addItem(name, name)
        self.steps = spin(1, MAX_STEPS, 20)
        self.speed = (
            QComboBox()
        )  # "fast": compiled with CUDA graphs on a GPU, bf16 UNet on a CPU (core.speed)
        self.speed.addItem("Standard", "standard")
        self.speed.addItem("Fast (first run of a size compiles)", "fast")
        self.cfg = dspin(0.0, 30.0, 7.0, 0.5, 2)
        self.clip_skip = spin(1, 12, 1)
        self.styles = StylesButton()
        self.styles_menu = self.styles.menu_
        self.seed = seed_edit()
        self.seed_random = QPushButton("Random")
        self.seed_random.setToolTip("use a new random seed each run (-1)")
        self.seed_reuse = QPushButton("Reuse last")
        self.seed_reuse.setToolTip("the seed of the last finished image")
        self.seed_reuse.setEnabled(False)
        self.size_preset = SizePresets()
        self.width_ = spin(8, 16384, 512, step=8)
        self.height_ = spin(8, 16384, 512, step=8)
        self.size_note = _note("color: #b36b00;")
        self.size_note.setObjectName("sizeNote")
        self.batch_size = spin(1, MAX_BATCH_SIZE, 1)
        self.batch_count = spin(1, MAX_BATCH_COUNT, 1)
        self.strength = dspin(0.0, 1.0, 0.75, 0.05, 2)
        self.mask_blur = spin(0, 64, 4)
        self.inpaint_area = QComboBox()
        self.inpaint_area.addItem("Whole picture", InpaintArea.whole.value)
        self.inpaint_area.addItem("Only masked", InpaintArea.only_masked.value)
        self.inpaint_padding = spin(0, 256, 32)
        self.vae = QComboBox()
        self.vae.setToolTip(
            "Automatic: a VAE named like the model, else the model's own; remembered per model"
        )
        self.set_vaes([])
        self.error = _note("color: #d33; font-weight: bold;")
        self.error.setObjectName("errorLabel")
        self.generate = QPushButton("Generate")
        self.generate.setToolTip("Ctrl+Enter; while busy, adds the job to the queue")
        self.generate.setDefault(True)
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Esc: stop the running job")
        self.cancel.setEnabled(False)

        # 2. the scrolled form (a laptop screen shows part of it), Generate and Cancel always in sight
        fields = QWidget()
        lay = QVBoxLayout(fields)
        lay.setContentsMargins(0, 0, 4, 0)
        lay.addWidget(self.mode_label)
        lay.addWidget(self.prompt, 3)
        lay.addWidget(self.references)  # under the prompt whose {image} tags name them
        lay.addWidget(self.negative, 2)
        form = QFormLayout()
        form.addRow("Model", self.model)
        form.addRow("", self.model_note)
        form.addRow("VAE", self.vae)
        form.addRow("Sampler", self.sampler)
        form.addRow("Steps", self.steps)
        form.addRow("Speed", self.speed)
        form.addRow("CFG scale", self.cfg)
        seed_row = _row(self.seed, self.seed_random, self.seed_reuse)
        seed_row.setStretch(0, 1)
        form.addRow("Seed", seed_row)
        form.addRow("Size", self.size_preset)
        form.addRow("W × H", _row(self.width_, QLabel("×"), self.height_))
        form.addRow("", self.size_note)
        form.addRow("Batch", _row(QLabel("size"), self.batch_size, QLabel("count"), self.batch_count))
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
        self.variation = VariationBox()
        self.hires = HiresBox()
        lay.addWidget(self.variation)
        lay.addWidget(self.hires)
        self.scroll = scrollable(fields, "promptScroll", frameless=True, hide_bar=Qt.Orientation.Horizontal)
        outer = QVBoxLayout(self)
        outer.addWidget(self.scroll, 1)
        outer.addWidget(self.error)
        buttons = QHBoxLayout()
        buttons.addWidget(self.generate, 2)
        buttons.addWidget(self.cancel, 1)
        outer.addLayout(buttons)

        # 3. each parameter's widget: every Request field the canvas does not decide has one
        self.bindings: dict[str, bind.Binding] = {
            "prompt": bind.Binding(
                self.prompt.edit, self.prompt.text, self.prompt.set_text, self.prompt.edit.textChanged
            ),
            "negative_prompt": bind.Binding(
                self.negative.edit, self.negative.text, self.negative.set_text, self.negative.edit.textChanged
            ),
            "model": bind.combo(self.model, lambda v: v or "", lambda v: v or "Default model"),
            "vae": bind.combo(self.vae, lambda v: v or "", lambda v: v or "Automatic"),
            "sampler": bind.combo(self.sampler, lambda v: v or DEFAULT_SAMPLER),
            "steps": bind.spin(self.steps),
            "speed": bind.combo(self.speed, lambda v: v or "standard"),
            "cfg_scale": bind.dspin(self.cfg),
            "clip_skip": bind.spin(self.clip_skip),
            "seed": bind.int_line(self.seed, -1),
            "width": bind.spin(self.width_),
            "height": bind.spin(self.height_),
            "batch_size": bind.spin(self.batch_size),
            "batch_count": bind.spin(self.batch_count),
            "strength": bind.dspin(self.strength),
            "mask_blur": bind.spin(self.mask_blur),
            "inpaint_area": bind.combo(self.inpaint_area, InpaintArea),
            "inpaint_padding": bind.spin(self.inpaint_padding),
            "styles": bind.Binding(self.styles, self.styles.names, self.styles.set_names, self.styles.edited),
            "controls": self.references.binding(),
            **self.variation.bindings(),
            **self.hires.bindings(),
        }
        unknown = set(self.bindings) - set(PARAMETERS)
        if unknown:
            raise RuntimeError(f"not Request fields: {', '.join(sorted(unknown))}")
        # a Request field with no widget yet is still kept by the model (Reuse and autosave round-trip it)
        self.unshown = tuple(n for n in PARAMETERS if n not in self.bindings)

    def _bind(self) -> None:
        studio = self.studio
        if not studio.get("model"):  # a fresh studio starts on the selector's first model
            studio.set("model", self.model.currentData() or "")
        for name, binding in self.bindings.items():
            bind.bind(studio, name, binding)
        studio.changed.connect(self._on_changed)
        studio.canvas_changed.connect(self._on_canvas)
        self.generate.clicked.connect(self.generateRequested)
        self.cancel.clicked.connect(self.cancelRequested)
        self.seed_random.clicked.connect(lambda: studio.set("seed", -1))
        self.seed_reuse.clicked.connect(self._reuse_seed)
        self.size_preset.currentIndexChanged.connect(self._apply_preset)
        self.size_preset.show_size(*studio.size)
        self._update_model_note()
        self._on_canvas()

    # -- the request -----------------------------------------------------------------------------
    def seed_value(self) -> int:
        return self.studio.get("seed")

    def request(self, init_image: InputImage | None = None, mask: InputImage | None = None) -> Request:
        """The Request these fields describe; the mode follows from the given canvas images."""
        return self.studio.request(init_image, mask)

    def set_request(self, request: Request) -> None:
        """Every field from a request, exactly (seed included)."""
        self.studio.set_parameters(request)
        self.clear_error()

    def generation_size(self) -> tuple[int, int]:
        return self.studio.size

    def set_size(self, width: int, height: int) -> None:
        self.studio.update(width=width, height=height)

    # -- models ----------------------------------------------------------------------------------
    def _fill_models(self, models: list[tuple[str, str, str]]) -> None:
        for name, ref, note in models:
            self.model.addItem(name, ref)
            self.model.setItemData(self.model.count() - 1, note, Qt.ItemDataRole.ToolTipRole)

    def set_models(self, models: list[tuple[str, str, str]]) -> None:
        """New choices (name, reference, note); the selected model stays selected when still there."""
        current = self.studio.get("model")
        self.model.blockSignals(True)
        self.model.clear()
        self._fill_models(models)
        self.model.setCurrentIndex(max(0, self.model.findData(current)))
        self.model.blockSignals(False)
        self.studio.set("model", self.model.currentData() or "")
        self._update_model_note()

    def set_vaes(self, names: list[str]) -> None:
        """The VAE choices: Automatic (""), None, then the library's VAE files and folders."""
        current = self.vae.currentData() or ""
        self.vae.blockSignals(True)
        self.vae.clear()
        for label, data in [("Automatic", ""), ("None", "None"), *((n, n) for n in names)]:
            self.vae.addItem(label, data)
        self.vae.setCurrentIndex(max(0, self.vae.findData(current)))
        self.vae.blockSignals(False)

    def select_model(self, ref: str | None) -> None:
        if ref and self.model.findData(ref) >= 0:
            self.studio.set("model", ref)

    def _update_model_note(self) -> None:
        ref = self.model.currentData() or ""
        note = self.model.currentData(Qt.ItemDataRole.ToolTipRole) or (
            demo.DEMO_NOTE if demo.is_demo(ref) else ""
        )
        self.model_note.setText(note)
        self.model_note.setVisible(bool(note))

    # -- state shown -----------------------------------------------------------------------------
    def set_mode(self, mode: Mode) -> None:
        self.mode_label.setText(MODE_TEXT[mode])
        self.image_box.setEnabled(mode is not Mode.txt2img)
        self.hires.setEnabled(mode is Mode.txt2img)  # hires fix is a txt2img pass

    def set_last_seed(self, seed: int) -> None:
        self.last_seed = seed
        self.seed_reuse.setEnabled(True)
        self.seed_reuse.setToolTip(f"use the last seed: {seed}")

    def set_busy(self, busy: bool) -> None:
        self.generate.setText("Add to queue" if busy else "Generate")
        self.cancel.setEnabled(busy)

    # -- errors ----------------------------------------------------------------------------------
    def field_widget(self, name: str) -> QWidget | None:
        """The widget of a field; a reference's field (`controls[1].weight`) is its card's."""
        binding = self.bindings.get(name)
        return binding.widget if binding is not None else self.references.field_widget(name)

    def show_error(self, message: str, field: str | None = None) -> None:
        """A readable one-line error under the fields; the named field is outlined. Inputs stay as typed."""
        self.clear_error()
        self.error.setText(message)
        self.error.show()
        widget = self.field_widget(field) if field else None
        if widget is not None:
            widget.setProperty("invalid", True)
            widget.setStyleSheet("border: 2px solid #d33;")
            self.scroll.ensureWidgetVisible(widget)
            widget.setFocus(Qt.FocusReason.OtherFocusReason)

    def clear_error(self) -> None:
        self.error.hide()
        self.error.clear()
        for widget in [b.widget for b in self.bindings.values()] + self.references.field_widgets():
            if widget.property("invalid"):
                widget.setProperty("invalid", False)
                widget.setStyleSheet("")

    # -- slots -----------------------------------------------------------------------------------
    def _on_changed(self, name: str) -> None:
        if self.error.isVisible():
            self.clear_error()
            self.errorCleared.emit()
        if name in ("width", "height"):
            self.size_preset.show_size(*self.studio.size)
            self._update_size_note()
        elif name == "model":
            self._update_model_note()
        elif name == "controls":  # names and references changed: the prompt's tags are recoloured
            self.tag_link.refresh()

    def _on_canvas(self) -> None:
        self.set_mode(self.studio.mode)
        self._update_size_note()

    def _update_size_note(self) -> None:
        note = self.studio.size_note()
        self.size_note.setText(note)
        self.size_note.setVisible(bool(note))

    def _reuse_seed(self) -> None:
        if self.last_seed is not None:
            self.studio.set("seed", self.last_seed)

    def randomize_seed_now(self) -> None:
        self.studio.set("seed", secrets.randbelow(RANDOM_SEEDS))

    def _apply_preset(self, index: int) -> None:
        size = self.size_preset.size_at(index)
        if size:
            self.set_size(*size)


def _note(style: str) -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet(style)
    label.setVisible(False)
    return label


def _row(*widgets: QWidget) -> QHBoxLayout:
    row = QHBoxLayout()
    for w in widgets:
        row.addWidget(w)
    return row
