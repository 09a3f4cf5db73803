"""Autosave of the canvas (image, mask) and the prompt panel; restored after a restart or a crash."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer

from sdstudio.core import paths
from sdstudio.core.metadata_io import atomic_write
from sdstudio.core.request import Request

log = logging.getLogger(__name__)

PROMPT_FILE = "prompt.json"
CANVAS_DIR = "canvas"


def autosave_dir() -> Path:
    return paths.data_dir() / "autosave"


def prompt_state(request: Request) -> dict[str, Any]:
    """The panel's fields as JSON (images live with the canvas, not here)."""
    data = request.to_dict(images="sha256")
    data.pop("init_image", None)
    data.pop("mask", None)
    data.pop("mode", None)
    return data


class Autosaver(QObject):
    """Saves shortly after each change (debounced) and on close; `restore()` brings the last state back."""

    def __init__(self, panel: Any, canvas: Any, folder: Path | None = None, delay_ms: int = 800):
        super().__init__(panel)
        self.panel, self.canvas = panel, canvas
        self.folder = folder or autosave_dir()
        self._canvas_dirty = False
        self._prompt_dirty = False
        self._timer = QTimer(self, singleShot=True, interval=delay_ms)
        self._timer.timeout.connect(self.save_now)
        panel.changed.connect(self._prompt_changed)
        canvas.imageChanged.connect(self._canvas_changed)
        canvas.maskChanged.connect(self._canvas_changed)

    def _prompt_changed(self) -> None:
        self._prompt_dirty = True
        self._timer.start()

    def _canvas_changed(self) -> None:
        self._canvas_dirty = True
        self._timer.start()

    def save_now(self) -> None:
        """Write what changed; failures are logged, never raised into the GUI."""
        self._timer.stop()
        try:
            if self._prompt_dirty:
                data = json.dumps(prompt_state(self.panel.request()), indent=1).encode()
                self.folder.mkdir(parents=True, exist_ok=True)
                atomic_write(self.folder / PROMPT_FILE, data)
                self._prompt_dirty = False
            if self._canvas_dirty:
                self.canvas.save_state(self.folder / CANVAS_DIR)
                self._canvas_dirty = False
        except Exception:
            log.exception("autosave failed")

    def restore(self) -> bool:
        """Bring back the last saved prompt and canvas; False when there was nothing to restore."""
        restored = False
        prompt_file = self.folder / PROMPT_FILE
        if prompt_file.exists():
            try:
                self.panel.set_request(Request.from_dict(json.loads(prompt_file.read_text("utf-8"))))
                restored = True
            except Exception as e:  # a damaged autosave is skipped, not fatal
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
