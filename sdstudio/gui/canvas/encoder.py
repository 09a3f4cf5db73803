"""The canvas picture and mask encoded as PNG off the GUI thread, once per change, for Generate and autosave."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QRunnable, QThreadPool, QTimer, Signal
from PySide6.QtGui import QImage

from sdstudio.core.request import InputImage
from sdstudio.gui.canvas.model import CanvasModel
from sdstudio.gui.images import qimage_to_input

MASK_DELAY_MS = 250  # a stroke sends a change per mouse move: the mask is encoded once it pauses

Inputs = tuple[InputImage | None, InputImage | None]


class _Signals(QObject):
    done = Signal(str, int, object)  # "picture" or "mask", version, InputImage | None


class _Encode(QRunnable):
    def __init__(self, signals: _Signals, what: str, version: int, image: QImage, empty: bool):
        super().__init__()
        self.signals, self.what, self.version, self.image, self.empty = signals, what, version, image, empty

    def run(self) -> None:
        encoded = None if self.empty else qimage_to_input(self.image, mask=self.what == "mask")
        self.image = QImage()  # let go of the shared pixels: the next stroke need not copy them
        self.signals.done.emit(self.what, self.version, encoded)


class CanvasEncoder(QObject):
    """Keeps the PNG of the canvas picture and of its mask (None when unpainted) up to date, in the background.

    `inputs()` is what Generate sends (None while an encoding runs); `when_ready(callback)` calls back once
    both are current. `ready` fires whenever an encoding lands (autosave writes the same bytes)."""

    ready = Signal()

    def __init__(self, model: CanvasModel, parent: QObject | None = None):
        super().__init__(parent)
        self.model = model
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)  # in order: a later version never lands before an earlier one
        self._signals = _Signals(self)
        self._signals.done.connect(self._landed)
        self._version = {"picture": 0, "mask": 0}
        self._encoded: dict[str, tuple[int, InputImage | None]] = {"picture": (0, None), "mask": (0, None)}
        self._waiting: list[Callable[[InputImage | None, InputImage | None], None]] = []
        self._mask_timer = QTimer(self, singleShot=True, interval=MASK_DELAY_MS)
        self._mask_timer.timeout.connect(self._encode_mask)
        model.imageChanged.connect(self._picture_changed)
        model.maskChanged.connect(lambda _rect: self._mask_changed())

    # -- changes ---------------------------------------------------------------------------------
    def _picture_changed(self) -> None:
        self._version["picture"] += 1
        image = self.model.image()
        self._start("picture", image if image is not None else QImage(), image is None)

    def _mask_changed(self) -> None:
        self._version["mask"] += 1
        self._mask_timer.start()

    def _encode_mask(self) -> None:
        self._mask_timer.stop()
        mask = self.model.mask_image()
        empty = mask is None or not self.model.has_mask()
        self._start("mask", QImage(mask) if mask is not None else QImage(), empty)

    def _start(self, what: str, image: QImage, empty: bool) -> None:
        # the picture is never painted in place; the mask is, and QPainter detaches it from this shared copy
        self._pool.start(_Encode(self._signals, what, self._version[what], QImage(image), empty))

    def _landed(self, what: str, version: int, encoded: InputImage | None) -> None:
        self._encoded[what] = (version, encoded)
        self.ready.emit()
        inputs = self.inputs()
        if inputs is not None and self._waiting:
            waiting, self._waiting = self._waiting, []
            for callback in waiting:
                callback(*inputs)

    # -- reading ---------------------------------------------------------------------------------
    def current(self, what: str) -> bool:
        return self._encoded[what][0] == self._version[what]

    def inputs(self) -> Inputs | None:
        """(picture, mask) as Generate sends them, or None while either is being encoded."""
        if not (self.current("picture") and self.current("mask")):
            return None
        picture = self._encoded["picture"][1]
        return picture, self._encoded["mask"][1] if picture is not None else None

    def when_ready(self, callback: Callable[[InputImage | None, InputImage | None], None]) -> None:
        """Call back with the inputs once both are encoded (at once when they are)."""
        inputs = self.inputs()
        if inputs is not None:
            callback(*inputs)
            return
        self._waiting.append(callback)
        if self._mask_timer.isActive():  # no need to wait for the pause after the stroke
            self._encode_mask()

    def wait(self, msecs: int = 30_000) -> Inputs:
        """Block until current (tests, the synchronous current_request, closing)."""
        if self._mask_timer.isActive():
            self._encode_mask()
        self._pool.waitForDone(msecs)
        QCoreApplication.sendPostedEvents(self, QEvent.Type.MetaCall)  # deliver what landed
        inputs = self.inputs()
        if inputs is None:
            raise TimeoutError("the canvas could not be encoded in time")
        return inputs

    def encoded(self, what: str) -> InputImage | None:
        return self._encoded[what][1]


def write_png(path: Path, data: bytes | None) -> None:
    """Atomically (temp file, then rename); None removes the file."""
    if data is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
