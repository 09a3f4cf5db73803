"""Autosave: the canvas (image, mask) and the prompt panel come back after the window is destroyed."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage

from sdstudio.core.jobs import JobQueue
from sdstudio.core.persistence import STATE_FILE, StudioPaths
from tests.gui.window_helpers import fill_panel, studio_state

pytest_plugins = ["tests.gui.window_fixtures"]


def _new_window(qtbot: Any, engine: Any, store: Any) -> Any:
    from sdstudio.gui.main_window import MainWindow

    win = MainWindow(
        JobQueue(engine_factory=lambda: engine, store=store), store, state=studio_state(), preload=False
    )
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win


def _paint_mask(qtbot: Any, win: Any) -> None:
    """A real mouse stroke across the middle of the picture."""
    view = win.canvas_view
    vp = view.viewport()
    a = view.mapFromScene(16, 32)
    b = view.mapFromScene(48, 32)
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=a)
    for i in range(1, 9):
        qtbot.mouseMove(vp, QPoint(a.x() + (b.x() - a.x()) * i // 8, a.y()))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=b)


def test_autosave_restores_canvas_mask_and_prompt(qtbot: Any, engine: Any, store: Any) -> None:
    first = _new_window(qtbot, engine, store)
    image = QImage(64, 64, QImage.Format.Format_RGB32)
    image.fill(QColor("orange"))
    first.send_to_canvas(image)
    _paint_mask(qtbot, first)
    assert first.canvas.has_mask()
    qtbot.waitUntil(lambda: first.prompt.mode_label.text().startswith("Mode: inpaint"), timeout=30_000)
    mask = first.canvas.mask_image()
    assert mask.pixelColor(32, 32).value() == 255 and mask.pixelColor(32, 2).value() == 0
    fill_panel(qtbot, first.prompt, prompt="a cat in a hat", seed=42, steps=9, width=128, height=96)
    saved_mask = first.canvas.mask_image().convertToFormat(QImage.Format.Format_Grayscale8)
    qtbot.waitUntil(
        lambda: (StudioPaths.default().state_dir / STATE_FILE).is_file(), timeout=5000
    )  # debounced save
    first.close()
    first.deleteLater()

    second = _new_window(qtbot, engine, store)
    assert second.canvas.has_mask()
    restored = second.canvas.mask_image().convertToFormat(QImage.Format.Format_Grayscale8)
    assert restored == saved_mask
    assert second.canvas.image().size() == image.size()
    assert second.prompt.prompt.text() == "a cat in a hat"
    assert (second.prompt.seed.text(), second.prompt.steps.value()) == ("42", 9)
    assert (second.prompt.width_.value(), second.prompt.height_.value()) == (128, 96)  # not the picture's
    assert second.prompt.mode_label.text().startswith("Mode: inpaint")
    assert "Restored" in second.status.message.text()
    view = second.canvas_view  # fitted to the view as shown, not to the size it had while being built
    fit = min(view.viewport().width() - 4, view.viewport().height() - 4) / 64  # fitInView keeps 2 px
    assert abs(view.zoom - fit) < 0.02 * fit
