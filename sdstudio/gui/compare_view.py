"""Before/after: two pictures under a slider that the mouse drags, or side by side."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget


class CompareView(QWidget):
    """`before` left of the divider, `after` right of it; drag (or click) to move the divider. In side-by-side
    mode both are shown whole, next to each other. A different size is scaled to the first's."""

    def __init__(self, before: QImage, after: QImage, parent: QWidget | None = None):
        super().__init__(parent)
        self.before = before
        self.after = after if after.size() == before.size() else after.scaled(before.size())
        self.split = 0.5  # the divider's place, 0 (all after) to 1 (all before)
        self.side_by_side = False
        self.setMinimumSize(200, 150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.SplitHCursor)

    def set_side_by_side(self, on: bool) -> None:
        self.side_by_side = on
        self.setCursor(Qt.CursorShape.ArrowCursor if on else Qt.CursorShape.SplitHCursor)
        self.update()

    def target(self) -> QRectF:
        """Where one picture is drawn (the left one in side-by-side mode)."""
        w, h = self.before.width() * (2 if self.side_by_side else 1), self.before.height()
        scale = min(self.width() / w, self.height() / h)
        dw, dh = w * scale, h * scale
        x, y = (self.width() - dw) / 2, (self.height() - dh) / 2
        return QRectF(x, y, dw / 2, dh) if self.side_by_side else QRectF(x, y, dw, dh)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        rect = self.target()
        if self.side_by_side:
            painter.drawImage(rect, self.before)
            painter.drawImage(rect.translated(rect.width(), 0), self.after)
            return
        painter.drawImage(rect, self.after)
        cut = rect.width() * self.split
        source = QRectF(0, 0, self.before.width() * self.split, self.before.height())
        painter.drawImage(QRectF(rect.x(), rect.y(), cut, rect.height()), self.before, source)
        painter.setPen(QPen(QColor("white"), 2))
        painter.drawLine(QPointF(rect.x() + cut, rect.y()), QPointF(rect.x() + cut, rect.bottom()))

    def _drag(self, event: QMouseEvent) -> None:
        rect = self.target()
        if not self.side_by_side and rect.width() > 0:
            self.split = min(1.0, max(0.0, (event.position().x() - rect.x()) / rect.width()))
            self.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt name)
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt name)
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._drag(event)
