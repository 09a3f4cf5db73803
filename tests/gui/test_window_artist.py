"""What an artist hits in the studio window (issue 12): real key and mouse events on the demo model."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication

from sdstudio.gui.images import qimage_to_input
from tests.gui.window_helpers import fill_panel, small

pytest_plugins = ["tests.gui.window_fixtures"]

TIMEOUT = 60_000


def _paste(qtbot: Any, window: Any, w: int, h: int) -> None:
    picture = QImage(w, h, QImage.Format.Format_RGB32)
    picture.fill(QColor("olive"))
    QApplication.clipboard().setImage(picture)
    window.canvas_view.setFocus()
    qtbot.keyClick(window.canvas_view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)


def _shown(window: Any) -> np.ndarray:
    pixmap = window.canvas_view._preview_item.pixmap()
    return np.asarray(qimage_to_input(pixmap.toImage()).to_pil().convert("RGB"))


def test_reuse_parameters_keeps_the_size_of_the_picture_on_the_canvas(qtbot: Any, window: Any) -> None:
    fill_panel(qtbot, window.prompt, **small(steps=2))
    with qtbot.waitSignal(window.worker.finished, timeout=TIMEOUT):
        qtbot.mouseClick(window.prompt.generate, Qt.MouseButton.LeftButton)
    _paste(qtbot, window, 384, 256)
    p = window.prompt
    assert (p.width_.value(), p.height_.value()) == (384, 256)
    qtbot.waitUntil(lambda: window.gallery.model.rowCount() == 1, timeout=30_000)
    view = window.gallery.view
    rect = view.visualRect(window.gallery.model.index(0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    type_prompt = "something else"
    fill_panel(qtbot, p, prompt=type_prompt, seed=5)
    qtbot.mouseClick(window.gallery.reuse_button, Qt.MouseButton.LeftButton)
    assert (p.prompt.text(), p.seed.text()) == ("a red fox", "1234")  # the job's parameters ...
    assert (p.width_.value(), p.height_.value()) == (384, 256)  # ... at the picture's size, not 64×64
    assert "stays 384×256" in window.status.message.text() and "64×64" in window.status.message.text()
    assert window.current_request().width == 384 and not p.size_note.isVisible()
    fill_panel(qtbot, p, width=256)  # the artist's choice wins, and the panel says what it does
    assert window.current_request().width == 256 and p.size_note.isVisible()


def test_cancel_keeps_the_last_result_on_the_canvas(qtbot: Any, window: Any) -> None:
    fill_panel(qtbot, window.prompt, **small(steps=2))
    with qtbot.waitSignal(window.worker.finished, timeout=TIMEOUT) as done:
        qtbot.keyClick(window.prompt.prompt.edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    result = np.asarray(done.args[0].result.images[0].image.convert("RGB"))
    assert np.array_equal(_shown(window), result)
    fill_panel(qtbot, window.prompt, steps=60, seed=99)
    steps: list[int] = []
    window.worker.progress.connect(lambda job, p, preview: steps.append(p.step))
    qtbot.keyClick(window.prompt.prompt.edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(steps) >= 2, timeout=TIMEOUT)
    assert not np.array_equal(_shown(window), result)  # a step preview of the new job
    with qtbot.waitSignal(window.worker.cancelled, timeout=TIMEOUT):
        qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert window.canvas_view.preview_visible and not window.canvas_view.hint_visible
    assert np.array_equal(_shown(window), result)  # the last good result, not the empty placeholder
    assert window.use_result_action.isEnabled()
    qtbot.keyClick(window.canvas_view, Qt.Key.Key_U, Qt.KeyboardModifier.ControlModifier)
    picture = np.asarray(qimage_to_input(window.canvas.image()).to_pil().convert("RGB"))
    assert np.array_equal(picture, result)


def test_the_window_fits_a_laptop_screen_and_the_prompt_panel_scrolls(qtbot: Any, window: Any) -> None:
    from sdstudio.gui.window_layout import FIRST_SIZE

    screen = window.screen().availableGeometry()
    small_screen = screen.width() < FIRST_SIZE[0] or screen.height() < FIRST_SIZE[1]
    assert window.isMaximized() == small_screen  # the first start fits the screen it opens on
    hint = window.minimumSizeHint()
    assert hint.width() <= 1280 and hint.height() <= 720
    window.showNormal()
    window.resize(1280, 720)
    qtbot.waitUntil(lambda: window.size().height() == 720)
    p = window.prompt
    for button in (p.generate, p.cancel):  # always in sight, whole
        assert button.visibleRegion().boundingRect().size() == button.size()
    assert p.scroll.verticalScrollBar().maximum() > 0  # the fields scroll ...
    window.canvas.set_image(QImage(64, 64, QImage.Format.Format_RGB32))  # img2img: the box is enabled
    assert p.image_box.isEnabled()
    p.prompt.edit.setFocus()
    for _ in range(40):  # ... and Tab reaches the last one, scrolled into view
        if p.inpaint_padding.hasFocus():
            break
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    assert p.inpaint_padding.hasFocus()
    qtbot.waitUntil(
        lambda: p.inpaint_padding.visibleRegion().boundingRect().size() == p.inpaint_padding.size()
    )


def test_the_canvas_stays_fitted_when_the_window_changes_size_and_shows_the_zoom(
    qtbot: Any, window: Any
) -> None:
    view = window.canvas_view

    def fit_zoom() -> float:
        return min(view.viewport().width() / 1200, view.viewport().height() / 800)

    _paste(qtbot, window, 1200, 800)
    window.showNormal()
    window.resize(1280, 720)
    qtbot.waitUntil(lambda: window.size().height() == 720)
    assert abs(view.zoom - fit_zoom()) < 0.02 * fit_zoom()
    shown = view.mapToScene(view.viewport().rect()).boundingRect()
    assert shown.contains(QRectF(0, 0, 1200, 800))  # not cut off at either side
    assert window.canvas_tools.zoom_label.text().strip() == f"{view.zoom * 100:.0f}%"
    window.resize(1366, 768)
    qtbot.waitUntil(lambda: window.size().height() == 768)
    assert abs(view.zoom - fit_zoom()) < 0.02 * fit_zoom()
    view.setFocus()
    qtbot.mouseClick(
        window.canvas_tools.widgetForAction(window.canvas_tools.actual), Qt.MouseButton.LeftButton
    )
    assert window.canvas_tools.zoom_label.text().strip() == "100%"
    window.resize(1280, 720)  # the artist's own zoom stays
    qtbot.waitUntil(lambda: window.size().height() == 720)
    assert view.zoom == 1.0


def test_generate_right_after_a_stroke_sends_that_stroke(qtbot: Any, window: Any) -> None:
    from PySide6.QtCore import QPoint

    fill_panel(qtbot, window.prompt, **small(steps=2))
    picture = QImage(64, 64, QImage.Format.Format_RGB32)
    picture.fill(QColor("teal"))
    window.send_to_canvas(picture)
    window.canvas.brush.size = 16
    view, vp = window.canvas_view, window.canvas_view.viewport()
    a, b = view.mapFromScene(16, 32), view.mapFromScene(48, 32)
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=a)
    for i in range(1, 9):
        qtbot.mouseMove(vp, QPoint(a.x() + (b.x() - a.x()) * i // 8, a.y()))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=b)
    with qtbot.waitSignal(window.worker.finished, timeout=TIMEOUT) as done:  # the mask is still being encoded
        qtbot.mouseClick(window.prompt.generate, Qt.MouseButton.LeftButton)
    ran = done.args[0].result.request
    assert ran.mode.value == "inpaint"
    assert ran.mask == qimage_to_input(window.canvas.mask_image(), mask=True)  # the stroke just painted


def test_stale_errors_leave_and_loading_is_said_only_when_a_model_loads(qtbot: Any, window: Any) -> None:
    fill_panel(qtbot, window.prompt, **small(steps=2, width=500))
    qtbot.mouseClick(window.prompt.generate, Qt.MouseButton.LeftButton)
    assert window.status.showing_error and "500" in window.status.message.text()
    fill_panel(qtbot, window.prompt, width=64)  # corrected: the error goes from the panel and the status bar
    assert not window.status.showing_error and "500" not in window.status.message.text()
    said: list[str] = []
    window.worker.started.connect(lambda job: said.append(window.status.message.text()))
    for _ in range(2):
        with qtbot.waitSignal(window.worker.finished, timeout=TIMEOUT):
            qtbot.mouseClick(window.prompt.generate, Qt.MouseButton.LeftButton)
    assert "loading the model" in said[0] and "loading" not in said[1]  # the same model stays loaded


def test_the_running_row_keeps_its_step_when_a_job_is_queued(qtbot: Any, window: Any) -> None:
    fill_panel(qtbot, window.prompt, **small(steps=60))
    steps: list[int] = []
    window.worker.progress.connect(lambda job, p, preview: steps.append(p.step))
    qtbot.mouseClick(window.prompt.generate, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(steps) >= 2, timeout=TIMEOUT)
    qtbot.mouseClick(window.prompt.generate, Qt.MouseButton.LeftButton)  # queued behind it
    qtbot.waitUntil(lambda: window.queue_panel.list.count() == 2, timeout=TIMEOUT)
    assert window.queue_panel.list.item(0).text().startswith("[running ")
    assert "/60]" in window.queue_panel.list.item(0).text()
    assert window.queue_panel.list.item(1).text().startswith("[waiting]")
    window.queue.remove(window.queue_panel.job_ids()[1])
    with qtbot.waitSignal(window.worker.cancelled, timeout=TIMEOUT):
        qtbot.keyClick(window, Qt.Key.Key_Escape)
