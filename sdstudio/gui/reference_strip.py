"""The reference strip under the prompt: a view of the studio model's `controls` (ControlNet / IP-Adapter units).

Pictures come in by drop (files, pictures, gallery tiles), paste (Ctrl+V) or the pick button; each reference is
a card (reference_card.py). Thumbnails and preprocessed previews are made on the thread pool.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from sdstudio.core import references
from sdstudio.core.control.unit import ControlUnit
from sdstudio.core.request import InputImage, RequestError
from sdstudio.gui import bind
from sdstudio.gui.images import pil_to_qimage, qimage_to_input
from sdstudio.gui.layouts import scrollable
from sdstudio.gui.prompt_edit import IN_FLIGHT
from sdstudio.gui.reference_card import THUMB, ReferenceCard

log = logging.getLogger(__name__)

PICTURES = "Images (*.png *.jpg *.jpeg *.webp *.bmp)"
CACHE = 64  # thumbnails and previews kept (a preview is remade only when its picture or preprocessor changes)
HINT = "Drop, paste (Ctrl+V) or add pictures, or drag gallery tiles here; {image} in the prompt names them."


FAILED = "no preview: "


def note_failed(note: str) -> bool:
    return note.startswith(FAILED)


def preview_key(unit: ControlUnit) -> tuple[Any, ...]:
    """What a preview depends on: the picture and the preprocessor's settings."""
    sha = unit.image.sha256 if unit.image is not None else ""
    return (sha, unit.module, unit.threshold_a, unit.threshold_b, unit.processor_res, unit.pixel_perfect)


class _Signals(QObject):
    done = Signal(object, object, object, str)  # key, thumb QImage, preview QImage | None, note


class _PreviewTask(QRunnable):
    """The thumbnail and the preprocessed preview of one unit, made off the GUI thread."""

    def __init__(self, key: tuple[Any, ...], unit: ControlUnit, library: Any, signals: _Signals):
        super().__init__()
        self.key, self.unit, self.library, self.signals = key, unit, library, signals

    def run(self) -> None:
        from PIL import Image

        thumb = preview = None
        note = ""
        try:
            assert self.unit.image is not None
            picture = self.unit.image.to_pil()
            small = picture.convert("RGB")
            small.thumbnail((THUMB, THUMB), Image.Resampling.LANCZOS)
            thumb = pil_to_qimage(small)
            made = references.preview(self.unit, self.library)
            if made is None:
                note = "no preprocessor: used as it is"
            else:
                made.thumbnail((THUMB, THUMB), Image.Resampling.LANCZOS)
                preview = pil_to_qimage(made)
        except Exception as e:  # shown on the card; generating reports the same problem as an error
            log.info("reference preview failed: %s", e)
            note = f"{FAILED}{e}"
        try:
            self.signals.done.emit(self.key, thumb, preview, note)
        except RuntimeError:  # the strip was closed while this ran: nobody waits for the pictures
            log.debug("reference preview dropped: the strip is gone")
        finally:
            IN_FLIGHT.discard(self)


class ReferenceStrip(QWidget):
    """The references of the next job. `edited` when the artist changed them (the binding to the model)."""

    edited = Signal()
    message = Signal(str, bool)  # (text, is_error)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("referenceStrip")
        self.setAcceptDrops(True)
        self._units: tuple[ControlUnit, ...] = ()
        self._models: dict[str, list[str]] = {}  # "controlnet" / "ip-adapter" -> the library's names
        self.library: Any = None  # the model library: depth and pose previews use its preprocessor models
        self._marked: int | None = None
        self.cards: list[ReferenceCard] = []
        self._pictures: OrderedDict[tuple[Any, ...], tuple[Any, Any, str]] = OrderedDict()
        self._pending: set[tuple[Any, ...]] = set()
        self._signals = _Signals(self)
        self._signals.done.connect(self._pictures_made)
        self.pool = QThreadPool.globalInstance()
        # 1. the header: title, hint, pick button
        self.add_button = QPushButton("Add…")
        self.add_button.setToolTip("pick reference pictures (also: drop, Ctrl+V, or drag gallery tiles here)")
        self.add_button.clicked.connect(self.pick)
        self.hint = QLabel(HINT)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: palette(mid);")
        head = QHBoxLayout()
        head.addWidget(QLabel("References"))
        head.addStretch(1)
        head.addWidget(self.add_button)
        # 2. the cards, side by side, scrolled sideways
        self.row = QHBoxLayout()
        self.row.setContentsMargins(0, 0, 0, 0)
        self.row.addStretch(1)
        inner = QWidget()
        inner.setLayout(self.row)
        self.scroll = scrollable(inner, "referenceScroll", frameless=True, hide_bar=Qt.Orientation.Vertical)
        self.scroll.setVisible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(head)
        lay.addWidget(self.hint)
        lay.addWidget(self.scroll)
        paste = QShortcut(QKeySequence.StandardKey.Paste, self)
        paste.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        paste.activated.connect(self.paste)

    # -- the bound value ---------------------------------------------------------------------------
    def units(self) -> tuple[ControlUnit, ...]:
        return self._units

    def set_units(self, units: tuple[ControlUnit, ...]) -> None:
        """Show the model's units: the cards are kept while their number is, so focus stays where it is."""
        self._units = tuple(units)
        if len(self.cards) != len(self._units):
            self._rebuild()
        for card, unit in zip(self.cards, self._units, strict=True):
            card.show_unit(unit)
            self._show_pictures(card, unit)
        self.scroll.setVisible(bool(self._units))
        self.hint.setVisible(not self._units)

    def binding(self) -> bind.Binding:
        return bind.Binding(self, self.units, self.set_units, self.edited)

    def _change(self, units: tuple[ControlUnit, ...]) -> None:
        self.set_units(units)
        self.edited.emit()

    def _rebuild(self) -> None:
        for card in self.cards:
            self.row.removeWidget(card)
            card.deleteLater()
        self.cards = []
        for i in range(len(self._units)):
            card = ReferenceCard(i)
            card.set_models(self._models)
            card.edited.connect(self._card_edited)
            card.removeRequested.connect(self.remove)
            self.row.insertWidget(i, card)
            self.cards.append(card)
        self._marked = None
        height = max((c.sizeHint().height() for c in self.cards), default=0)
        self.scroll.setFixedHeight(height + self.scroll.horizontalScrollBar().sizeHint().height() + 4)

    # -- artist's edits ----------------------------------------------------------------------------
    def _card_edited(self, index: int, fields: dict[str, Any]) -> None:
        try:
            self._change(references.edited(self._units, index, **fields))
        except RequestError as e:  # a kind this build lacks: the card shows the unit as it was
            self.set_units(self._units)
            self.message.emit(e.message, True)

    def remove(self, index: int) -> None:
        self._change(references.removed(self._units, index))

    def add_image(self, image: InputImage, name: str) -> int:
        """A new reference at the end (default kind); returns its index."""
        self._change(references.added(self._units, image, name))
        self.message.emit(f"Reference {self._units[-1].name} added.", False)
        return len(self._units) - 1

    def add_file(self, path: Path) -> bool:
        """Read a picture file as a new reference; an unreadable one is one readable message."""
        try:
            image = InputImage.from_file(path, path.name)
        except (OSError, RequestError) as e:
            text = e.message if isinstance(e, RequestError) else str(e)
            self.message.emit(f"Cannot use {path.name} as a reference: {text}", True)
            return False
        self.add_image(image, path.name)
        return True

    def add_qimage(self, image: QImage, name: str) -> bool:
        if image.isNull():
            self.message.emit("The clipboard holds no picture.", True)
            return False
        self.add_image(qimage_to_input(image), name)
        return True

    def pick(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add reference pictures", "", PICTURES)
        for path in paths:
            self.add_file(Path(path))

    def paste(self) -> None:
        self.add_qimage(QApplication.clipboard().image(), "pasted.png")

    def set_models(self, models: dict[str, list[str]]) -> None:
        """The library's models the cards offer besides Auto: ControlNets, and IP-Adapters for their kinds."""
        self._models = {k: list(v) for k, v in models.items()}
        for key in [k for k, (_, _, note) in self._pictures.items() if note_failed(note)]:
            del self._pictures[key]  # a preprocessor model may be there now: its preview is tried again
        for card, unit in zip(self.cards, self._units, strict=True):
            card.set_models(self._models)
            self._show_pictures(card, unit)

    def field_widget(self, name: str) -> QWidget | None:
        """The card widget of an error's field, `controls[i].field` (the card itself for `controls[i]`)."""
        m = re.fullmatch(r"controls\[(\d+)\](?:\.(\w+))?", name)
        if m is None or int(m.group(1)) >= len(self.cards):
            return None
        card = self.cards[int(m.group(1))]
        return card.field_widgets().get(m.group(2), card) if m.group(2) else card

    def field_widgets(self) -> list[QWidget]:
        return [w for card in self.cards for w in card.field_widgets().values()]

    # -- the prompt's tags -------------------------------------------------------------------------
    def mark(self, index: int | None) -> None:
        """Outline the reference a prompt tag names (None: none) and scroll it into sight."""
        if index == self._marked:
            return
        self._marked = index if index is not None and 0 <= index < len(self.cards) else None
        for i, card in enumerate(self.cards):
            card.mark(i == self._marked)
        if self._marked is not None:
            self.scroll.ensureWidgetVisible(self.cards[self._marked])

    def marked(self) -> int | None:
        return self._marked

    # -- drag and drop -----------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt name)
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dragMoveEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt name)
        """Files (and gallery tiles, which carry their file) become references; so does a dropped picture."""
        data = event.mimeData()
        files = [Path(u.toLocalFile()) for u in data.urls() if u.isLocalFile()]
        if files:
            for path in files:
                self.add_file(path)
        elif data.hasImage():
            self.add_qimage(QImage(data.imageData()), "dropped.png")
        event.acceptProposedAction()

    # -- pictures ----------------------------------------------------------------------------------
    def _show_pictures(self, card: ReferenceCard, unit: ControlUnit) -> None:
        key = preview_key(unit)
        made = self._pictures.get(key)
        if made is not None:
            card.show_pictures(*made)
            return
        if unit.image is None:  # an API unit on the canvas picture, or one whose picture was not kept
            card.show_pictures(None, None, "no picture of its own: the canvas picture is used")
            card.thumb.setText("canvas")
            return
        card.show_pictures(None, None, "…")
        if key not in self._pending:
            self._pending.add(key)
            task = _PreviewTask(key, unit, self.library, self._signals)
            IN_FLIGHT.add(task)  # a closed strip must not take a queued task's wrapper with it
            self.pool.start(task)

    def _pictures_made(self, key: tuple[Any, ...], thumb: Any, preview: Any, note: str) -> None:
        self._pending.discard(key)
        self._pictures[key] = (thumb, preview, note)
        while len(self._pictures) > CACHE:
            self._pictures.popitem(last=False)
        for card, unit in zip(self.cards, self._units, strict=True):
            if preview_key(unit) == key:
                card.show_pictures(thumb, preview, note)

    def previews_ready(self) -> bool:
        """Every card shows its pictures (tests, screenshots)."""
        return all(u.image is None or preview_key(u) in self._pictures for u in self._units)
