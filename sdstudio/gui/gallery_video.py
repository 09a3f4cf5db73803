"""A finished animation from the gallery, playing: its frames from the project folder (else decoded from the
video file: Pillow for GIF/WebP, PyAV for MP4) on a timer at its frame rate, with its settings beside it.
QtMultimedia is not needed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from sdstudio.core.gallery.videos import decode_frames, frame_files, poster, project_settings
from sdstudio.gui.images import pil_to_qimage

if TYPE_CHECKING:
    from sdstudio.gui.gallery_panel import GalleryPanel


def still_of(record: Any) -> Path:
    """The picture of a record: the file itself, or a video's middle frame."""
    if record.kind == "video":
        project = Path(record.project) if record.project else None
        return poster(Path(record.path), project) or Path(record.path)
    return Path(record.path)


def settings_text(record: Any) -> str:
    """The animation's settings in a few lines (prompt keyframes, frames, rate, seed, size, model)."""
    if not record.project:
        return f"{Path(record.path).name}: its project folder is unknown; only the video plays"
    try:
        s = project_settings(Path(record.project))
    except ValueError as e:
        return f"{Path(record.path).name}: {e}"
    prompts = "\n".join(f"{k}: {v}" for k, v in s.prompts.items())
    return (
        f"{prompts}\n{s.max_frames} frames at {s.fps:g} fps, cadence {s.diffusion_cadence}, seed {s.seed}, "
        f"{s.W}×{s.H}, {s.steps} steps, {s.sampler}, zoom {s.zoom}, strength {s.strength_schedule}"
        + (f", model {s.model}" if s.model else "")
        + f"\nProject: {record.project}"
    )


class VideoPlayer(QDialog):
    """Plays one gallery video on a loop; Space pauses, the slider scrubs; Reuse loads its settings back."""

    def __init__(self, panel: GalleryPanel, record: Any, parent: QWidget | None = None):
        super().__init__(parent or panel)
        self.panel, self.record = panel, record
        self.setWindowTitle(f"sdstudio: {Path(record.path).name}")
        self.picture = QLabel()
        self.picture.setObjectName("videoFrame")
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.picture.setMinimumSize(64, 64)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.position = QLabel()
        self.play_button = QPushButton("Pause")
        self.reuse = QPushButton("Reuse parameters")
        self.reuse.setToolTip("load the animation's settings into the Animation panel")
        self.info = QLabel(settings_text(record))
        self.info.setObjectName("parameters")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for b in (self.play_button, self.reuse):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space stays with the dialog
        row = QHBoxLayout()
        row.addWidget(self.play_button)
        row.addWidget(self.slider, 1)
        row.addWidget(self.position)
        row.addWidget(self.reuse)
        lay = QVBoxLayout(self)
        lay.addWidget(self.picture, 1)
        lay.addLayout(row)
        lay.addWidget(self.info)
        self.timer = QTimer(self)
        self.timer.timeout.connect(lambda: self.show_frame((self.index + 1) % max(1, self.count)))
        self.play_button.clicked.connect(self.toggle)
        self.slider.valueChanged.connect(self._scrubbed)
        self.reuse.clicked.connect(self._reuse)
        self.index, self.shown = -1, 0  # the frame on screen; how many frames were shown (tests)
        self._files, self._decoded, fps = self._load()
        self.count = len(self._files) or len(self._decoded)
        self.slider.setRange(0, max(0, self.count - 1))
        self.resize(720, 760)
        if self.count:
            self.show_frame(0)
            self.timer.start(max(10, round(1000 / fps)))
        else:
            self.picture.setText("The video cannot be played: its frames and its file are gone")

    def _load(self) -> tuple[list[Path], list[QPixmap], float]:
        """The frames as files (the project's) or decoded pictures, and the frame rate."""
        project = Path(self.record.project) if self.record.project else None
        files = frame_files(project) if project is not None else []
        try:
            settings = project_settings(project) if project is not None else None
        except ValueError:
            settings = None
        # the rendered frames, unless the video holds in-betweens they lack
        interpolated = settings is not None and settings.frame_interpolation > 1
        if files and not (interpolated and Path(self.record.path).is_file()):
            return files, [], settings.fps if settings is not None else 15.0
        try:
            frames, fps = decode_frames(Path(self.record.path))
        except (OSError, ValueError) as e:
            self.info.setText(f"{self.info.text()}\n{e}")
            return files, [], settings.fps if settings is not None else 15.0  # the frames, if any
        return [], [QPixmap.fromImage(pil_to_qimage(f)) for f in frames], fps

    def frame(self, i: int) -> QPixmap:
        return QPixmap(str(self._files[i])) if self._files else self._decoded[i]

    def show_frame(self, i: int) -> None:
        if not self.count:
            return
        self.index = i
        self.shown += 1
        self.slider.blockSignals(True)
        self.slider.setValue(i)
        self.slider.blockSignals(False)
        self.position.setText(f"{i + 1}/{self.count}")
        self._fit(self.frame(i))

    def playing(self) -> bool:
        return self.timer.isActive()

    def toggle(self) -> None:
        if self.playing():
            self.timer.stop()
        elif self.count:
            self.timer.start()
        self.play_button.setText("Pause" if self.playing() else "Play")

    def _scrubbed(self, value: int) -> None:
        if self.playing():
            self.toggle()
        self.show_frame(value)

    def _reuse(self) -> None:
        self.panel.reuse_record(self.record)

    def _fit(self, pixmap: QPixmap) -> None:
        size = self.picture.size()
        self.picture.setPixmap(
            pixmap.scaled(size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
        )

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        if self.count and self.index >= 0:
            self._fit(self.frame(self.index))

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        if event.key() == Qt.Key.Key_Space:
            self.toggle()
        else:
            super().keyPressEvent(event)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        self.timer.stop()
        super().closeEvent(event)
