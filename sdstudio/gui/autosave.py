"""Autosave of the canvas (image, mask) and the studio's parameters; restored after a restart or a crash.

Where and how they are kept is the core's StudioState (core/persistence.py); this decides when. The picture is
written once per new picture and the mask once per stroke, both from the PNG bytes the canvas encoder already
made off the GUI thread; files are written on a background thread, atomically."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, QTimer

from sdstudio.core.persistence import StudioState
from sdstudio.core.studio import StudioModel
from sdstudio.gui.canvas.encoder import CanvasEncoder, write_png

log = logging.getLogger(__name__)

FILES = {"picture": "image.png", "mask": "mask.png"}


class Autosaver(QObject):
    """Saves the parameters shortly after each change and the canvas as its encodings land; `restore()`."""

    def __init__(
        self,
        studio: StudioModel,
        canvas: Any,
        encoder: CanvasEncoder,
        state: StudioState,
        delay_ms: int = 800,
    ):
        super().__init__(canvas)
        self.studio, self.canvas, self.encoder, self.state = studio, canvas, encoder, state
        self._prompt_dirty = False
        self._written: dict[str, object] = {}  # what: the InputImage last written (or None)
        self._writer = QThreadPool(self)
        self._writer.setMaxThreadCount(1)  # in order: the last change is the one on disk
        self._timer = QTimer(self, singleShot=True, interval=delay_ms)
        self._timer.timeout.connect(self._save_prompt)
        studio.changed.connect(self._prompt_changed)
        encoder.ready.connect(self._canvas_encoded)
        self._adopt: set[str] = set()  # restored from disk: the first encodings are what is there already

    def _prompt_changed(self, _name: str) -> None:
        self._prompt_dirty = True
        self._timer.start()

    def _save_prompt(self) -> None:
        self._timer.stop()
        if not self._prompt_dirty:
            return
        try:
            self.state.save_parameters(self.studio.parameters)
            self._prompt_dirty = False
        except Exception:
            log.exception("autosave of the parameters failed")

    def _canvas_encoded(self) -> None:
        """Write each encoding that differs from what is on disk (the picture once, the mask per stroke)."""
        for what, name in FILES.items():
            if not self.encoder.current(what):
                continue
            encoded = self.encoder.encoded(what)
            if what in self._adopt:
                self._adopt.discard(what)
                self._written[what] = encoded
                continue
            if what in self._written and self._written[what] is encoded:
                continue
            self._written[what] = encoded
            target = self.state.canvas_dir / name
            data = encoded.png if encoded is not None else None
            self._writer.start(lambda target=target, data=data: self._write(target, data))

    @staticmethod
    def _write(target: Path, data: bytes | None) -> None:
        try:
            write_png(target, data)
        except OSError:
            log.exception("autosave of %s failed", target.name)

    def save_now(self) -> None:
        """Write everything now and wait for it (closing the window)."""
        self._save_prompt()
        try:
            self.encoder.wait()
        except TimeoutError:
            log.warning("the canvas was not autosaved: encoding took too long")
        self._canvas_encoded()
        self._writer.waitForDone(30_000)

    def restore(self) -> bool:
        """Bring back the last saved parameters and canvas; False when there was nothing to restore."""
        restored = False
        if self.state.parameters is not None:  # read (and checked) when the state was opened
            self.studio.set_parameters(self.state.parameters)
            restored = True
        canvas_dir = self.state.canvas_dir
        if canvas_dir.is_dir():
            try:
                if self.canvas.restore_state(canvas_dir):
                    restored, self._adopt = True, set(FILES)
            except Exception as e:
                log.warning("autosaved canvas ignored: %s", e)
        self._prompt_dirty = False
        self._timer.stop()
        return restored
