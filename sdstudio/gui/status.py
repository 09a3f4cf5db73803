"""Status bar: step x/y, it/s, ETA, and one readable message line."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QWidget

from sdstudio.core.request import Progress


def format_eta(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


class StatusBar(QStatusBar):
    """Progress figures of the running job on the right, messages (errors included) on the left."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.message = QLabel("Ready")
        self.message.setObjectName("statusMessage")
        self.showing_error = False
        self.step = QLabel("")
        self.step.setObjectName("statusStep")
        self.speed = QLabel("")
        self.speed.setObjectName("statusSpeed")
        self.eta = QLabel("")
        self.eta.setObjectName("statusEta")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setMaximumWidth(180)
        self.bar.setTextVisible(False)
        self.bar.hide()
        self.addWidget(self.message, 1)
        for w in (self.step, self.speed, self.eta, self.bar):
            self.addPermanentWidget(w)

    def show_message(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #d33; font-weight: bold;" if error else "")
        self.showing_error = error

    def clear_error(self) -> None:
        """The error was dealt with (the field corrected): it leaves the status bar."""
        if self.showing_error:
            self.show_message("Ready")

    def show_progress(self, p: Progress) -> None:
        batch = f" (batch {p.batch_index + 1}/{p.batch_count})" if p.batch_count > 1 else ""
        self.step.setText(f"Step {p.step}/{p.total}{batch}")
        self.speed.setText(f"{p.step / p.elapsed:.2f} it/s" if p.elapsed > 0 else "")
        self.eta.setText(f"ETA {format_eta(p.eta)}")
        self.bar.setValue(int(p.fraction * 1000))
        self.bar.show()

    def clear_progress(self) -> None:
        for w in (self.step, self.speed, self.eta):
            w.clear()
        self.bar.hide()
