"""Autosave of the canvas (image, mask) and the studio's parameters; restored after a restart or a crash."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer

from sdstudio.core import paths, schema
from sdstudio.core.metadata_io import atomic_write
from sdstudio.core.studio import StudioModel

log = logging.getLogger(__name__)

PROMPT_FILE = "prompt.json"
CANVAS_DIR = "canvas"


def autosave_dir() -> Path:
    return paths.data_dir() / "autosave"


class Autosaver(QObject):
    """Saves shortly after each change (debounced) and on close; `restore()` brings the last state back."""

    def __init__(self, studio: StudioModel, canvas: Any, folder: Path | None = None, delay_ms: int = 800):
        super().__init__(canvas)
        self.studio, self.canvas = studio, canvas
        self.folder = folder or autosave_dir()
        self._canvas_dirty = False
        self._prompt_dirty = False
        self._timer = QTimer(self, singleShot=True, interval=delay_ms)
        self._timer.timeout.connect(self.save_now)
        studio.changed.connect(self._prompt_changed)
        canvas.imageChanged.connect(self._canvas_changed)
        canvas.maskChanged.connect(self._canvas_changed)

    def _prompt_changed(self, _name: str) -> None:
        self._prompt_dirty = True
        self._timer.start()

    def _canvas_changed(self, *_: Any) -> None:
        self._canvas_dirty = True
        self._timer.start()

    def save_now(self) -> None:
        """Write what changed; failures are logged, never raised into the GUI."""
        self._timer.stop()
        try:
            if self._prompt_dirty:
                data = schema.dumps(self.studio.parameters).encode()
                self.folder.mkdir(parents=True, exist_ok=True)
                atomic_write(self.folder / PROMPT_FILE, data)
                self._prompt_dirty = False
            if self._canvas_dirty:
                self.canvas.save_state(self.folder / CANVAS_DIR)
                self._canvas_dirty = False
        except Exception:
            log.exception("autosave failed")

    def restore(self) -> bool:
        """Bring back the last saved parameters and canvas; False when there was nothing to restore."""
        restored = False
        prompt_file = self.folder / PROMPT_FILE
        if prompt_file.exists():
            try:
                request, _ = schema.loads(prompt_file.read_bytes())
                self.studio.set_parameters(request)
                restored = True
            except (OSError, schema.SchemaError) as e:  # a damaged or newer autosave is skipped, not fatal
                log.warning("autosaved prompt ignored: %s", e)
        canvas_dir = self.folder / CANVAS_DIR
        if canvas_dir.is_dir():
            try:
                restored = bool(self.canvas.restore_state(canvas_dir)) or restored
            except Exception as e:
                log.warning("autosaved canvas ignored: %s", e)
        self._prompt_dirty = self._canvas_dirty = False
        self._timer.stop()
        return restored
