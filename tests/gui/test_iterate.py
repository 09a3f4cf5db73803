"""Iterating in the window: grid view clicks, the before/after slider, the X/Y/Z dialog, variations and a plot
on the demo model (real mouse and key events, real worker)."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QToolBar

from sdstudio.core.xyz import Axis, xyz_grid
from sdstudio.core.xyz_grid import draw_xyz
from sdstudio.gui.compare_view import CompareView
from sdstudio.gui.grid_view import GridView, batch_picture
from sdstudio.gui.images import qimage_to_input
from sdstudio.gui.iterate_dialogs import XyzDialog
from tests.gui.window_helpers import fill_panel, small, type_into

pytest_plugins = ["tests.gui.window_fixtures"]

TIMEOUT = 120_000


def _grid() -> Any:
    cells = [[[Image.new("RGB", (64, 64), (40 * x, 40 * y, 90)) for x in range(3)] for y in range(2)]]
    return draw_xyz(cells, ("a", "b", "c"), ("one", "two"), ("",))


def test_clicking_a_cell_names_it_and_labels_do_nothing(qtbot: Any) -> None:
    view = GridView(_grid())
    qtbot.addWidget(view)
    view.resize(500, 300)
    view.show()
    qtbot.waitExposed(view)
    with qtbot.waitSignal(view.cellClicked) as clicked:
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=view.cell_centre(2, 1).toPoint())
    assert clicked.args == [2, 1, 0]
    seen: list = []
    view.cellClicked.connect(lambda *a: seen.append(a))
    corner = view.target().topLeft().toPoint() + QPoint(2, 2)  # the empty label corner
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=corner)
    assert seen == []


def test_batch_grid_has_one_cell_per_picture() -> None:
    pics = [Image.new("RGB", (32, 32), c) for c in ("red", "green", "blue", "white", "black")]
    grid = batch_picture(pics)
    assert len(grid.boxes) == 5 and {b[0] for b in grid.boxes} == {0, 1, 2}


def _solid(colour: str) -> QImage:
    image = QImage(100, 100, QImage.Format.Format_RGB888)
    image.fill(QColor(colour))
    return image


def test_compare_slider_follows_the_mouse_and_side_by_side_shows_both(qtbot: Any) -> None:
    view = CompareView(_solid("red"), _solid("blue"))
    qtbot.addWidget(view)
    view.resize(400, 400)
    view.show()
    qtbot.waitExposed(view)
    rect = view.target()
    at = QPoint(int(rect.x() + rect.width() * 0.25), int(rect.center().y()))
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=at)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=at)
    assert abs(view.split - 0.25) < 0.02
    shot = view.grab().toImage()
    y = int(rect.center().y())
    assert shot.pixelColor(int(rect.x() + rect.width() * 0.1), y).red() > 200  # before, left of the line
    assert shot.pixelColor(int(rect.x() + rect.width() * 0.6), y).blue() > 200  # after, right of it
    view.set_side_by_side(True)
    shot = view.grab().toImage()
    left = view.target()
    assert shot.pixelColor(int(left.center().x()), int(left.center().y())).red() > 200
    assert shot.pixelColor(int(left.right() + left.width() / 2), int(left.center().y())).blue() > 200


def test_xyz_dialog_parses_and_explains(qtbot: Any) -> None:
    dialog = XyzDialog()
    qtbot.addWidget(dialog)
    type_into(qtbot, dialog.values[0], "1-3")
    type_into(qtbot, dialog.values[1], "3, 7")
    x, y, z = dialog.axes()
    assert x.values == (1, 2, 3) and y.values == (3.0, 7.0) and z.kind.label == "Nothing"
    type_into(qtbot, dialog.values[0], "2, lots")
    dialog._accept()
    assert "'lots' is not a valid int value" in dialog.error.text() and not dialog.result()


def test_variations_then_a_plot_whose_cell_opens(qtbot: Any, window: Any) -> None:
    fill_panel(qtbot, window.prompt, **small(steps=2))
    with qtbot.waitSignal(window.worker.finished, timeout=TIMEOUT):
        qtbot.keyClick(window.prompt.prompt.edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    toolbar = window.findChild(QToolBar, "studioToolBar")
    button = toolbar.widgetForAction(window.iterate.variations_action)
    with qtbot.waitSignal(window.worker.finished, timeout=TIMEOUT) as done:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)  # the toolbar's Variations button
    images = done.args[0].result.images
    assert len(images) == 4 and {g.seed for g in images} == {1234}
    assert len({g.request.subseed for g in images}) == 4 and images[0].request.subseed_strength == 0.15

    def plot(base: Any) -> Any:
        return xyz_grid(base.replace(batch_size=1), Axis.parse("Steps:1,2"), Axis.parse("CFG Scale:3,7"))

    with qtbot.waitSignal(window.worker.finished, timeout=TIMEOUT):
        window.iterate.run_grid(plot)
    qtbot.waitUntil(lambda: bool(window.iterate.dialogs), timeout=10_000)
    dialog = window.iterate.dialogs[-1]
    qtbot.waitExposed(dialog)
    qtbot.mouseClick(dialog.view, Qt.MouseButton.LeftButton, pos=dialog.view.cell_centre(1, 1).toPoint())
    shown = window.results()[0]
    assert (shown.request.steps, shown.request.cfg_scale) == (2, 7.0)
    pixmap = window.canvas_view._preview_item.pixmap()
    on_canvas = np.asarray(qimage_to_input(pixmap.toImage()).to_pil().convert("RGB"))
    assert np.array_equal(on_canvas, np.asarray(shown.image.convert("RGB")))
    qtbot.waitUntil(lambda: window.gallery.model.rowCount() >= 1 + 4 + 4 + 1, timeout=30_000)


def test_upscale_the_canvas_picture_on_the_worker(qtbot: Any, window: Any) -> None:
    from sdstudio.core.upscale.extras import ExtrasUpscale

    window.send_to_canvas(_solid("teal"))
    with qtbot.waitSignal(window.worker.finished, timeout=TIMEOUT):
        window.iterate.upscale(ExtrasUpscale(upscaler_1="Nearest", upscaling_resize=2.0))
    qtbot.waitUntil(lambda: window.canvas.image().width() == 200, timeout=10_000)
    assert window.canvas.image().height() == 200
    window.canvas.set_image(None)
    assert window.iterate.upscale(ExtrasUpscale()) is None and "canvas first" in window.status.message.text()


def test_upscale_a_gallery_picture_into_the_gallery(qtbot: Any, window: Any, engine: Any, store: Any) -> None:
    from sdstudio.core.request import Request
    from sdstudio.core.upscale.extras import ExtrasUpscale

    store.add(engine.run(Request(prompt="a teal sea", steps=1, width=64, height=64, seed=4)))
    window.gallery.refresh()
    qtbot.waitUntil(lambda: window.gallery.model.rowCount() == 1, timeout=30_000)
    assert (
        window.iterate.upscale_gallery(ExtrasUpscale()) is None
        and "gallery first" in window.status.message.text()
    )
    view = window.gallery.view
    qtbot.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(view.model().index(0, 0)).center()
    )
    assert "Upscale into the gallery…" in [a.text() for a in view.actions()]  # the thumbnails' context menu
    with qtbot.waitSignal(window.worker.finished, timeout=TIMEOUT):
        window.iterate.upscale_gallery(ExtrasUpscale(upscaler_1="Nearest", upscaling_resize=2.0))
    qtbot.waitUntil(lambda: store.count() == 2, timeout=10_000)
    newest = store.search("teal")[0]
    assert (newest.width, newest.height, newest.prompt) == (128, 128, "a teal sea")


def test_two_gallery_pictures_side_by_side(qtbot: Any, window: Any, engine: Any, store: Any) -> None:
    from sdstudio.core.request import Request

    for seed in (1, 2):
        store.add(engine.run(Request(prompt="a dune", steps=1, width=64, height=64, seed=seed)))
    window.gallery.refresh()
    qtbot.waitUntil(lambda: window.gallery.model.rowCount() == 2, timeout=30_000)
    view = window.gallery.view
    centre = [view.visualRect(view.model().index(i, 0)).center() for i in range(2)]
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=centre[0])
    assert window.iterate.compare_gallery() is None and "two pictures" in window.status.message.text()
    qtbot.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, centre[1]
    )
    dialog = window.iterate.compare_gallery()
    assert dialog is not None and dialog.view.before.size() == dialog.view.after.size()
    qtbot.waitExposed(dialog)
    box = dialog.side_by_side
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))  # on its indicator
    assert box.isChecked() and dialog.view.side_by_side


def test_outpaint_the_canvas_picture(qtbot: Any, window: Any) -> None:
    from sdstudio.core.outpaint import Outpaint

    fill_panel(qtbot, window.prompt, **small(steps=2, strength=1))
    window.send_to_canvas(_solid("teal").scaled(64, 64))
    with qtbot.waitSignal(window.worker.finished, timeout=TIMEOUT) as done:
        window.iterate.outpaint(Outpaint(right=32, blend=8))
    result = done.args[0].result.images[0]
    assert result.image.size == (96, 64) and result.request.mask is not None
    left = np.asarray(result.image.convert("RGB"))[:, :16]
    assert (np.abs(left.astype(int) - np.array([0, 128, 128])) <= 1).all()  # the original, untouched
