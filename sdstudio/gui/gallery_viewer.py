"""The View dialog: a saved picture fitted to the window with its parameters; arrow keys page the gallery."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent, QPixmap, QResizeEvent
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from sdstudio.gui.gallery_panel import GalleryPanel


def parameters_text(record: Any) -> str:
    """The picture's full parameters as A1111 shows them (any tool's), else what the index holds."""
    from sdstudio.core.gallery.reading import read_parameters

    if record.kind == "video":  # an animation: its settings (Enter or double-click in the gallery plays it)
        from sdstudio.gui.gallery_video import settings_text

        return settings_text(record)
    try:
        if text := read_parameters(Path(record.path)).infotext:
            return text
    except (OSError, ValueError):
        pass
    return f"{record.prompt}\nNegative prompt: {record.negative_prompt}\nSeed: {record.seed}"


class ImageViewer(QDialog):
    """One gallery picture, large; Left/Right show the previous/next one; the panel's actions act on it."""

    def __init__(self, panel: GalleryPanel, row: int, parent: QWidget | None = None):
        super().__init__(parent or panel)
        self.panel = panel
        self.row = row
        self._pixmap = QPixmap()
        self.picture = QLabel()
        self.picture.setObjectName("picture")
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.picture.setMinimumSize(64, 64)
        self.info = QLabel()
        self.info.setObjectName("parameters")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.star = QPushButton("★")
        self.star.setCheckable(True)
        self.star.setToolTip("star or unstar the picture (S)")
        self.send = QPushButton("Send to canvas")
        self.reuse = QPushButton("Reuse parameters")
        for b in (self.star, self.send, self.reuse):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the arrow keys stay with the dialog
        self.position = QLabel()
        buttons = QHBoxLayout()
        buttons.addWidget(self.position, 1)
        for b in (self.star, self.send, self.reuse):
            buttons.addWidget(b)
        lay = QVBoxLayout(self)
        lay.addWidget(self.picture, 1)
        lay.addWidget(self.info)
        lay.addLayout(buttons)
        self.star.clicked.connect(lambda: self._act(panel.toggle_star))
        self.send.clicked.connect(lambda: self._act(panel.send_selected))
        self.reuse.clicked.connect(lambda: self._act(panel.reuse_selected))
        self.resize(900, 800)
        self.show_row(row)

    def record(self) -> Any | None:
        return self.panel.model.record(self.row)

    def show_row(self, row: int) -> None:
        """Show the gallery's picture at `row` (fetching the next page when needed)."""
        model = self.panel.model
        if row >= model.rowCount() and model.canFetchMore():
            model.fetchMore()
        record = model.record(row)
        if record is None:
            return
        self.row = row
        self.panel.select_row(row)
        self.setWindowTitle(f"sdstudio: {Path(record.path).name}")
        from sdstudio.gui.gallery_video import still_of

        self._pixmap = QPixmap(str(still_of(record)))
        self.info.setText(parameters_text(record))
        self.star.setChecked(bool(record.starred))
        self.position.setText(f"{row + 1} of {model.rowCount()}: ←/→ for the others")
        self._fit()

    def _act(self, action: Any) -> None:
        self.panel.select_row(self.row)
        action()
        record = self.record()
        self.star.setChecked(bool(record is not None and record.starred))

    def _fit(self) -> None:
        if self._pixmap.isNull():
            self.picture.setText("The file cannot be read (moved or deleted?)")
            return
        size = self.picture.size()
        self.picture.setPixmap(
            self._pixmap.scaled(
                size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
            if self._pixmap.width() > size.width() or self._pixmap.height() > size.height()
            else self._pixmap
        )

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._fit()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt name)
        if event.key() in (Qt.Key.Key_Right, Qt.Key.Key_Down, Qt.Key.Key_PageDown):
            self.show_row(self.row + 1)
        elif event.key() in (Qt.Key.Key_Left, Qt.Key.Key_Up, Qt.Key.Key_PageUp):
            self.show_row(max(0, self.row - 1))
        elif event.key() == Qt.Key.Key_S and not event.modifiers():
            self._act(self.panel.toggle_star)
        else:
            super().keyPressEvent(event)
