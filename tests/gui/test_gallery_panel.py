"""The gallery panel over a store of real demo generations: order, lazy thumbnails, search, actions."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel

from sdstudio.core.jobs import JobQueue
from sdstudio.core.request import Request
from sdstudio.gui.gallery_panel import GalleryPanel
from tests.gui.window_helpers import same_params, type_into

pytest_plugins = ["tests.gui.window_fixtures"]


@pytest.fixture
def filled(engine: Any, store: Any) -> Any:
    """Three saved generations: 'red fox', 'blue whale', 'red panda' (newest)."""
    queue = JobQueue(engine_factory=lambda: engine, store=store)
    for i, prompt in enumerate(("red fox", "blue whale", "red panda")):
        queue.submit(Request(prompt=prompt, steps=1, width=64, height=64, seed=10 + i))
        queue.run_pending()
    return store


def _click_row(qtbot: Any, panel: GalleryPanel, row: int) -> None:
    rect = panel.view.visualRect(panel.model.index(row))
    qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_newest_first_with_thumbnails_made_off_the_gui_thread(qtbot: Any, filled: Any) -> None:
    threads: list[threading.Thread] = []
    original = filled.thumbnail

    def spy(record_id: int) -> Any:
        threads.append(threading.current_thread())
        return original(record_id)

    filled.thumbnail = spy
    panel = GalleryPanel(filled)
    qtbot.addWidget(panel)
    assert [panel.model.record(r).prompt for r in range(3)] == ["red panda", "blue whale", "red fox"]
    assert panel.model.thumbnails_loaded() == 0  # nothing loads before a tile is shown
    panel.resize(600, 400)
    panel.show()
    qtbot.waitUntil(lambda: panel.model.thumbnails_loaded() == 3, timeout=30_000)
    assert threads and all(t is not threading.main_thread() for t in threads)


def test_search_send_to_canvas_reuse_view_and_delete(qtbot: Any, filled: Any) -> None:
    panel = GalleryPanel(filled)
    qtbot.addWidget(panel)
    panel.resize(600, 400)
    panel.show()
    type_into(qtbot, panel.search, "red")
    qtbot.waitUntil(lambda: panel.model.rowCount() == 2, timeout=30_000)
    assert {panel.model.record(r).prompt for r in range(2)} == {"red fox", "red panda"}
    assert not panel.send_button.isEnabled()
    _click_row(qtbot, panel, 1)
    assert panel.selected().prompt == "red fox"

    with qtbot.waitSignal(panel.sendToCanvas) as sent:
        qtbot.mouseClick(panel.send_button, Qt.MouseButton.LeftButton)
    assert (sent.args[0].width(), sent.args[0].height()) == (64, 64)
    with qtbot.waitSignal(panel.reuseRequested) as reused:
        qtbot.mouseClick(panel.reuse_button, Qt.MouseButton.LeftButton)
    assert same_params(reused.args[0], filled.request_of(panel.selected())) and reused.args[0].seed == 10

    qtbot.mouseClick(panel.open_button, Qt.MouseButton.LeftButton)
    assert panel.viewer is not None and panel.viewer.isVisible()
    shown = panel.viewer.findChild(QLabel, "parameters").text()
    assert shown.startswith("red fox\n") and "Steps: 1, Sampler: DPM++ 2M" in shown and "Seed: 10," in shown
    panel.viewer.close()

    with qtbot.waitSignal(panel.message) as msg:
        qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    assert msg.args[0].startswith("Moved ") and "to the trash." in msg.args[0] and not msg.args[1]
    assert [r.prompt for r in filled.search("")] == ["red panda", "blue whale"]
    QApplication.processEvents()
    assert [panel.model.record(r).prompt for r in range(panel.model.rowCount())] == ["red panda"]
    type_into(qtbot, panel.search, "")
    qtbot.waitUntil(lambda: panel.model.rowCount() == 2, timeout=30_000)


def test_star_with_the_button_or_s_and_filter_starred(qtbot: Any, filled: Any) -> None:
    panel = GalleryPanel(filled)
    qtbot.addWidget(panel)
    panel.resize(600, 400)
    panel.show()
    qtbot.waitUntil(lambda: panel.model.thumbnails_loaded() == 3, timeout=30_000)
    plain = panel.model.data(panel.model.index(1), Qt.ItemDataRole.DecorationRole).pixmap(128, 128).toImage()
    _click_row(qtbot, panel, 1)  # blue whale
    assert not panel.star_button.isChecked()
    qtbot.mouseClick(panel.star_button, Qt.MouseButton.LeftButton)
    assert panel.star_button.isChecked() and panel.selected().starred
    assert [r.prompt for r in filled.search("", starred=True)] == ["blue whale"]
    starred = (
        panel.model.data(panel.model.index(1), Qt.ItemDataRole.DecorationRole).pixmap(128, 128).toImage()
    )
    assert starred != plain  # the tile shows its star
    assert panel.model.data(panel.model.index(1), Qt.ItemDataRole.ToolTipRole).startswith("★ blue whale")
    _click_row(qtbot, panel, 0)  # red panda, starred with the key
    panel.view.setFocus()
    qtbot.keyClick(panel.view, Qt.Key.Key_S)
    assert {r.prompt for r in filled.search("", starred=True)} == {"blue whale", "red panda"}
    qtbot.mouseClick(panel.starred_filter, Qt.MouseButton.LeftButton)
    assert [panel.model.record(r).prompt for r in range(panel.model.rowCount())] == [
        "red panda",
        "blue whale",
    ]
    _click_row(qtbot, panel, 0)
    qtbot.keyClick(panel.view, Qt.Key.Key_S)  # unstar
    assert [r.prompt for r in filled.search("", starred=True)] == ["blue whale"]
    qtbot.mouseClick(panel.starred_filter, Qt.MouseButton.LeftButton)
    assert panel.model.rowCount() == 3


def test_the_view_dialog_fits_pages_with_the_arrow_keys_and_acts(qtbot: Any, filled: Any) -> None:
    panel = GalleryPanel(filled)
    qtbot.addWidget(panel)
    panel.resize(600, 400)
    panel.show()
    qtbot.waitUntil(lambda: panel.model.rowCount() == 3, timeout=30_000)
    _click_row(qtbot, panel, 0)
    qtbot.mouseClick(panel.open_button, Qt.MouseButton.LeftButton)
    viewer = panel.viewer
    qtbot.waitExposed(viewer)
    viewer.resize(300, 260)  # smaller than... the picture is 64 px: shown whole, never cropped
    qtbot.waitUntil(lambda: viewer.picture.pixmap().width() <= viewer.picture.width())
    assert viewer.info.text().startswith("red panda\n") and "1 of 3" in viewer.position.text()
    qtbot.keyClick(viewer, Qt.Key.Key_Right)
    assert viewer.info.text().startswith("blue whale\n") and panel.selected().prompt == "blue whale"
    qtbot.keyClick(viewer, Qt.Key.Key_Right)
    qtbot.keyClick(viewer, Qt.Key.Key_Right)  # the last stays
    assert viewer.info.text().startswith("red fox\n") and "3 of 3" in viewer.position.text()
    qtbot.keyClick(viewer, Qt.Key.Key_Left)
    qtbot.mouseClick(viewer.star, Qt.MouseButton.LeftButton)
    assert filled.get(panel.selected().id).starred and viewer.star.isChecked()
    with qtbot.waitSignal(panel.sendToCanvas):
        qtbot.mouseClick(viewer.send, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(panel.reuseRequested) as reused:
        qtbot.mouseClick(viewer.reuse, Qt.MouseButton.LeftButton)
    assert reused.args[0].prompt == "blue whale"
    viewer.close()


def test_a_landscape_thumbnail_is_centred_in_a_square_tile(qtbot: Any) -> None:
    from PySide6.QtGui import QColor, QImage

    from sdstudio.gui.gallery_model import THUMB, square

    wide = QImage(THUMB, THUMB // 2, QImage.Format.Format_RGB32)
    wide.fill(QColor("orange"))
    tile = square(wide)
    assert (tile.width(), tile.height()) == (THUMB, THUMB)  # the selection frame fits the tile
    assert tile.pixelColor(THUMB // 2, THUMB // 2) == QColor("orange")  # the picture in the middle
    assert tile.pixelColor(THUMB // 2, 2).alpha() == 0  # bands above and below, not the picture stretched


def test_several_pictures_are_starred_and_deleted_and_ctrl_z_brings_them_back(
    qtbot: Any, filled: Any
) -> None:
    panel = GalleryPanel(filled)
    qtbot.addWidget(panel)
    panel.resize(600, 400)
    panel.show()
    qtbot.waitUntil(lambda: panel.model.rowCount() == 3, timeout=30_000)
    _click_row(qtbot, panel, 0)
    rect = panel.view.visualRect(panel.model.index(2))
    qtbot.mouseClick(
        panel.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, rect.center()
    )
    assert panel.selected_rows() == [0, 2]
    qtbot.mouseClick(panel.star_button, Qt.MouseButton.LeftButton)
    assert sorted(r.prompt for r in filled.search("", starred=True)) == ["red fox", "red panda"]
    with qtbot.waitSignal(panel.message) as msg:
        qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    assert msg.args[0].startswith("Moved 2 pictures to the trash") and "Ctrl+Z" in msg.args[0]
    assert [r.prompt for r in filled.search("")] == ["blue whale"]
    assert panel.count.text() == "1 picture"
    panel.view.setFocus()
    qtbot.keyClick(panel.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert sorted(r.prompt for r in filled.search("")) == ["blue whale", "red fox", "red panda"]
    qtbot.waitUntil(lambda: panel.model.rowCount() == 3, timeout=30_000)
    assert panel.count.text() == "3 pictures"
