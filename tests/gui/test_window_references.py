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
from sdstudio.core.request import InpaintArea, InputImage

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


def test_a_strip_reference_steers_the_job_and_reuse_brings_it_back(
    qtbot: Any, window: Any, engine: Any, tmp_path: Path
) -> None:
    from diffusers import UNet2DConditionModel

    from sdstudio.core import demo
    from sdstudio.core.gallery.reading import read_parameters
    from tests.core.test_control_engine import _tiny_controlnet
    from tests.gui.test_reference_strip import bar_picture, drop, files
    from tests.gui.window_helpers import fill_panel, small

    # 1. an A1111 folder with a tiny canny ControlNet: the cards offer it once the folder is added
    root = tmp_path / "webui"
    (root / "models" / "Stable-diffusion").mkdir(parents=True)
    unet = UNet2DConditionModel.from_pretrained(str(demo.demo_path() / "unet"))
    _tiny_controlnet(unet, 1).save_pretrained(str(root / "models" / "ControlNet" / "tiny_sd15_canny"))
    window.add_model_root(root)
    engine.library.add_root(root)  # the fixture's engine has a library of its own (the studio's shares one)
    strip = window.prompt.references
    # 2. a picture dropped on the strip, made a canny reference with that model, named by the prompt's tag
    assert drop(qtbot, strip, files(bar_picture(tmp_path / "box.png")))
    card = strip.cards[0]
    window.studio.set("controls", references.edited(window.studio.get("controls"), 0, kind="canny"))
    card.model.setFocus()
    qtbot.keyClick(card.model, Qt.Key.Key_Down)  # Auto -> tiny_sd15_canny
    assert window.studio.get("controls")[0].model == "tiny_sd15_canny"
    fill_panel(qtbot, window.prompt, **small(prompt="a box {image:box}", steps=2))
    ended: list[str] = []
    window.worker.failed.connect(lambda job, text: ended.append(text))
    window.worker.finished.connect(lambda message: ended.append(""))
    qtbot.mouseClick(window.prompt.generate, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(ended), timeout=120_000)
    assert ended == [""]  # finished, not failed
    qtbot.waitUntil(lambda: window.gallery.model.rowCount() == 1, timeout=30_000)
    record = window.gallery.model.record(0)
    text = read_parameters(Path(record.path)).infotext
    assert 'ControlNet 0: "Module: canny, Model: tiny_sd15_canny' in text
    # 3. the strip emptied, then Reuse parameters on the picture brings the reference back
    qtbot.mouseClick(card.remove, Qt.MouseButton.LeftButton)
    assert window.studio.get("controls") == ()
    view = window.gallery.view
    qtbot.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(view.model().index(0)).center()
    )
    qtbot.mouseClick(window.gallery.reuse_button, Qt.MouseButton.LeftButton)
    units = window.studio.get("controls")
    assert [(u.name, u.module, u.model) for u in units] == [("box.png", "canny", "tiny_sd15_canny")]
    assert units[0].image == InputImage.from_file(tmp_path / "box.png")
    assert strip.cards[0].model.currentText() == "tiny_sd15_canny"
