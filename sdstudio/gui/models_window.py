"""The Models window: the curated starter list, an install-from-anywhere field, and the download queue.

Downloads run on the core's DownloadQueue thread; its reports cross into the GUI thread through a queued signal.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from sdstudio.core.install import layout, starters
from sdstudio.core.install.plan import InstallError
from sdstudio.core.install.queue import DownloadQueue, InstallRequest, Job, State
from sdstudio.core.install.sources import check_sha256
from sdstudio.core.models.entries import Kind
from sdstudio.core.settings import Settings
from sdstudio.gui.download_rows import DownloadRow

log = logging.getLogger(__name__)
COLUMNS = ("Model", "Family", "Size", "What it is for", "Licence", "")


class _Bridge(QObject):
    job = Signal(object)


class ModelsWindow(QWidget):
    """Get models: starters, any source, and the queue with progress, pause, resume and cancel."""

    installed = Signal(object)  # the finished Job

    def __init__(self, settings: Settings, queue: DownloadQueue, parent: QWidget | None = None):
        super().__init__(
            parent, Qt.WindowType.Window
        )  # a window, not a dialog: Enter installs, never browses
        self.setWindowTitle("Models")
        self.setObjectName("sdstudioModelsWindow")
        self.resize(980, 640)
        self.settings, self.queue = settings, queue
        self.rows: dict[int, DownloadRow] = {}
        self.starter_buttons: dict[str, QPushButton] = {}
        self._bridge = _Bridge(self)
        self._bridge.job.connect(self._on_job, Qt.ConnectionType.QueuedConnection)
        queue.subscribe(self._bridge.job.emit)

        # 1. where models go, and the room left there
        self.where = QLabel()
        self.where.setWordWrap(True)
        # 2. the starter list
        self.starters = QTableWidget(0, len(COLUMNS))
        self.starters.setHorizontalHeaderLabels(COLUMNS)
        self.starters.verticalHeader().setVisible(False)
        self.starters.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.starters.setWordWrap(True)
        header = self.starters.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        # 3. any source
        self.source_edit = QLineEdit()
        self.source_edit.setPlaceholderText(
            "hub id or file, huggingface.co / civitai.com / https address, Civitai AIR, or a file on disk"
        )
        self.source_edit.returnPressed.connect(self.install_source)
        self.sha_edit = QLineEdit()
        self.sha_edit.setPlaceholderText("sha256 (optional)")
        self.sha_edit.setToolTip(
            "the file's published sha256: the download is refused and deleted if it differs"
        )
        self.sha_edit.setMaximumWidth(160)
        self.sha_edit.returnPressed.connect(self.install_source)
        self.kind_box = QComboBox()
        self.kind_box.addItem("kind: detect", None)
        for kind in Kind:
            self.kind_box.addItem(kind.value, kind)
        self.mode_box = QComboBox()
        self.mode_box.addItems(["copy", "move", "link"])
        self.mode_box.setToolTip("files on disk: copy them into the library, move them, or link to them")
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self._browse)
        self.install_button = QPushButton("Install")
        self.install_button.clicked.connect(self.install_source)
        source_row = QHBoxLayout()
        for w in (
            self.source_edit,
            self.sha_edit,
            self.kind_box,
            self.mode_box,
            self.browse_button,
            self.install_button,
        ):
            source_row.addWidget(w, 1 if w is self.source_edit else 0)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #c33")
        # 4. the queue
        self.queue_box = QWidget()
        self.queue_layout = QVBoxLayout(self.queue_box)
        self.queue_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.queue_box)
        self.clear_button = QPushButton("Clear finished")
        self.clear_button.clicked.connect(self.clear_finished)

        layout_ = QVBoxLayout(self)
        layout_.addWidget(self.where)
        layout_.addWidget(QLabel("<b>Starter models</b> (from the Hugging Face hub; hashes checked)"))
        layout_.addWidget(self.starters, 3)
        layout_.addWidget(QLabel("<b>Install from anywhere</b>"))
        layout_.addLayout(source_row)
        layout_.addWidget(self.message)
        queue_title = QHBoxLayout()
        queue_title.addWidget(QLabel("<b>Downloads</b>"), 1)
        queue_title.addWidget(self.clear_button)
        layout_.addLayout(queue_title)
        layout_.addWidget(scroll, 2)
        self.refresh()
        for job in queue.jobs():
            self._on_job(job)

    # -- the starter list ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read what is installed and the free space."""
        library = self.settings.library_path()
        free = _free_bytes(library)
        self.where.setText(f"Installed models go to {library} ({layout.human_size(free)} free there).")
        items = starters.starters()
        self.starters.setRowCount(len(items))
        for row, s in enumerate(items):
            for col, text in enumerate(
                (s.name, s.family, f"~{layout.human_size(s.size)}", s.purpose, s.licence)
            ):
                cell = QTableWidgetItem(text)
                cell.setToolTip(text)
                self.starters.setItem(row, col, cell)
            done = s.installed(library)
            button = QPushButton("Installed ✓" if done else "Install")
            button.setEnabled(not done)
            self.starter_buttons[s.id] = button
            button.clicked.connect(lambda _=False, s=s: self.install_starter(s))
            self.starters.setCellWidget(row, len(COLUMNS) - 1, button)

    def starter_button(self, starter_id: str) -> QPushButton:
        return self.starter_buttons[starter_id]

    def install_starter(self, starter: starters.Starter) -> int | None:
        try:
            layout.check_space(self.settings.library_path(), starter.size)
        except InstallError as e:
            self.message.setText(str(e))
            return None
        self.message.clear()
        return self.queue.add(
            InstallRequest(starter.id, title=starter.name, plan=lambda: starters.plan(starter))
        )

    # -- any source --------------------------------------------------------------------------------------
    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Install a model file", "", "Models (*.safetensors *.ckpt *.pt *.pth *.bin)"
        )
        if path:
            self.source_edit.setText(path)

    def install_source(self) -> int | None:
        text = self.source_edit.text().strip()
        if not text:
            self.message.setText("Type or paste where the model is: a hub id, an address, or a file.")
            return None
        try:
            sha = check_sha256(self.sha_edit.text())
        except InstallError as e:
            self.message.setText(str(e))
            return None
        self.message.clear()
        self.source_edit.clear()
        self.sha_edit.clear()
        kind = self.kind_box.currentData()
        request = InstallRequest(text, kind=kind, sha256=sha, mode=self.mode_box.currentText(), title=text)
        return self.queue.add(request)

    # -- the queue ----------------------------------------------------------------------------------------
    def _on_job(self, job: Job) -> None:
        row = self.rows.get(job.id)
        if row is None:
            row = DownloadRow(
                job,
                pause=lambda i=job.id: self.queue.pause(i),
                resume=lambda i=job.id: self.queue.resume(i),
                cancel=lambda i=job.id: self.queue.cancel(i),
            )
            self.rows[job.id] = row
            self.queue_layout.insertWidget(self.queue_layout.count() - 1, row)
        row.update_job(job)
        if job.state is State.done:
            self.refresh()
            self.installed.emit(job)

    def clear_finished(self) -> None:
        self.queue.clear_finished()
        for job_id, row in list(self.rows.items()):
            if row.job.state.finished:
                row.setParent(None)
                row.deleteLater()
                del self.rows[job_id]


def _free_bytes(folder: Path) -> int:
    import shutil

    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def open_models_window(window: Any) -> ModelsWindow:
    """The studio's Models window (one per studio); finished installs refresh the model selector."""
    existing = getattr(window, "models_window", None)
    if existing is None:
        settings = window.state.settings  # the composition root's settings, never a second copy
        hashes = window.library.hashes if window.library is not None else None
        queue = DownloadQueue(settings, hashes, remember=True, save_settings=window.state.save_settings)
        existing = ModelsWindow(settings, queue, window)
        existing.installed.connect(lambda _job: _models_changed(window))
        window.models_window = existing
    existing.show()
    existing.raise_()
    existing.activateWindow()
    return existing


def _models_changed(window: Any) -> None:
    from sdstudio.gui import reference_actions
    from sdstudio.gui.window_actions import model_choices

    if window.library is not None:
        window.library.refresh()
        window.prompt.set_models(model_choices(window.library))
        reference_actions.models_changed(window)  # a ControlNet installed: the reference cards offer it
    window.status.show_message("Model installed; it is in the model selector.")


def offer_first_model(window: Any) -> QMessageBox | None:
    """At the first start with only the demo model: offer the Models window (asked once; never blocks)."""
    library, state = window.library, window.state
    if library is None or state.settings.models_prompt_done:
        return None
    try:
        only_demo = all(e.source.value == "demo" for e in library.entries())
    except Exception:  # a broken library: the window says so elsewhere
        return None
    if not only_demo:
        return None
    box = QMessageBox(
        QMessageBox.Icon.Question,
        "Get a real model",
        "Only the demo model is installed: it makes noise, not pictures.\n\n"
        "Open the Models window to download a real one? SD-Turbo (about 5 GB) makes a picture in "
        "one to four steps, even on a CPU.",
        QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Close,
        window,
    )
    box.button(QMessageBox.StandardButton.Open).setText("Open Models")
    box.button(QMessageBox.StandardButton.Close).setText("Not now")

    def answered(_result: int) -> None:
        state.settings.models_prompt_done = True
        try:
            state.save_settings()
        except OSError as e:
            log.warning("cannot save the settings: %s", e)
        if box.clickedButton() is box.button(QMessageBox.StandardButton.Open):
            open_models_window(window)

    box.finished.connect(answered)
    box.open()
    return box
