"""The reference strip in the studio window: gallery tiles dragged onto it, and "Pose from reference…" on the
canvas toolbar for fixing a hand (issue 13, point 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage

from sdstudio.core import references
from sdstudio.core.request import InpaintArea

pytest_plugins = ["tests.gui.window_fixtures"]


def _paint_mask(qtbot: Any, win: Any) -> None:
    view = win.canvas_view
    vp = view.viewport()
    a, b = view.mapFromScene(16, 32), view.mapFromScene(48, 32)
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=a)
    for i in range(1, 9):
        qtbot.mouseMove(vp, QPoint(a.x() + (b.x() - a.x()) * i // 8, a.y()))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=b)


def test_pose_from_reference_on_the_canvas_toolbar(
    qtbot: Any, window: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo = tmp_path / "open-hand.png"
    Image.new("RGB", (80, 64), (180, 140, 120)).save(photo)
    chosen: list[str] = []

    def dialog(*_: Any, **__: Any) -> tuple[str, str]:  # the system's file dialog cannot be clicked in a test
        chosen.append("asked")
        return str(photo), ""

    monkeypatch.setattr("sdstudio.gui.reference_actions.QFileDialog.getOpenFileName", dialog)
    window.resize(1400, 800)
    button = window.canvas_tools.widgetForAction(window.pose_action)
    assert button is not None and button.isVisible()
    # 1. no picture, no mask: it says what to do and asks for no file
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert "paint a mask over the hand" in window.status.message.text() and not chosen
    # 2. a picture with a mask over the hand: the photo becomes a pose reference, only the masked part repainted
    image = QImage(64, 64, QImage.Format.Format_RGB32)
    image.fill(QColor("peru"))
    window.send_to_canvas(image)
    _paint_mask(qtbot, window)
    window.studio.set("inpaint_area", InpaintArea.whole)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert chosen == ["asked"]
    units = window.studio.get("controls")
    assert len(units) == 1 and references.kind_of(units[0]) == "pose"
    assert units[0].name == "open-hand.png" and window.studio.get("inpaint_area") is InpaintArea.only_masked
    assert window.prompt.inpaint_area.currentData() == InpaintArea.only_masked.value
    assert window.prompt.references.cards[0].name.text() == "open-hand.png"
