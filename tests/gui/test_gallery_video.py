"""A finished animation in the main gallery, with real mouse and key events: rendered from the Animation dock,
it appears as a video tile, double-click plays it, and Reuse loads its settings back into the Animation panel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractSpinBox

pytest_plugins = ["tests.gui.window_fixtures"]


def _type_number(qtbot: Any, box: QAbstractSpinBox, value: int) -> None:
    box.setFocus()
    qtbot.keyClick(box, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(box, str(value))
    qtbot.keyClick(box, Qt.Key.Key_Tab)


def test_a_finished_animation_plays_from_the_gallery_and_reuse_restores_it(
    qtbot: Any, window: Any, store: Any, tmp_path: Path
) -> None:
    panel = window.animation
    window.animation_dock.raise_()
    qtbot.waitUntil(panel.isVisible)
    for name, value in (("max_frames", 3), ("W", 64), ("H", 64), ("steps", 2), ("seed", 5)):
        _type_number(qtbot, panel.numbers[name], value)
    out = store.root / "animations" / "clip.gif"
    panel.output.setFocus()
    qtbot.keyClicks(panel.output, str(out))
    qtbot.mouseClick(panel.render_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.render_button.isEnabled() and out.is_file(), timeout=180_000)
    assert panel.error.text() == ""

    # 1. the store holds a video entry with its settings' prompt, size and seed; its thumbnail is a frame
    (record,) = store.search(kind="video")
    assert Path(record.path) == out.resolve() and record.project.endswith("clip-animation")
    assert (record.width, record.height, record.seed) == (64, 64, 5)
    assert store.thumbnail(record.id).is_file()
    assert [r.id for r in store.search("lighthouse")] == [record.id]

    # 2. the gallery shows it with a badge; double-click plays its frames
    window.gallery_dock.raise_()
    gallery = window.gallery
    qtbot.waitUntil(lambda: gallery.model.rowCount() == 1)
    assert gallery.model.record(0).kind == "video"
    qtbot.waitUntil(lambda: gallery.model.thumbnails_loaded() == 1)
    assert "▶" in gallery.model.data(gallery.model.index(0), Qt.ItemDataRole.ToolTipRole)
    rect = gallery.view.visualRect(gallery.model.index(0))
    qtbot.mouseClick(gallery.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(gallery.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    player = gallery.player
    assert player is not None and player.count == 3
    qtbot.waitExposed(player)
    qtbot.waitUntil(lambda: player.shown >= 4, timeout=5000)  # looped past the last frame
    assert not player.picture.pixmap().isNull() and "3 frames at" in player.info.text()
    qtbot.keyClick(player, Qt.Key.Key_Space)
    assert not player.playing()

    # 3. Reuse brings the animation's settings back after they were changed
    window.animation_dock.raise_()
    _type_number(qtbot, panel.numbers["max_frames"], 40)
    _type_number(qtbot, panel.numbers["W"], 128)
    window.gallery_dock.raise_()
    qtbot.mouseClick(player.reuse, Qt.MouseButton.LeftButton)
    assert panel.numbers["max_frames"].value() == 3 and panel.settings().W == 64
    assert panel.settings().seed == 5
    qtbot.waitUntil(panel.isVisible)  # the Animation dock is brought forward
    player.close()
