"""One row of the download queue: what is being installed, a progress bar (bytes, speed, time left), Pause/Resume
and Cancel."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from sdstudio.core.install.layout import human_size
from sdstudio.core.install.queue import Job, State


def describe(job: Job) -> str:
    """The row's detail line: bytes of total, speed, time left; or the job's message."""
    p = job.progress
    if job.state in (State.downloading,) and p is not None:
        parts = [f"{human_size(p.done)} of {human_size(p.total)}"]
        if p.speed:
            parts.append(f"{human_size(p.speed)}/s")
        if p.eta is not None:
            parts.append(f"{int(p.eta // 60)}:{int(p.eta % 60):02d} left")
        if p.count > 1:
            parts.insert(0, f"file {p.index} of {p.count}: {p.name}")
        return " · ".join(parts)
    return job.message or job.state.value


class DownloadRow(QWidget):
    def __init__(
        self, job: Job, pause: Callable[[], None], resume: Callable[[], None], cancel: Callable[[], None]
    ):
        super().__init__()
        self.job = job
        self._pause, self._resume = pause, resume
        self.title = QLabel(job.title)
        self.title.setStyleSheet("font-weight: bold")
        self.state = QLabel(job.state.value)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.pause_button = QPushButton("Pause")
        self.pause_button.clicked.connect(self._toggle)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(lambda: cancel())
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.state)
        top.addWidget(self.pause_button)
        top.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.bar)
        layout.addWidget(self.detail)
        self.update_job(job)

    def _toggle(self) -> None:
        if self.job.state in (State.paused, State.failed):
            self._resume()
        else:
            self._pause()

    def update_job(self, job: Job) -> None:
        self.job = job
        self.title.setText(job.title)
        self.state.setText(job.state.value)
        p = job.progress
        if job.state is State.done:
            self.bar.setValue(1000)
        elif p is not None and p.total:
            self.bar.setValue(int(1000 * min(1.0, p.done / p.total)))
        self.bar.setFormat("%p%" if p is not None and p.total else job.state.value)
        self.detail.setText(describe(job))
        self.detail.setStyleSheet("color: #c33" if job.state is State.failed else "")
        self.pause_button.setText({State.paused: "Resume", State.failed: "Retry"}.get(job.state, "Pause"))
        self.pause_button.setEnabled(not job.state.finished or job.state is State.failed)
        self.cancel_button.setEnabled(not job.state.finished or job.state is State.failed)
