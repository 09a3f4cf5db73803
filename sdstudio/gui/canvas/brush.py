"""A round mask brush with size and hardness; stamps along a segment onto an 8-bit mask."""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QRadialGradient

MIN_SIZE, MAX_SIZE = 1, 1024


@dataclass
class Brush:
    size: float = 48.0  # diameter in image pixels
    hardness: float = 0.8  # 1 = hard edge, 0 = soft
    erase: bool = False

    @property
    def radius(self) -> float:
        return self.size / 2

    def resized(self, factor: float) -> None:
        self.size = max(
            MIN_SIZE,
            min(MAX_SIZE, round(self.size * factor) if factor > 1 else math.floor(self.size * factor)),
        )

    def _gradient(self, center: QPointF) -> QRadialGradient:
        value = 0 if self.erase else 255
        g = QRadialGradient(center, self.radius)
        g.setColorAt(0.0, QColor(value, value, value, 255))
        g.setColorAt(max(0.0, min(0.999, self.hardness)), QColor(value, value, value, 255))
        g.setColorAt(1.0, QColor(value, value, value, 0))
        return g

    def stroke(self, mask: QImage, start: QPointF, end: QPointF) -> QRect:
        """Stamp from start to end; returns the touched rectangle (clipped to the mask)."""
        length = math.hypot(end.x() - start.x(), end.y() - start.y())
        spacing = max(1.0, self.radius * 0.25)
        n = max(1, int(length / spacing))
        painter = QPainter(mask)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        for i in range(n + 1):
            t = i / n
            c = QPointF(start.x() + (end.x() - start.x()) * t, start.y() + (end.y() - start.y()) * t)
            painter.setBrush(self._gradient(c))
            painter.drawEllipse(c, self.radius, self.radius)
        painter.end()
        r = self.radius + 2
        box = QRectF(
            min(start.x(), end.x()) - r,
            min(start.y(), end.y()) - r,
            abs(end.x() - start.x()) + 2 * r,
            abs(end.y() - start.y()) + 2 * r,
        )
        return box.toAlignedRect().intersected(mask.rect())
