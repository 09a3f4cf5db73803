"""The Animation panel: Deforum 2D settings, each schedule as editable keyframes with its curve plotted over
the frames, prompt keyframes on a timeline, Render on the shared queue, and a preview that plays the frames
as they render and the finished animation after."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from sdstudio.core.animation.job import animation_task, describe
from sdstudio.core.animation.project import Project, project_for
from sdstudio.core.animation.schedule import ScheduleError, parse_schedule
from sdstudio.core.animation.settings import AnimationSettings, read_settings
from sdstudio.core.jobs import Job, JobCancelled, JobFailed, JobQueue, Message
from sdstudio.gui.animation_keyframes import KeyframeEditor, schedule_rows, schedule_text
from sdstudio.gui.animation_library import AnimationLibrary
from sdstudio.gui.animation_plot import CurvePlot, PromptTimeline
from sdstudio.gui.images import pil_to_qimage

SCHEDULES = (
    ("zoom", "Zoom"),
    ("angle", "Angle (°)"),
    ("translation_x", "Translation X (px)"),
    ("translation_y", "Translation Y (px)"),
    ("transform_center_x", "Transform centre X"),
    ("transform_center_y", "Transform centre Y"),
    ("strength_schedule", "Strength (kept)"),
    ("noise_schedule", "Noise"),
    ("contrast_schedule", "Contrast"),
    ("cfg_scale_schedule", "CFG scale"),
)
# (settings field, label, minimum, maximum) of the plain number fields
NUMBERS = (
    ("max_frames", "Frames", 1, 100_000),
    ("diffusion_cadence", "Cadence", 1, 50),
    ("W", "Width", 64, 4096),
    ("H", "Height", 64, 4096),
    ("steps", "Steps", 1, 150),
    ("seed", "Seed (-1 random)", -1, 2**31 - 1),
)


class _Bridge(QObject):
    """Carries the worker thread's callbacks to the GUI thread."""

    progress = Signal(object)
    done = Signal(object, object)
    ended = Signal(str)


class AnimationPanel(QWidget):
    message = Signal(str)

    def __init__(self, queue: JobQueue, model: Callable[[], str] = lambda: "", outputs: Path | None = None):
        super().__init__()
        self.queue, self.model, self.outputs = queue, model, outputs or Path.home()
        self.base = AnimationSettings(prompts={"0": "a lighthouse on a cliff, stormy sea --neg blurry"})
        self.job: Job | None = None
        self.project: Project | None = None
        self.bridge = _Bridge(self)
        self._build()
        self.bridge.progress.connect(self._on_progress)
        self.bridge.done.connect(self._on_done)
        self.bridge.ended.connect(self._on_ended)
        self._unsubscribe = queue.subscribe(self._on_message)
        self.destroyed.connect(lambda *_: self._unsubscribe())
        self.player = QTimer(self)
        self.player.timeout.connect(self._next_frame)
        self._frames: list[Path] = []
        self._play_index = 0
        self.load(self.base)

    # -- building --------------------------------------------------------------------------------
    def _build(self) -> None:
        form = QFormLayout()
        self.numbers: dict[str, QSpinBox] = {}
        for name, label, lo, hi in NUMBERS:
            box = QSpinBox()
            box.setRange(lo, hi)
            if name in ("W", "H"):
                box.setSingleStep(8)
            self.numbers[name] = box
            form.addRow(label, box)
        self.fps = QDoubleSpinBox()
        self.fps.setRange(0.5, 240)
        form.addRow("Frames per second", self.fps)
        self.interpolation = QComboBox()
        self.interpolation.setToolTip(
            "in-betweens made by optical flow in the video (the frames stay as rendered)"
        )
        for label, factor in (("Off", 1), ("x2 (optical flow)", 2), ("x3 (optical flow)", 3)):
            self.interpolation.addItem(label, factor)
        form.addRow("Frame interpolation", self.interpolation)
        self.coherence = QComboBox()
        self.coherence.addItems(["None", "RGB", "HSV", "LAB"])
        form.addRow("Colour coherence", self.coherence)
        self.border = QComboBox()
        self.border.addItems(["replicate", "wrap"])
        form.addRow("Border", self.border)
        self.numbers["max_frames"].valueChanged.connect(self._refresh_views)
        # schedules: pick one, edit its keyframes, see its curve
        self.schedule_choice = QComboBox()
        for name, label in SCHEDULES:
            self.schedule_choice.addItem(label, name)
        self.schedule_editor = KeyframeEditor("Value (number or expression of t, max_f)")
        self.plot = CurvePlot()
        self.schedules: dict[str, str] = {}
        self.schedule_choice.currentIndexChanged.connect(self._show_schedule)
        self.schedule_editor.changed.connect(self._schedule_edited)
        sched_box = QGroupBox("Schedules")
        sched = QVBoxLayout(sched_box)
        sched.addWidget(self.schedule_choice)
        sched.addWidget(self.plot)
        sched.addWidget(self.schedule_editor)
        # prompts on a timeline
        self.timeline = PromptTimeline()
        self.prompt_editor = KeyframeEditor("Prompt (--neg starts the negative)")
        self.prompt_editor.changed.connect(self._refresh_views)
        self.timeline.keyframeClicked.connect(self.prompt_editor.select_row)
        prompt_box = QGroupBox("Prompts")
        prompts = QVBoxLayout(prompt_box)
        prompts.addWidget(self.timeline)
        prompts.addWidget(self.prompt_editor)
        # render, progress, preview
        self.output = QLineEdit()
        self.output.setPlaceholderText("video file: .mp4, .gif or .webp")
        self.render_button = QPushButton("Render")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.load_button = QPushButton("Load settings…")
        self.save_button = QPushButton("Save settings…")
        self.progress = QProgressBar()
        self.eta = QLabel("")
        self.error = QLabel("")
        self.error.setStyleSheet("color: #c62828")
        self.error.setWordWrap(True)
        self.preview = QLabel("The frames appear here as they render.")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumHeight(160)
        self.render_button.clicked.connect(self.render)
        self.cancel_button.clicked.connect(self.cancel)
        self.load_button.clicked.connect(self._ask_load)
        self.save_button.clicked.connect(self._ask_save)
        row = QHBoxLayout()
        for b in (self.render_button, self.cancel_button, self.load_button, self.save_button):
            row.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(sched_box)
        layout.addWidget(prompt_box)
        layout.addWidget(self.output)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        layout.addWidget(self.eta)
        layout.addWidget(self.error)
        layout.addWidget(self.preview)
        self.finished_list = AnimationLibrary(self.outputs / "animations")
        self.finished_list.playRequested.connect(self.play)
        self.finished_list.reuseRequested.connect(self.load_file)
        done_box = QGroupBox("Finished animations")
        QVBoxLayout(done_box).addWidget(self.finished_list)
        layout.addWidget(done_box)

    # -- settings <-> widgets --------------------------------------------------------------------
    def load(self, settings: AnimationSettings) -> None:
        """Show `settings` (a loaded file, a project's, Reuse)."""
        self.base = settings
        for name, box in self.numbers.items():
            box.blockSignals(True)
            box.setValue(int(getattr(settings, name)))
            box.blockSignals(False)
        self.fps.setValue(settings.fps)
        found = self.interpolation.findData(settings.frame_interpolation)
        if found < 0:  # a file's x4..x10
            self.interpolation.addItem(f"x{settings.frame_interpolation}", settings.frame_interpolation)
            found = self.interpolation.count() - 1
        self.interpolation.setCurrentIndex(found)
        self.coherence.setCurrentText(settings.color_coherence)
        self.border.setCurrentText(settings.border)
        self.schedules = {name: getattr(settings, name) for name, _ in SCHEDULES}
        self.prompt_editor.set_rows([(k, v) for k, v in settings.prompts.items()])
        self._show_schedule()

    def settings(self) -> AnimationSettings:
        """The settings as the widgets show them (other fields as loaded)."""
        changes: dict[str, Any] = {name: box.value() for name, box in self.numbers.items()}
        changes |= dict(self.schedules)
        changes |= {"fps": self.fps.value(), "color_coherence": self.coherence.currentText()}
        changes |= {
            "border": self.border.currentText(),
            "frame_interpolation": self.interpolation.currentData(),
        }
        changes["prompts"] = {k: v for k, v in self.prompt_editor.rows() if k}
        return self.base.replace(**changes)

    def _show_schedule(self) -> None:
        name = self.schedule_choice.currentData()
        self.schedule_editor.set_rows(schedule_rows(self.schedules.get(name, "")))
        self._refresh_views()

    def _schedule_edited(self) -> None:
        self.schedules[self.schedule_choice.currentData()] = schedule_text(self.schedule_editor.rows())
        self._refresh_views()

    def _refresh_views(self) -> None:
        """Re-plot the chosen curve and the prompt timeline; a bad keyframe shows its message instead."""
        frames = self.numbers["max_frames"].value()
        name = self.schedule_choice.currentData()
        try:
            schedule = parse_schedule(name, self.schedules.get(name, ""), frames)
            self.plot.set_curve(schedule.values(frames), [k.frame for k in schedule.keyframes])
        except ScheduleError as e:
            self.plot.set_error(str(e))
        marks = [(int(k), v) for k, v in self.prompt_editor.rows() if k.strip().lstrip("-").isdigit()]
        self.timeline.set_keyframes(frames, sorted(marks))

    # -- files -----------------------------------------------------------------------------------
    def _ask_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load animation settings", "", "Settings (*.txt *.json)")
        if path:
            self.load_file(Path(path))

    def load_file(self, path: Path) -> None:
        """A Deforum settings .txt, ours, or a project folder's settings (Reuse)."""
        try:
            loaded = read_settings(path / "settings.txt" if path.is_dir() else path)
        except ValueError as e:
            self.error.setText(str(e))
            return
        self.load(loaded.settings)
        self.error.setText("; ".join(loaded.notes))

    def _ask_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save animation settings", "animation.txt", "Settings (*.txt)"
        )
        if path:
            Path(path).write_text(self.settings().to_json(), encoding="utf-8")

    # -- rendering -------------------------------------------------------------------------------
    def render(self) -> None:
        """Check the settings, then queue the animation; its frames play in the preview as they come."""
        self.error.setText("")
        try:
            settings = self.settings().replace(model=self.model()).validate()
        except ValueError as e:
            self.error.setText(str(e))
            return
        text = self.output.text().strip()
        out = (
            Path(text).expanduser()
            if text
            else self.outputs / "animations" / time.strftime("anim-%Y%m%d-%H%M%S.mp4")
        )
        self.project = Project(project_for(out))
        task = animation_task(
            settings,
            self.project.root,
            out,
            on_animation=self.bridge.progress.emit,
            on_done=self.bridge.done.emit,
            gallery=self.queue.store,
        )
        try:
            self.job = self.queue.submit(describe(settings), source="gui", task=task)
        except ValueError as e:
            self.error.setText(str(e))
            return
        self.player.stop()
        self.progress.setValue(0)
        self.render_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.message.emit(f"Animation queued: {settings.max_frames} frames to {out}")

    def cancel(self) -> None:
        if self.job is not None:
            self.queue.cancel(self.job.id)

    def _on_message(self, message: Message) -> None:  # worker thread
        job = self.job
        if job is None or not isinstance(message, (JobFailed, JobCancelled)) or message.job.id != job.id:
            return
        done = self.project.finished() if self.project is not None else 0
        text = message.message if isinstance(message, JobFailed) else "Cancelled"
        self.bridge.ended.emit(f"{text}; {done} frame(s) kept in {self.project.root if self.project else ''}")

    def _on_progress(self, p: Any) -> None:
        self.progress.setValue(int(1000 * p.fraction))
        self.progress.setMaximum(1000)
        self.eta.setText(f"Frame {p.done}/{p.total}" + (f", about {p.eta:.0f} s left" if p.done else ""))
        if p.frame is not None:
            self._show(QPixmap.fromImage(pil_to_qimage(p.frame)))
            self.plot.set_playhead(p.done - 1)
            self.timeline.set_playhead(p.done - 1)

    def _on_done(self, result: Any, video: Any) -> None:
        self._finish()
        self.eta.setText(f"Done: {result.frames} frames, seed {result.seed} → {video}")
        self.message.emit(f"Animation saved: {video}")
        self.finished_list.refresh()
        self.play(result.project)

    def play(self, project: Project) -> None:
        """Play a project's frames on a loop in the preview, at its frame rate."""
        saved = project.saved_settings()
        self._frames = project.frame_paths()
        self._play_index = -1
        if self._frames:
            self._next_frame()
            self.player.start(max(10, int(1000 / (saved.fps if saved else 15))))

    def _on_ended(self, text: str) -> None:
        self._finish()
        self.error.setText(text)

    def _finish(self) -> None:
        self.job = None
        self.render_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _next_frame(self) -> None:
        """The finished animation plays on a loop in the preview."""
        if not self._frames:
            self.player.stop()
            return
        self._play_index = (self._play_index + 1) % len(self._frames)
        self._show(QPixmap(str(self._frames[self._play_index])))
        self.plot.set_playhead(self._play_index)
        self.timeline.set_playhead(self._play_index)

    def _show(self, pixmap: QPixmap) -> None:
        side = max(64, min(self.preview.width(), 512))
        self.preview.setPixmap(pixmap.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio))
