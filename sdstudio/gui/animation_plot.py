"""Pictures of an animation's timing: a schedule's curve over the frames, and the prompt keyframes on a
timeline; both with a playhead at the frame shown in the preview. Painted with QPainter."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 44, 10, 8, 18


def _nice(value: float) -> str:
    return f"{value:.4g}"


class CurvePlot(QWidget):
    """One value per frame as a line, keyframes as dots, the axis range labelled; an error replaces it."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.values: list[float] = []
        self.keyframes: list[int] = []
        self.error = ""
        self.playhead: int | None = None
        self.setMinimumHeight(120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def sizeHint(self) -> QSize:
        return QSize(320, 150)

    def set_curve(self, values: Sequence[float], keyframes: Sequence[int]) -> None:
        self.values, self.keyframes, self.error = [float(v) for v in values], list(keyframes), ""
        self.update()

    def set_error(self, message: str) -> None:
        self.values, self.keyframes, self.error = [], [], message
        self.update()

    def set_playhead(self, frame: int | None) -> None:
        self.playhead = frame
        self.update()

    def plot_rect(self) -> QRectF:
        return QRectF(self.rect()).adjusted(MARGIN_LEFT, MARGIN_TOP, -MARGIN_RIGHT, -MARGIN_BOTTOM)

    def point(self, frame: int, value: float) -> QPointF:
        """Where (frame, value) is drawn."""
        r = self.plot_rect()
        lo, hi = self.value_range()
        x = r.left() + r.width() * frame / max(1, len(self.values) - 1)
        y = r.bottom() - r.height() * (value - lo) / (hi - lo)
        return QPointF(x, y)

    def value_range(self) -> tuple[float, float]:
        lo, hi = min(self.values, default=0.0), max(self.values, default=1.0)
        if hi - lo < 1e-9:
            lo, hi = (
                lo - 0.5 if lo == 0 else lo - abs(lo) * 0.05,
                hi + 0.5 if hi == 0 else hi + abs(hi) * 0.05,
            )
        return lo, hi

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), self.palette().base())
        r = self.plot_rect()
        text = self.palette().text().color()
        if self.error:
            p.setPen(QColor(200, 40, 40))
            p.drawText(self.rect().adjusted(8, 8, -8, -8), Qt.TextFlag.TextWordWrap, self.error)
            return
        if not self.values:
            return
        # 1. axes and their labels
        p.setPen(QPen(QColor(128, 128, 128), 1))
        p.drawRect(r)
        lo, hi = self.value_range()
        p.setPen(text)
        p.drawText(QRectF(0, r.top() - 6, MARGIN_LEFT - 4, 14), Qt.AlignmentFlag.AlignRight, _nice(hi))
        p.drawText(QRectF(0, r.bottom() - 8, MARGIN_LEFT - 4, 14), Qt.AlignmentFlag.AlignRight, _nice(lo))
        p.drawText(QRectF(r.left(), r.bottom() + 2, 60, 14), Qt.AlignmentFlag.AlignLeft, "0")
        last = str(len(self.values) - 1)
        p.drawText(QRectF(r.right() - 60, r.bottom() + 2, 60, 14), Qt.AlignmentFlag.AlignRight, last)
        # 2. the curve, its keyframes, the playhead
        path = QPainterPath(self.point(0, self.values[0]))
        for i, v in enumerate(self.values[1:], 1):
            path.lineTo(self.point(i, v))
        p.setPen(QPen(self.palette().highlight().color(), 2))
        p.drawPath(path)
        p.setBrush(self.palette().highlight())
        for k in self.keyframes:
            if 0 <= k < len(self.values):
                p.drawEllipse(self.point(k, self.values[k]), 3.5, 3.5)
        if self.playhead is not None and 0 <= self.playhead < len(self.values):
            x = self.point(self.playhead, lo).x()
            p.setPen(QPen(QColor(220, 120, 0), 1))
            p.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))


class PromptTimeline(QWidget):
    """Frames 0..n-1 as a bar with a marker per prompt keyframe; clicking a marker selects it."""

    keyframeClicked = Signal(int)  # index into the keyframe list

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.frames = 1
        self.keyframes: list[tuple[int, str]] = []
        self.playhead: int | None = None
        self.setMinimumHeight(44)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:
        return QSize(320, 48)

    def set_keyframes(self, frames: int, keyframes: Sequence[tuple[int, str]]) -> None:
        self.frames, self.keyframes = max(1, frames), list(keyframes)
        self.update()

    def set_playhead(self, frame: int | None) -> None:
        self.playhead = frame
        self.update()

    def x_of(self, frame: int) -> float:
        left, width = 8.0, max(1.0, self.width() - 16.0)
        return left + width * frame / max(1, self.frames - 1)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        x = event.position().x()
        hits = [(abs(self.x_of(f) - x), i) for i, (f, _) in enumerate(self.keyframes)]
        if hits and min(hits)[0] <= 6:
            self.keyframeClicked.emit(min(hits)[1])

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        mid = 14.0
        p.setPen(QPen(QColor(128, 128, 128), 3))
        p.drawLine(QPointF(self.x_of(0), mid), QPointF(self.x_of(self.frames - 1), mid))
        p.setBrush(self.palette().highlight())
        for i, (frame, text) in enumerate(self.keyframes):
            x = self.x_of(min(frame, self.frames - 1))
            p.setPen(QPen(self.palette().highlight().color(), 1))
            p.drawEllipse(QPointF(x, mid), 5, 5)
            p.setPen(self.palette().text().color())
            label = f"{frame}: {text[:24]}"
            p.drawText(QRectF(x - 2, mid + 8 + (i % 2) * 12, 200, 14), Qt.AlignmentFlag.AlignLeft, label)
        if self.playhead is not None:
            p.setPen(QPen(QColor(220, 120, 0), 2))
            x = self.x_of(self.playhead)
            p.drawLine(QPointF(x, 4), QPointF(x, mid + 6))
