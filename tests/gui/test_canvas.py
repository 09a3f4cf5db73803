"""The canvas with real mouse and key events: strokes, undo/redo, eraser, lines, zoom, files, autosave."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage

from sdstudio.gui.canvas import CanvasModel, CanvasView


def _mask(model: CanvasModel) -> np.ndarray:
    m = model.mask_image()
    ptr = m.constBits()
    return np.frombuffer(bytes(ptr), np.uint8).reshape(m.height(), m.bytesPerLine())[:, : m.width()]


def _shown_view(qtbot) -> tuple[CanvasModel, CanvasView]:
    model = CanvasModel()
    view = CanvasView(model)
    qtbot.addWidget(view)
    view.resize(500, 400)
    view.show()
    qtbot.waitExposed(view)
    return model, view


@pytest.fixture
def canvas(qtbot) -> tuple[CanvasModel, CanvasView]:
    model, view = _shown_view(qtbot)
    img = QImage(200, 160, QImage.Format.Format_RGB32)
    img.fill(QColor(30, 90, 150))
    model.set_image(img)
    model.undo_stack.clear()
    view.actual_size()
    model.brush.size, model.brush.hardness = 20, 1.0
    return model, view


def _vp(view: CanvasView, x: float, y: float) -> QPoint:
    return view.mapFromScene(QPointF(x, y))


def _stroke(
    qtbot, view: CanvasView, points: list[tuple[float, float]], modifier=Qt.KeyboardModifier.NoModifier
) -> None:
    vp = view.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, modifier, _vp(view, *points[0]))
    for p in points[1:]:
        qtbot.mouseMove(vp, _vp(view, *p))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, modifier, _vp(view, *points[-1]))


def test_stroke_paints_along_its_path_at_the_brush_radius(qtbot, canvas) -> None:
    model, view = canvas
    _stroke(qtbot, view, [(40, 80), (80, 80), (120, 80)])
    m = _mask(model)
    assert all(m[80, x] == 255 for x in range(40, 121, 5))  # along the path
    assert m[80 - 7, 60] > 0 and m[80 + 7, 100] > 0  # within the radius (10 px)
    assert m[80 - 14, 60] == 0 and m[80, 140] == 0 and m[20, 20] == 0  # nothing far from it
    assert model.has_mask() and model.undo_stack.count() == 1


def test_undo_clears_and_redo_restores_the_stroke(qtbot, canvas) -> None:
    model, view = canvas
    _stroke(qtbot, view, [(50, 50), (100, 60)])
    painted = _mask(model).copy()
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not _mask(model).any() and not model.has_mask()
    qtbot.keyClick(
        view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    assert (_mask(model) == painted).all()
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(view, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert (_mask(model) == painted).all()


def test_each_stroke_is_one_undo_step_and_keeps_only_its_rectangle(qtbot, canvas) -> None:
    model, view = canvas
    _stroke(qtbot, view, [(30, 30), (40, 30), (50, 30), (60, 30)])
    _stroke(qtbot, view, [(150, 120), (160, 130)])
    assert model.undo_stack.count() == 2
    cmd = model.undo_stack.command(1)
    assert cmd.before.width() * cmd.before.height() < 200 * 160 / 4
    model.undo_stack.undo()
    m = _mask(model)
    assert m[30, 45] == 255 and m[125, 155] == 0


def test_eraser_removes_paint(qtbot, canvas) -> None:
    model, view = canvas
    _stroke(qtbot, view, [(40, 80), (160, 80)])
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_E)
    assert model.brush.erase
    _stroke(qtbot, view, [(100, 80), (100, 81)])
    m = _mask(model)
    assert m[80, 100] == 0 and m[80, 50] == 255 and m[80, 150] == 255


def test_shift_click_draws_a_straight_line_from_the_last_point(qtbot, canvas) -> None:
    model, view = canvas
    _stroke(qtbot, view, [(20, 20), (20, 21)])
    _stroke(qtbot, view, [(180, 140)], modifier=Qt.KeyboardModifier.ShiftModifier)
    m = _mask(model)
    for t in np.linspace(0, 1, 9):
        x, y = 20 + 160 * t, 20 + 120 * t
        assert m[int(round(y)), int(round(x))] == 255
    assert m[140, 20] == 0  # off the line


def test_bracket_keys_resize_the_brush(qtbot, canvas) -> None:
    model, view = canvas
    view.setFocus()
    before = model.brush.size
    qtbot.keyClick(view, Qt.Key.Key_BracketRight)
    assert model.brush.size > before
    qtbot.keyClick(view, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(view, Qt.Key.Key_BracketLeft)
    assert model.brush.size < before


def test_invert_and_clear_are_undoable(qtbot, canvas) -> None:
    model, _ = canvas
    model.invert_mask()
    assert _mask(model).min() == 255
    model.clear_mask()
    assert not model.has_mask()
    model.undo_stack.undo()
    assert _mask(model).min() == 255
    model.undo_stack.undo()
    assert not model.has_mask()


def test_wheel_zoom_keeps_the_point_under_the_cursor(qtbot, canvas) -> None:
    from PySide6.QtCore import QPoint as P
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    model, view = canvas
    anchor = _vp(view, 150, 40)
    before = view.mapToScene(anchor)
    zoom = view.zoom
    event = QWheelEvent(
        QPointF(anchor),
        QPointF(view.viewport().mapToGlobal(anchor)),
        P(0, 0),
        P(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view.viewport(), event)
    assert view.zoom == pytest.approx(zoom * 1.25)
    after = view.mapToScene(anchor)
    assert abs(after.x() - before.x()) <= 1 and abs(after.y() - before.y()) <= 1


def test_corrupt_file_reports_and_keeps_the_picture(qtbot, canvas, tmp_path: Path) -> None:
    model, _ = canvas
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with qtbot.waitSignal(model.error) as sig:
        assert not model.load_image(bad)
    assert "bad.png" in sig.args[0]
    assert model.image().width() == 200
    good = tmp_path / "good.png"
    QImage(64, 48, QImage.Format.Format_RGB32).save(str(good))
    assert model.load_image(good) and model.image().width() == 64 and model.mask_image().width() == 64


def test_save_and_restore_state_round_trip(qtbot, canvas, tmp_path: Path) -> None:
    model, view = canvas
    _stroke(qtbot, view, [(60, 60), (90, 90)])
    model.save_state(tmp_path / "auto")
    other = CanvasModel()
    assert other.restore_state(tmp_path / "auto")
    assert other.image().size() == model.image().size()
    assert (_mask(other) == _mask(model)).all()
    init, mask = other.to_inputs()
    assert init.width == 200 and mask is not None and mask.to_pil().getpixel((75, 75)) == 255


def test_preview_shows_over_the_picture_without_touching_it(qtbot, canvas) -> None:
    model, view = canvas
    preview = QImage(25, 20, QImage.Format.Format_RGB32)
    preview.fill(QColor(255, 0, 0))
    view.show_preview(preview)
    assert view._preview_item.isVisible() and view._preview_item.sceneBoundingRect().width() == pytest.approx(
        200
    )
    view.show_preview(None)
    assert not view._preview_item.isVisible() and model.image().pixelColor(5, 5) == QColor(30, 90, 150)


def test_paste_and_drop_put_a_picture_on_the_canvas(qtbot, canvas, tmp_path: Path) -> None:
    from PySide6.QtCore import QMimeData, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    model, view = canvas
    pasted = QImage(90, 70, QImage.Format.Format_RGB32)
    pasted.fill(QColor(10, 200, 10))
    QApplication.clipboard().setImage(pasted)
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert model.image().size() == pasted.size() and model.image().pixelColor(3, 3) == QColor(10, 200, 10)
    dropped = tmp_path / "dropped.png"
    img = QImage(40, 30, QImage.Format.Format_RGB32)
    img.fill(QColor(200, 10, 10))
    img.save(str(dropped))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(dropped))])
    pos = view.viewport().rect().center()
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(pos, *args)
    QApplication.sendEvent(view.viewport(), enter)
    assert enter.isAccepted()
    QApplication.sendEvent(view.viewport(), QDragMoveEvent(pos, *args))
    QApplication.sendEvent(view.viewport(), QDropEvent(QPointF(pos), *args))
    assert model.image().size().width() == 40 and model.image().pixelColor(3, 3) == QColor(200, 10, 10)
    model.undo_stack.undo()  # the drop is one undo step back to the pasted picture
    assert model.image().size() == pasted.size()


def _scroll(view: CanvasView) -> tuple[int, int]:
    return view.horizontalScrollBar().value(), view.verticalScrollBar().value()


@pytest.mark.parametrize("how", ["middle", "space"])
def test_pan_with_middle_button_or_space_drag_moves_the_view_not_the_mask(qtbot, canvas, how) -> None:
    model, view = canvas
    view.zoom_by(4)  # 800x640 in a 500x400 view: room to pan
    vp = view.viewport()
    view.horizontalScrollBar().setValue(200)
    view.verticalScrollBar().setValue(150)
    before = _scroll(view)
    button = Qt.MouseButton.MiddleButton if how == "middle" else Qt.MouseButton.LeftButton
    if how == "space":
        qtbot.keyPress(view, Qt.Key.Key_Space)
    qtbot.mousePress(vp, button, pos=QPoint(250, 200))
    qtbot.mouseMove(vp, QPoint(210, 170))
    qtbot.mouseMove(vp, QPoint(190, 150))
    qtbot.mouseRelease(vp, button, pos=QPoint(190, 150))
    if how == "space":
        qtbot.keyRelease(view, Qt.Key.Key_Space)
    assert _scroll(view) == (before[0] + 60, before[1] + 50)  # the picture follows the hand
    assert not model.has_mask() and model.undo_stack.count() == 0  # panning paints nothing
    _stroke(qtbot, view, [(60, 60), (70, 60)])  # after Space is released the left button paints again
    assert model.has_mask()


def test_fit_shows_the_whole_picture_and_100_percent_is_one_to_one(qtbot, canvas) -> None:
    model, view = canvas
    view.zoom_by(5)
    view.fit()
    shown = view.mapToScene(view.viewport().rect()).boundingRect()
    assert shown.contains(QRectF(0, 0, 200, 160))  # the whole picture
    assert view.zoom == pytest.approx(
        min(view.viewport().width() / 200, view.viewport().height() / 160), rel=0.05
    )
    view.actual_size()
    assert view.zoom == 1.0
    a, b = view.mapFromScene(QPointF(10, 10)), view.mapFromScene(QPointF(110, 10))
    assert b.x() - a.x() == 100  # one picture pixel per screen pixel


def test_empty_canvas_shows_a_hint_that_a_picture_replaces(qtbot) -> None:
    model, view = _shown_view(qtbot)

    def light_pixels() -> int:
        grey = view.viewport().grab().toImage().convertToFormat(QImage.Format.Format_Grayscale8)
        data = np.frombuffer(bytes(grey.constBits()), np.uint8).reshape(grey.height(), grey.bytesPerLine())
        return int((data[:, : grey.width()] > 120).sum())

    assert view.hint_visible and light_pixels() > 200  # the hint's text
    img = QImage(200, 160, QImage.Format.Format_RGB32)
    img.fill(QColor(30, 30, 34))  # as dark as the background: only text would be light
    model.set_image(img)
    assert not view.hint_visible and light_pixels() == 0


def test_painting_over_a_shown_result_brings_back_the_picture_and_mask(qtbot, canvas) -> None:
    model, view = canvas
    result = QImage(200, 160, QImage.Format.Format_RGB32)
    result.fill(QColor("yellow"))
    view.show_preview(result)
    assert view._preview_item.isVisible() and not view._mask_item.isVisible()
    _stroke(qtbot, view, [(50, 50), (90, 50)])
    assert not view._preview_item.isVisible() and view._mask_item.isVisible()
    assert model.has_mask()


def test_preview_of_an_only_masked_job_lies_over_its_box(qtbot, canvas) -> None:
    model, view = canvas  # a 200x160 picture
    preview = QImage(16, 8, QImage.Format.Format_RGB32)
    preview.fill(QColor("yellow"))
    view.show_preview(preview, (40, 80, 168, 144))
    shown = view._preview_item.sceneBoundingRect()
    assert (shown.left(), shown.top(), shown.right(), shown.bottom()) == (40, 80, 168, 144)
    view.show_preview(preview)  # whole picture
    shown = view._preview_item.sceneBoundingRect()
    assert (shown.left(), shown.top(), shown.right(), shown.bottom()) == (0, 0, 200, 160)
