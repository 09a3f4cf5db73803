"""Gallery > Replay and compare: R on a thumbnail regenerates the picture on the queue and opens the compare
view with the verdict; nothing new lands in the gallery."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from sdstudio.core.request import Request

pytest_plugins = ["tests.gui.window_fixtures"]


def test_r_on_a_thumbnail_replays_it_and_shows_identical(
    qtbot: Any, window: Any, engine: Any, store: Any
) -> None:
    store.add(engine.run(Request(prompt="a lighthouse", steps=2, width=64, height=64, seed=9)))
    window.gallery.refresh()
    qtbot.waitUntil(lambda: window.gallery.model.rowCount() == 1, timeout=30_000)
    window.gallery.select_row(0)
    window.gallery.view.setFocus()
    with qtbot.waitSignal(window.replays.compared, timeout=120_000) as seen:
        qtbot.keyClick(window.gallery.view, Qt.Key.Key_R)
    dialog, verdict = seen.args
    qtbot.addWidget(dialog)
    assert verdict.identical
    assert dialog.findChild(type(window.status.message), "replayVerdict").text().endswith("identical")
    assert "Replayed" in window.status.message.text()
    assert store.count() == 1  # the replay is a check, not a new picture


def test_a_picture_whose_model_is_gone_says_so_in_one_line(
    qtbot: Any, window: Any, store: Any, tmp_path: Any
) -> None:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", "a cat\nSteps: 3, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x64, "
                  "Model hash: 0123456789, Model: gone_v2")  # fmt: skip
    folder = store.root / "elsewhere"
    folder.mkdir()
    Image.new("RGB", (64, 64)).save(folder / "cat.png", pnginfo=info)
    store.rescan()
    window.gallery.refresh()
    qtbot.waitUntil(lambda: window.gallery.model.rowCount() == 1, timeout=30_000)
    window.gallery.select_row(0)
    window.gallery.view.setFocus()
    qtbot.keyClick(window.gallery.view, Qt.Key.Key_R)
    text = window.status.message.text()
    assert text.startswith("Cannot replay cat.png:") and "0123456789" in text and "gone_v2" in text
