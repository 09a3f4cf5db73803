"""The visible job queue: the running job and the waiting ones; waiting jobs can be removed."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from sdstudio.core.jobs import Job


def describe(job: Job) -> str:
    r = job.request
    prompt = r.prompt.strip().replace("\n", " ") or "(empty prompt)"
    if len(prompt) > 48:
        prompt = prompt[:47] + "…"
    return f"#{job.id} {r.mode.value} {r.width}×{r.height}, {r.steps} steps: {prompt}"


class QueuePanel(QWidget):
    """Lists jobs (running first); Remove drops a waiting job, Cancel stops the running one."""

    removeRequested = Signal(int)
    cancelRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setObjectName("queueList")
        self.remove = QPushButton("Remove")
        self.remove.setToolTip("remove the selected waiting job (Delete)")
        self.cancel = QPushButton("Cancel running")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.list)
        row = QHBoxLayout()
        row.addWidget(self.remove)
        row.addWidget(self.cancel)
        lay.addLayout(row)
        self.remove.clicked.connect(self._remove_selected)
        self.cancel.clicked.connect(self.cancelRequested)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        self._running: int | None = None
        self._steps: dict[int, tuple[int, int]] = {}  # the running job's last step, kept across updates
        self.set_jobs((), None)

    def set_jobs(self, jobs: tuple[Job, ...], running: Job | None) -> None:
        selected = self.selected_id()
        self.list.clear()
        self._running = running.id if running is not None else None
        self._steps = {k: v for k, v in self._steps.items() if k == self._running}
        for job in jobs:
            state = "running" if job.id == self._running else "waiting"
            if job.id in self._steps:
                state = f"running {self._steps[job.id][0]}/{self._steps[job.id][1]}"
            item = QListWidgetItem(f"[{state}] {describe(job)}")
            item.setData(Qt.ItemDataRole.UserRole, job.id)
            self.list.addItem(item)
            if job.id == selected:
                item.setSelected(True)
        if not jobs:
            item = QListWidgetItem("No jobs. Generate runs one; Generate while busy queues another.")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.list.addItem(item)
        self._update_buttons()

    def set_progress(self, job_id: int, step: int, total: int) -> None:
        """Show the running job's step in its row."""
        self._steps[job_id] = (step, total)
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == job_id:
                text = item.text().split("] ", 1)[-1]
                item.setText(f"[running {step}/{total}] {text}")
                return

    def job_ids(self) -> list[int]:
        ids = [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]
        return [i for i in ids if i is not None]

    def selected_id(self) -> int | None:
        items = self.list.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def _update_buttons(self) -> None:
        sel = self.selected_id()
        self.remove.setEnabled(sel is not None and sel != self._running)
        self.cancel.setEnabled(self._running is not None)

    def _remove_selected(self) -> None:
        sel = self.selected_id()
        if sel is not None and sel != self._running:
            self.removeRequested.emit(sel)

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if event.key() == Qt.Key.Key_Delete:
            self._remove_selected()
        else:
            super().keyPressEvent(event)
