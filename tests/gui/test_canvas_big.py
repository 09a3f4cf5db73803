"""Painting stays cheap on big pictures: dirty-rectangle overlay, encodings off the GUI thread, the picture
autosaved once and the mask per stroke (real mouse events)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QPointF, QRect, Qt, QThread
from PySide6.QtGui import QColor, QImage

from sdstudio.core.persistence import CANVAS_DIR, StudioPaths, open_state
from sdstudio.core.studio import StudioModel
from sdstudio.gui.autosave import Autosaver
from sdstudio.gui.canvas import CanvasModel, CanvasView
from sdstudio.gui.canvas.encoder import CanvasEncoder

SIDE = 1024


def _studio(qtbot: Any, folder: Path) -> tuple[CanvasModel, CanvasView, CanvasEncoder, Autosaver]:
    model = CanvasModel()
    view = CanvasView(model)
    qtbot.addWidget(view)
    view.resize(600, 500)
    view.show()
    qtbot.waitExposed(view)
    encoder = CanvasEncoder(model, view)
    saver = Autosaver(StudioModel(), model, encoder, open_state(StudioPaths.under(folder)))
    picture = QImage(SIDE, SIDE, QImage.Format.Format_RGB32)
    picture.fill(QColor(20, 110, 60))
    model.set_image(picture)
    model.brush.size = 40
    return model, view, encoder, saver


def _stroke(qtbot: Any, view: CanvasView, y: float) -> None:
    vp = view.viewport()
    points = [view.mapFromScene(QPointF(x, y)) for x in range(200, 520, 40)]
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=points[0])
    for p in points[1:]:
        qtbot.mouseMove(vp, p)
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=points[-1])


def test_a_stroke_recolours_only_its_rectangles_of_the_overlay(qtbot: Any, tmp_path: Path) -> None:
    model, view, _, _ = _studio(qtbot, tmp_path)
    rects: list[QRect] = []
    model.maskChanged.connect(rects.append)
    _stroke(qtbot, view, 300)
    assert len(rects) >= 8 and all(r.width() * r.height() < SIDE * SIDE // 50 for r in rects)
    overlay = view._mask_item.image()
    assert overlay.pixelColor(360, 300).alpha() > 200 and overlay.pixelColor(360, 300).red() > 200
    assert overlay.pixelColor(360, 700).alpha() == 0  # never painted, never touched
    model.undo_stack.undo()
    assert QRect(170, 270, 360, 60).contains(rects[-1])  # the undo repaints the stroke's rectangle only
    assert view._mask_item.image().pixelColor(360, 300).alpha() == 0


def test_the_picture_is_saved_once_and_the_mask_per_stroke_off_the_gui_thread(
    qtbot: Any, tmp_path: Path
) -> None:
    model, view, encoder, saver = _studio(qtbot, tmp_path)
    threads: list[QThread] = []
    encoder._signals.done.connect(
        lambda *_: threads.append(QThread.currentThread()), Qt.ConnectionType.DirectConnection
    )
    canvas = StudioPaths.under(tmp_path).state_dir / CANVAS_DIR
    image_png, mask_png = canvas / "image.png", canvas / "mask.png"
    qtbot.waitUntil(image_png.exists, timeout=30_000)
    first = image_png.stat()
    _stroke(qtbot, view, 300)
    qtbot.waitUntil(mask_png.exists, timeout=30_000)
    after_one = mask_png.read_bytes()
    _stroke(qtbot, view, 600)
    qtbot.waitUntil(lambda: mask_png.read_bytes() != after_one, timeout=30_000)
    saver._writer.waitForDone(10_000)
    again = image_png.stat()
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)  # written once
    mask = QImage(str(mask_png))
    assert mask.pixelColor(360, 300).value() == 255 and mask.pixelColor(360, 600).value() == 255
    assert threads and all(t is not QThread.currentThread() for t in threads)  # encoded elsewhere
    assert encoder.inputs() is not None and encoder.inputs()[1].png == mask_png.read_bytes()  # encoded once


def _ring_colours(qtbot: Any, fill: str) -> tuple[int, int]:
    """(darkest, lightest) grey value on the brush outline, drawn over a picture filled with `fill`."""
    model = CanvasModel()
    view = CanvasView(model)
    qtbot.addWidget(view)
    view.resize(300, 300)
    view.show()
    qtbot.waitExposed(view)
    picture = QImage(200, 200, QImage.Format.Format_RGB32)
    picture.fill(QColor(fill))
    model.set_image(picture)
    view.actual_size()
    model.brush.size = 60
    centre = view.mapFromScene(QPointF(100, 100))
    qtbot.mouseMove(view.viewport(), centre + QPoint(3, 3))
    qtbot.mouseMove(view.viewport(), centre)
    assert view.brush_cursor.isVisible()
    shot = view.viewport().grab().toImage()
    values = [shot.pixelColor(centre.x() + dx, centre.y()).value() for dx in range(26, 35)]
    return min(values), max(values)


def test_the_brush_outline_shows_on_dark_and_light_pictures_and_leaves_with_the_pointer(qtbot: Any) -> None:
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    dark, _ = _ring_colours(qtbot, "white")
    _, light = _ring_colours(qtbot, "black")
    assert dark < 100 and light > 150  # a dark ring on white, a light one on black
    model, view, _, _ = _studio(qtbot, Path("/nonexistent-unused"))
    qtbot.mouseMove(view.viewport(), view.mapFromScene(QPointF(310, 300)))
    qtbot.mouseMove(view.viewport(), view.mapFromScene(QPointF(300, 300)))
    assert view.brush_cursor.isVisible() and not view.brush_cursor.erase
    qtbot.keyClick(view, Qt.Key.Key_E)  # the eraser's outline is dashed: it looks different
    assert view.brush_cursor.erase
    QApplication.sendEvent(view, QEvent(QEvent.Type.Leave))
    assert not view.brush_cursor.isVisible()
