"""Finished animations: the project folders in the animations folder, newest first, each with its thumbnail;
Play shows it in the preview, Reuse loads its settings back into the panel."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QPushButton, QWidget

from sdstudio.core.animation.project import MARKER_NAME, SETTINGS_NAME, Project
from sdstudio.gui.layouts import above_buttons


def find_projects(folder: Path) -> list[Project]:
    """Animation projects directly in `folder`, newest first."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if (p / MARKER_NAME).is_file() and (p / SETTINGS_NAME).is_file()]
    found.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return [Project(p) for p in found]


class AnimationLibrary(QWidget):
    playRequested = Signal(object)  # Project
    reuseRequested = Signal(object)  # Path of the project folder

    def __init__(self, folder: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.folder = folder
        self.list = QListWidget()
        self.list.setIconSize(QSize(64, 64))
        self.list.setMinimumHeight(120)
        self.play_button = QPushButton("Play")
        self.reuse_button = QPushButton("Reuse settings")
        above_buttons(self, self.list, self.play_button, self.reuse_button)
        self.list.itemDoubleClicked.connect(
            lambda item: self.playRequested.emit(Project(item.data(Qt.ItemDataRole.UserRole)))
        )
        self.play_button.clicked.connect(self._play)
        self.reuse_button.clicked.connect(self._reuse)
        self.refresh()

    def refresh(self) -> None:
        self.list.clear()
        for project in find_projects(self.folder):
            item = QListWidgetItem(f"{project.root.name}  ({project.finished()} frames)")
            if project.thumbnail_path.is_file():
                item.setIcon(QIcon(QPixmap(str(project.thumbnail_path))))
            item.setData(Qt.ItemDataRole.UserRole, project.root)
            self.list.addItem(item)

    def selected(self) -> Path | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _play(self) -> None:
        if (root := self.selected()) is not None:
            self.playRequested.emit(Project(root))

    def _reuse(self) -> None:
        if (root := self.selected()) is not None:
            self.reuseRequested.emit(root)
