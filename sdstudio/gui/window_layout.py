"""The window's layout: geometry and docks in its QSettings file (nothing else lives there), the canvas tools
(brush size, mask colour) in the studio state (core/persistence.py)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt

from sdstudio.core.persistence import CanvasPrefs

if TYPE_CHECKING:
    from sdstudio.gui.main_window import MainWindow

log = logging.getLogger(__name__)

LAYOUT_VERSION = 1  # Qt's saveState version of the docks
FIRST_SIZE = (1400, 900)  # first start on a screen that has room; a smaller screen opens maximised


def layout_settings(w: MainWindow) -> QSettings:
    return QSettings(str(w.state.layout_file), QSettings.Format.IniFormat)


def restore_layout(w: MainWindow) -> None:
    """Geometry, docks and canvas tools as the artist left them (first start: FIRST_SIZE or maximised)."""
    settings = layout_settings(w)
    geometry = settings.value("window/geometry")
    docks = settings.value("window/state")
    if geometry is None or not w.restoreGeometry(geometry):
        w.resize(*FIRST_SIZE)
    screen = w.screen().availableGeometry()
    if w.width() > screen.width() or w.height() > screen.height():  # a laptop screen
        w.resize(screen.size())
        w.setWindowState(w.windowState() | Qt.WindowState.WindowMaximized)
    if docks is not None:
        w.restoreState(docks, LAYOUT_VERSION)
    prefs = w.state.canvas
    if prefs.brush_size is not None:
        w.canvas_tools.size.setValue(prefs.brush_size)
    color = w.canvas_tools.mask_color.findText(prefs.mask_color)
    if color >= 0:
        w.canvas_tools.mask_color.setCurrentIndex(color)


def save_layout(w: MainWindow) -> None:
    """Geometry and docks to the QSettings file; the canvas tools to the studio state."""
    settings = layout_settings(w)
    settings.setValue("window/geometry", w.saveGeometry())
    settings.setValue("window/state", w.saveState(LAYOUT_VERSION))
    settings.remove("canvas")  # layout 1 kept the brush here (migrated into the state)
    settings.sync()
    try:
        w.state.save_canvas(CanvasPrefs(round(w.canvas.brush.size), w.canvas_tools.mask_color.currentText()))
    except OSError as e:
        log.warning("the canvas tools were not saved: %s", e)
