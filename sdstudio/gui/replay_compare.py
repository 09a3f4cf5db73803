"""Gallery > Replay and compare (R on a thumbnail): the picture regenerated from its own metadata on the
studio's queue, then shown against the original in the compare view with the verdict ("identical" or the
difference and what changed on this machine). The replayed picture is a check: it is not saved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel


class ReplayCompare(QObject):
    """Runs replays for the window and opens the compare dialog when one ends."""

    compared = Signal(object, object)  # (CompareDialog, Comparison)

    def __init__(self, window: Any):
        super().__init__(window)
        self.window = window
        self._pending: dict[int, tuple[Path, Any]] = {}
        self._connected = False

    def _connect(self) -> None:
        """Listen to the worker (made after the window's actions), once."""
        if not self._connected:
            worker = self.window.worker
            worker.finished.connect(self._finished)
            worker.failed.connect(lambda job, message: self._ended(job, message))
            worker.cancelled.connect(lambda job: self._ended(job, "replay cancelled"))
            self._connected = True

    def start(self, record: Any) -> Any | None:
        """Queue the replay of a gallery record; its problems are one line in the status bar."""
        from sdstudio.core.errors import ModelError
        from sdstudio.core.replay import ReplayError, read_recipe
        from sdstudio.core.request import RequestError

        w = self.window
        path = Path(record.path)
        try:
            recipe = read_recipe(path, w.store)
            request = recipe.bind(w.library)
            request.validate()
        except (ReplayError, ModelError, RequestError) as e:
            w.status.show_message(f"Cannot replay {path.name}: {e}", True)
            return None
        self._connect()
        job = w.worker.queue.submit(request, source="gui", save=False)  # a check: nothing for the gallery
        self._pending[job.id] = (path, recipe)
        note = f" (not reproduced: {', '.join(recipe.unhonoured)})" if recipe.unhonoured else ""
        w.status.show_message(f"Replaying {path.name}…{note}", False)
        return job

    def _ended(self, job: Any, message: str) -> None:
        if self._pending.pop(job.id, None) is not None:
            self.window.status.show_message(message, True)

    def _finished(self, msg: Any) -> None:
        pending = self._pending.pop(msg.job.id, None)
        if pending is None or not msg.result.images:
            return
        from PIL import Image
        from PIL.ImageQt import ImageQt

        from sdstudio.core.replay import compare, environment_changes
        from sdstudio.gui.iterate_dialogs import CompareDialog

        path, recipe = pending
        replayed = msg.result.images[0].image
        with Image.open(path) as original:
            original.load()
            verdict = compare(original, replayed)
            before = ImageQt(original.convert("RGBA")).copy()
        after = ImageQt(replayed.convert("RGBA")).copy()
        text = verdict.describe()
        if not verdict.identical:
            changes = environment_changes(recipe.environment, msg.result.environment)
            text += (
                "; recorded on another setup: " + "; ".join(changes) if changes else "; same recorded setup"
            )
        dialog = CompareDialog(before, after, self.window)
        dialog.setWindowTitle(f"Replay of {path.name}: {text}")
        verdict_label = QLabel(f"Original (left) and replayed (right): {text}")
        verdict_label.setObjectName("replayVerdict")
        dialog.layout().insertWidget(0, verdict_label)
        dialog.show()
        self.window.status.show_message(f"Replayed {path.name}: {text}", not verdict.identical)
        self.compared.emit(dialog, verdict)


def install(window: Any) -> ReplayCompare:
    """The gallery's Replay and compare action (R on a thumbnail, or its context menu)."""
    replays = ReplayCompare(window)
    action = QAction("Replay and compare", window.gallery.view)
    action.setShortcut(QKeySequence(Qt.Key.Key_R))
    action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
    action.triggered.connect(lambda: (rec := window.gallery.selected()) is not None and replays.start(rec))
    window.gallery.view.addAction(action)
    window.gallery.view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
    window.replay_action, window.replays = action, replays
    return replays
