"""The window's side of the reference strip: its messages, the library's ControlNets, and the "Pose from
reference…" shortcut for fixing a hand (canvas toolbar)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu

from sdstudio.core import references
from sdstudio.core.request import InputImage, RequestError
from sdstudio.gui.reference_strip import PICTURES

if TYPE_CHECKING:
    from sdstudio.gui.main_window import MainWindow

log = logging.getLogger(__name__)


def model_names(library: object) -> dict[str, list[str]]:
    """The library's models a reference card offers, by what runs the unit: "controlnet" and "ip-adapter"."""
    if library is None:
        return {}
    from sdstudio.core.models.entries import Kind

    try:
        kinds = (Kind.controlnet, Kind.ip_adapter)
        return {k.value: [e.name for e in library.entries(k)] for k in kinds}  # type: ignore[attr-defined]
    except Exception as e:  # a broken library must not stop the window; Auto still works
        log.warning("ControlNet and IP-Adapter models unavailable: %s", e)
        return {}


def install(w: MainWindow) -> None:
    """Wire the strip to the status bar and the library; add the pose shortcut to the canvas toolbar."""
    strip = w.prompt.references
    strip.message.connect(w.status.show_message)
    strip.library = w.library
    models_changed(w)
    w.pose_action = QAction("Pose from reference…", w)
    w.pose_action.setObjectName("poseFromReference")
    w.pose_action.setIconText("Pose ref…")  # the toolbar's short name: Fit and the zoom stay in sight at 1280
    w.pose_action.setToolTip(
        "fix a hand: with a mask painted over it, choose a photo in the pose you want; it becomes a pose "
        "reference and only the masked part is repainted"
    )
    w.pose_action.triggered.connect(lambda: choose_pose_reference(w))
    tools = w.canvas_tools  # beside the mask actions: in sight on a 1280-pixel screen
    after = tools.actions()[tools.actions().index(tools.clear) + 1]
    tools.insertAction(after, w.pose_action)
    edit = QMenu("&Edit", w)  # the canvas's edits, as in any editor
    edit.addActions([tools.undo, tools.redo])
    edit.addSeparator()
    edit.addActions([tools.invert, tools.clear, w.pose_action])
    bar = w.menuBar()
    bar.insertMenu(bar.actions()[1], edit)


def models_changed(w: MainWindow) -> None:
    """The library changed (a folder added, a model installed): the cards offer its ControlNets."""
    w.prompt.references.set_models(model_names(w.library))


def _ready(w: MainWindow) -> bool:
    w._canvas_to_studio()  # the last stroke counts even within the mode timer's delay
    if w.studio.picture is None or not w.studio.has_mask:
        w.status.show_message(
            "Pose from reference: put the picture on the canvas and paint a mask over the hand first.",
            error=True,
        )
        return False
    return True


def choose_pose_reference(w: MainWindow) -> None:
    if not _ready(w):
        return
    path, _ = QFileDialog.getOpenFileName(w, "Pose from reference: a photo in the wanted pose", "", PICTURES)
    if path:
        pose_from_file(w, Path(path))


def pose_from_file(w: MainWindow, path: Path) -> bool:
    """Add a pose (or depth) reference from a photo and switch to inpaint only masked; errors are one line."""
    if not _ready(w):
        return False
    try:
        image = InputImage.from_file(path, path.name)
        references.pose_from_reference(w.studio, image, path.name)
    except (OSError, RequestError) as e:
        text = e.message if isinstance(e, RequestError) else str(e)
        w.status.show_message(f"Pose from reference: {text}", error=True)
        return False
    w.prompt_dock.show()
    w.prompt.scroll.ensureWidgetVisible(w.prompt.references)
    return True
