"""Train a LoRA: dataset folder and its preview, the options, progress with loss and ETA, a live loss plot.

The run is a job of the studio's one queue (the generation model is released while it trains); its step reports
cross into the GUI thread through a queued signal. Sample pictures go to the gallery as they are made, each
recording the run and step ("trained LoRA name step 400"). The finished LoRA lands in sdstudio's LoRA folder,
so `<lora:name:1>` works at once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from sdstudio.core.request import RequestError
from sdstudio.core.training.config import TrainConfig, TrainProgress

Submit = Callable[[Any, Any], Any]  # (task, describing request) -> the queued Job


class LossPlot(QWidget):
    """Every step's loss as a thin line, with its running mean over 20 steps on top."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.losses: list[float] = []
        self.setMinimumHeight(120)

    def add(self, loss: float) -> None:
        self.losses.append(loss)
        self.update()

    def clear(self) -> None:
        self.losses.clear()
        self.update()

    def paintEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().base())
        if len(self.losses) < 2:
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "the loss appears here as it trains")
            return
        lo, hi = min(self.losses), max(self.losses)
        span = (hi - lo) or 1.0
        w, h, n = self.width() - 8, self.height() - 8, len(self.losses)

        def point(i: int, v: float) -> QPointF:
            return QPointF(4 + w * i / (n - 1), 4 + h * (1 - (v - lo) / span))

        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(QColor(120, 160, 220), 1))
        p.drawPolyline(QPolygonF([point(i, v) for i, v in enumerate(self.losses)]))
        means = [
            sum(self.losses[max(0, i - 19) : i + 1]) / len(self.losses[max(0, i - 19) : i + 1])
            for i in range(n)
        ]
        p.setPen(QPen(QColor(230, 120, 40), 2))
        p.drawPolyline(QPolygonF([point(i, v) for i, v in enumerate(means)]))
        p.setPen(self.palette().text().color())
        p.drawText(6, 14, f"loss {self.losses[-1]:.4f}  (min {lo:.4f})")


class _Bridge(QObject):
    step = Signal(object)
    saved = Signal(object)  # the gallery records of sample pictures


class TrainingWindow(QWidget):
    """The training panel; `submit(task, request)` queues a run on the studio's job queue; sample pictures
    go to `gallery` (the studio's store) during the run."""

    samplesSaved = Signal(object)  # records of sample pictures just added to the gallery

    def __init__(
        self,
        library: Any,
        submit: Submit,
        lora_folder: Path,
        parent: QWidget | None = None,
        gallery: Any = None,
    ):
        super().__init__(parent, Qt.WindowType.Window)
        self.gallery = gallery
        self.setWindowTitle("Train a LoRA")
        self.setObjectName("sdstudioTrainingWindow")
        self.library, self.submit, self.lora_folder = library, submit, Path(lora_folder)
        self.job: Any = None
        self._bridge = _Bridge(self)
        self._bridge.step.connect(self._on_step, Qt.ConnectionType.QueuedConnection)
        self._bridge.saved.connect(self.samplesSaved.emit, Qt.ConnectionType.QueuedConnection)
        # 1. the fields (kohya's options under the names the CLI uses)
        self.dataset = QLineEdit(
            placeholderText="a folder of pictures (same-name .txt captions, N_concept folders)"
        )
        browse = QPushButton("Browse…", clicked=self._browse)
        self.model = QComboBox()
        for entry in library.entries():
            self.model.addItem(entry.name, entry.name if entry.source.value == "demo" else entry.location)
        self.name = QLineEdit(placeholderText="the LoRA's name, written <lora:name:1>")
        self.trigger = QLineEdit(placeholderText="trigger word added to every caption")
        self.steps = _spin(1, 100_000, 800)
        self.rank = _spin(1, 256, 16)
        self.alpha = _spin(1, 256, 8)
        self.lr = QDoubleSpinBox(decimals=6, minimum=1e-6, maximum=1.0, value=1e-4, singleStep=1e-5)
        self.resolution = _spin(64, 2048, 512, step=64)
        self.batch = _spin(1, 64, 1)
        self.text_encoder = QCheckBox("Train the text encoder too")
        self.locon = QCheckBox("LoCon (also the convolutions)")
        self.sample_prompt = QLineEdit(placeholderText="sample prompt (optional)")
        self.sample_every = _spin(0, 100_000, 0)
        form = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.dataset, 1)
        row.addWidget(browse)
        form.addRow("Pictures", row)
        for label, widget in (
            ("Base model", self.model), ("Name", self.name), ("Trigger", self.trigger), ("Steps", self.steps),
            ("Rank", self.rank), ("Alpha", self.alpha), ("Learning rate", self.lr),
            ("Resolution", self.resolution), ("Batch", self.batch), ("", self.text_encoder), ("", self.locon),
            ("Sample prompt", self.sample_prompt), ("Sample every", self.sample_every),
        ):  # fmt: skip
            form.addRow(label, widget)
        # 2. preview, progress, plot, buttons
        self.preview = QPlainTextEdit(
            readOnly=True, placeholderText="Preview lists the pictures and captions"
        )
        self.progress = QProgressBar()
        self.status = QLabel("")
        self.plot = LossPlot()
        self.preview_button = QPushButton("Preview", clicked=self.show_preview)
        self.start_button = QPushButton("Train", clicked=lambda: self.start(resume=False))
        self.resume_button = QPushButton("Resume", clicked=lambda: self.start(resume=True))
        self.cancel_button = QPushButton("Cancel", clicked=self.cancel, enabled=False)
        buttons = QHBoxLayout()
        for b in (self.preview_button, self.start_button, self.resume_button, self.cancel_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(buttons)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Pictures to train on", self.dataset.text())
        if folder:
            self.dataset.setText(folder)
            if not self.name.text().strip():
                self.name.setText(Path(folder).name)

    # -- the run -----------------------------------------------------------------------------------
    def config(self) -> TrainConfig:
        name = self.name.text().strip() or Path(self.dataset.text().strip() or "lora").name
        prompts = (self.sample_prompt.text().strip(),) if self.sample_prompt.text().strip() else ()
        return TrainConfig(
            dataset=Path(self.dataset.text().strip()).expanduser(), model=str(self.model.currentData() or ""),
            output=self.lora_folder / f"{name}.safetensors", steps=self.steps.value(), rank=self.rank.value(),
            alpha=float(self.alpha.value()), lr=self.lr.value(), resolution=self.resolution.value(),
            batch=self.batch.value(), train_text_encoder=self.text_encoder.isChecked(), locon=self.locon.isChecked(),
            trigger=self.trigger.text().strip(), sample_prompts=prompts,
            sample_every=self.sample_every.value() if prompts else 0,
        ).validate()  # fmt: skip

    def show_preview(self) -> bool:
        from sdstudio.core.training import preview, scan_dataset

        try:
            config = self.config()
            data = scan_dataset(config.dataset, config.trigger, config.caption_template)
        except RequestError as e:
            self.status.setText(str(e))
            return False
        lines = preview(data, config.resolution)
        self.preview.setPlainText("\n".join(lines))
        skipped = f", {len(data.skipped)} skipped" if data.skipped else ""
        self.status.setText(f"{len(data.items)} pictures{skipped}; {data.epoch_length} per epoch")
        return True

    def start(self, resume: bool) -> None:
        from sdstudio.core.training.task import describe, training_task

        if not self.show_preview():
            return
        config = self.config()
        if resume and not (config.state_dir / "checkpoint.pt").is_file():
            self.status.setText(f"nothing to resume for {config.output.stem}: train it first")
            return
        self.plot.clear()
        self.progress.setRange(0, config.steps)
        self.progress.setValue(0)
        task = training_task(
            config,
            self.library,
            on_train=self._bridge.step.emit,
            resume=resume,
            gallery=self.gallery,
            on_saved=self._bridge.saved.emit,
        )
        self.job = self.submit(task, describe(config))
        self._running(True)
        self.status.setText(f"queued: {config.output.name}")

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel.set()
            self.status.setText("cancelling: a checkpoint is kept, Resume continues")

    def finished(self, ok: bool, message: str = "") -> None:
        """The job ended (the window's worker tells); `message` says why when it did not finish."""
        self._running(False)
        self.job = None
        if ok:
            if hasattr(self.library, "loras"):
                self.library.loras.refresh()  # the picker and <lora:name> see the new file at once
            self.progress.setValue(self.progress.maximum())
            self.status.setText(f"done: <lora:{self.config().output.stem}:1> is ready in the LoRA picker")
        else:
            self.status.setText(message)

    def _running(self, running: bool) -> None:
        for b in (self.preview_button, self.start_button, self.resume_button):
            b.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def _on_step(self, p: TrainProgress) -> None:
        if p.phase != "training":
            self.status.setText(f"{p.phase} {p.step}/{p.total}")
            return
        self.plot.add(p.loss)
        self.progress.setValue(p.step)
        eta = f"{int(p.eta // 60)}m{int(p.eta % 60):02d}s"
        self.status.setText(f"step {p.step}/{p.total}, loss {p.loss:.4f}, ETA {eta}")


def _spin(lo: int, hi: int, value: int, step: int = 1) -> QSpinBox:
    box = QSpinBox(minimum=lo, maximum=hi, singleStep=step)
    box.setValue(value)
    return box


def connect_worker(panel: TrainingWindow, worker: Any, on_done: Callable[[], None] | None = None) -> None:
    """Tell the panel when its job ends, from the worker's signals."""

    def ended(job: Any, ok: bool, message: str = "") -> None:
        if panel.job is not None and job.id == panel.job.id:
            panel.finished(ok, message)
            if ok and on_done is not None:
                on_done()

    worker.finished.connect(lambda msg: ended(msg.job, True))
    worker.failed.connect(lambda job, message: ended(job, False, message))
    worker.cancelled.connect(lambda job: ended(job, False, "cancelled: Resume continues from the checkpoint"))


def open_training_window(window: Any) -> TrainingWindow:
    """The studio's training window (one per studio), running its jobs on the studio's queue."""
    existing = getattr(window, "training_window", None)
    if existing is None:
        queue = window.worker.queue
        existing = TrainingWindow(
            window.library,
            lambda task, request: queue.submit(request, source="gui", task=task),
            window.library.settings.library_path() / "models" / "Lora",
            window,
            gallery=window.store,
        )
        existing.samplesSaved.connect(lambda _records: window.gallery.refresh())
        connect_worker(existing, window.worker)
        window.training_window = existing
    existing.show()
    existing.raise_()
    existing.activateWindow()
    return existing
