"""The generation worker: one long-lived QThread runs the shared JobQueue; its messages become Qt signals."""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtGui import QImage

from sdstudio.core.jobs import (
    JobCancelled,
    JobFailed,
    JobFinished,
    JobProgress,
    JobQueue,
    JobQueued,
    JobStarted,
    Message,
    QueueChanged,
)
from sdstudio.gui.images import pil_to_qimage

log = logging.getLogger(__name__)


class _Thread(QThread):
    """Runs `queue.run_forever(stop)`; imports the engine (torch, diffusers) here, never on the GUI thread."""

    def __init__(self, queue: JobQueue, stop: threading.Event, preload: bool):
        super().__init__()
        self.setObjectName("sdstudio-worker")
        self._queue, self._stop, self._preload = queue, stop, preload
        self.preloaded = threading.Event()

    def run(self) -> None:
        if self._preload:
            try:  # 1. warm the heavy imports while the user types the first prompt
                import sdstudio.core.engine  # noqa: F401
            except Exception:  # a broken install shows up as the first job's readable error
                log.exception("engine import failed")
        self.preloaded.set()
        self._queue.run_forever(self._stop)  # 2. the job loop, until stop()


class Worker(QObject):
    """Owns the worker thread; re-emits the queue's typed messages on the GUI thread.

    Signals: queued(job), started(job), progress(job, progress, preview QImage | None),
    finished(JobFinished), failed(job, message), cancelled(job), queueChanged(tuple of jobs).
    """

    queued = Signal(object)
    started = Signal(object)
    progress = Signal(object, object, object)
    finished = Signal(object)
    failed = Signal(object, str)
    cancelled = Signal(object)
    queueChanged = Signal(object)
    _message = Signal(object, object)  # (message, preview) crossing from the worker thread

    def __init__(self, queue: JobQueue, preload: bool = True, parent: QObject | None = None):
        super().__init__(parent)
        self.queue = queue
        self._stop = threading.Event()
        self._stopped = False
        self._thread = _Thread(queue, self._stop, preload)
        self._message.connect(self._dispatch, Qt.ConnectionType.QueuedConnection)
        self._unsubscribe = queue.subscribe(self._on_message)

    def start(self) -> None:
        """Start the thread (idempotent); a stopped worker stays stopped."""
        if not self._stopped and not self._thread.isRunning():
            self._stop.clear()
            self._thread.start()

    def stop(self, timeout_ms: int = 10_000) -> None:
        """Cancel the running job, end the loop and join the thread."""
        self._stopped = True
        self._unsubscribe()
        self._stop.set()
        if self.queue.current is not None:
            self.queue.cancel()
        if self._thread.isRunning():
            self._thread.wait(timeout_ms)

    @property
    def preloaded(self) -> threading.Event:
        """Set once the worker thread has imported the engine (torch, diffusers)."""
        return self._thread.preloaded

    def is_running(self) -> bool:
        return self._thread.isRunning()

    # -- worker thread side ----------------------------------------------------------------------
    def _on_message(self, message: Message) -> None:
        preview = None
        if isinstance(message, JobProgress) and message.progress.preview is not None:
            preview = pil_to_qimage(message.progress.preview)  # converted here, off the GUI thread
        self._message.emit(message, preview)

    # -- GUI thread side -------------------------------------------------------------------------
    @Slot(object, object)
    def _dispatch(self, message: Message, preview: QImage | None) -> None:
        if isinstance(message, JobProgress):
            self.progress.emit(message.job, message.progress, preview)
        elif isinstance(message, JobQueued):
            self.queued.emit(message.job)
        elif isinstance(message, JobStarted):
            self.started.emit(message.job)
        elif isinstance(message, JobFinished):
            self.finished.emit(message)
        elif isinstance(message, JobFailed):
            self.failed.emit(message.job, message.message)
        elif isinstance(message, JobCancelled):
            self.cancelled.emit(message.job)
        elif isinstance(message, QueueChanged):
            self.queueChanged.emit(message.jobs)
