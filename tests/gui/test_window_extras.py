"""What A1111/InvokeAI/Krita AI users expect (issue 12, point 9), with real key and mouse events."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QDragEnterEvent, QDragMoveEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication

from sdstudio.core.jobs import JobQueue
from tests.gui.window_helpers import fill_panel, small, studio_state, type_into

pytest_plugins = ["tests.gui.window_fixtures"]

TIMEOUT = 60_000


def test_gallery_counts_a_tile_drags_onto_the_canvas_and_b_shows_the_picture_under_the_result(
    qtbot: Any, window: Any
) -> None:
    gallery = window.gallery
    assert gallery.count.text().startswith("No pictures yet")
    fill_panel(qtbot, window.prompt, **small(steps=2))
    with qtbot.waitSignal(window.worker.finished, timeout=TIMEOUT):
        qtbot.mouseClick(window.prompt.generate, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: gallery.model.rowCount() == 1, timeout=30_000)
    assert gallery.count.text() == "1 picture"
    type_into(qtbot, gallery.search, "zebra")
    qtbot.waitUntil(lambda: gallery.count.text() == "No matches for “zebra”", timeout=30_000)
    type_into(qtbot, gallery.search, "fox")
    qtbot.waitUntil(lambda: gallery.model.rowCount() == 1, timeout=30_000)
    assert gallery.count.text() == "1 picture matching “fox”"
    # 1. a tile dropped on the canvas: the drag carries the picture's file, the canvas opens it
    data = gallery.model.mimeData([gallery.model.index(0)])
    vp = window.canvas_view.viewport()
    pos = vp.rect().center()
    args = (Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(pos, *args)
    QApplication.sendEvent(vp, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(vp, QDragMoveEvent(pos, *args))
    QApplication.sendEvent(vp, QDropEvent(QPointF(pos), *args))
    assert window.canvas.image() is not None and window.canvas.image().size().width() == 64
    assert window.prompt.mode_label.text().startswith("Mode: img2img")
    # 2. an img2img result over it; B held shows the picture underneath, released the result again
    with qtbot.waitSignal(window.worker.finished, timeout=TIMEOUT):
        qtbot.mouseClick(window.prompt.generate, Qt.MouseButton.LeftButton)
    view = window.canvas_view
    assert view.preview_visible
    qtbot.keyPress(view, Qt.Key.Key_B)
    assert not view.preview_visible
    qtbot.keyRelease(view, Qt.Key.Key_B)
    assert view.preview_visible


def test_mask_colour_and_brush_size_are_chosen_and_remembered(qtbot: Any, engine: Any, store: Any) -> None:
    from sdstudio.gui.main_window import MainWindow

    def new_window() -> Any:
        win = MainWindow(
            JobQueue(engine_factory=lambda: engine, store=store), store, state=studio_state(), preload=False
        )
        qtbot.addWidget(win)
        win.show()
        qtbot.waitExposed(win)
        return win

    first = new_window()
    picture = QImage(128, 128, QImage.Format.Format_RGB32)
    picture.fill(QColor("darkred"))  # red content would hide a red mask
    first.send_to_canvas(picture)
    tools, view = first.canvas_tools, first.canvas_view
    tools.mask_color.setFocus()
    qtbot.keyClick(tools.mask_color, Qt.Key.Key_Down)  # Green
    assert tools.mask_color.currentText() == "Green"
    view.setFocus()
    for _ in range(3):
        qtbot.keyClick(view, Qt.Key.Key_BracketRight)
    size = round(first.canvas.brush.size)
    assert size > 48
    vp = view.viewport()
    a, b = view.mapFromScene(30, 64), view.mapFromScene(90, 64)
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=a)
    for i in range(1, 7):
        qtbot.mouseMove(vp, QPoint(a.x() + (b.x() - a.x()) * i // 6, a.y()))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=b)
    painted = view._mask_item.image().pixelColor(60, 64)
    assert painted.green() > 150 and painted.red() < 100  # the overlay in the chosen colour
    first.close()
    second = new_window()
    assert round(second.canvas.brush.size) == size and second.canvas_tools.size.value() == size
    assert second.canvas_tools.mask_color.currentText() == "Green"
    second.close()


def test_jobs_a_crash_left_unrun_are_named_and_queued_again(qtbot: Any, engine: Any, store: Any) -> None:
    import shutil

    from sdstudio.gui.main_window import MainWindow

    def new_window() -> Any:
        win = MainWindow(
            JobQueue(engine_factory=lambda: engine, store=store), store, state=studio_state(), preload=False
        )
        qtbot.addWidget(win)
        win.show()
        qtbot.waitExposed(win)
        return win

    first = new_window()
    fill_panel(qtbot, first.prompt, **small(steps=60, prompt="first fox"))
    steps: list[int] = []
    first.worker.progress.connect(lambda job, p, preview: steps.append(p.step))
    qtbot.mouseClick(first.prompt.generate, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(steps) >= 1, timeout=TIMEOUT)
    fill_panel(qtbot, first.prompt, prompt="second fox")
    qtbot.mouseClick(first.prompt.generate, Qt.MouseButton.LeftButton)
    remembered = studio_state().queue_file
    qtbot.waitUntil(lambda: remembered.is_file() and "second fox" in remembered.read_text(), timeout=TIMEOUT)
    crashed = remembered.with_suffix(".crashed")
    shutil.copy(remembered, crashed)  # what the disk holds when the process dies here
    first.close()
    shutil.copy(crashed, remembered)
    second = new_window()
    message = second.status.message.text()
    assert "2 queued jobs were not run" in message and "first fox" in message and "second fox" in message
    assert second.requeue_button.isVisible()
    qtbot.mouseClick(second.requeue_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(second.queue_panel.job_ids()) == 2, timeout=TIMEOUT)
    assert [j.request.prompt for j in second.queue.jobs()] == ["first fox", "second fox"]
    assert not second.requeue_button.isVisible()
    second.close()
