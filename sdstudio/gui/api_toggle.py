"""The "Serve API" toggle: the AUTOMATIC1111-compatible API served from the running studio, over its queue."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction

if TYPE_CHECKING:
    from sdstudio.api.server import ApiServer
    from sdstudio.core.jobs import JobQueue
    from sdstudio.core.protocols import Library


class ApiToggle(QObject):
    """A checkable action; checked = serving on this machine's port. API jobs enter the window's own queue."""

    message = Signal(str, bool)  # text, is_error
    host = "127.0.0.1"  # the window serves this machine only (`sdstudio serve` exposes it, with auth)

    def __init__(self, queue: JobQueue, library: Library, port: int = 7860, parent: QObject | None = None):
        super().__init__(parent)
        self.queue, self.library, self.port = queue, library, port
        self.server: ApiServer | None = None
        self.action = QAction(f"Serve &API on {self.host}:{port}", parent)
        self.action.setCheckable(True)
        self.action.toggled.connect(self._toggle)

    def _toggle(self, on: bool) -> None:
        if on:
            self.start()
        else:
            self.stop()

    def start(self) -> bool:
        from sdstudio.api.server import ApiServer

        if self.server is not None:
            return True
        try:
            server = ApiServer(self.queue, self.library, host=self.host, port=self.port)
            server.start()
        except (OSError, ValueError) as e:  # port in use; credentials refused
            self.action.blockSignals(True)
            self.action.setChecked(False)
            self.action.blockSignals(False)
            self.message.emit(f"The API could not start: {e}", True)
            return False
        self.server = server
        self.action.setChecked(True)
        self.message.emit(f"Serving the AUTOMATIC1111-compatible API at {server.url} (docs at /docs).", False)
        return True

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
            self.message.emit("The API is stopped.", False)
        self.action.setChecked(False)
