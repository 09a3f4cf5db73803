"""The prompt panel as a view of the studio model: real key and mouse events, no window, no engine."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt

from sdstudio.core.request import InpaintArea, Mode, Request
from sdstudio.core.studio import StudioModel
from sdstudio.gui.prompt_panel import PromptPanel
from tests.gui.window_helpers import fill_panel, type_into


@pytest.fixture
def panel(qtbot: Any) -> PromptPanel:
    p = PromptPanel(StudioModel(), [("Demo", "demo-ref", "a note"), ("Other", "other-ref", "")])
    qtbot.addWidget(p)
    p.resize(380, 700)
    p.show()
    qtbot.waitExposed(p)
    return p


def test_typing_sets_the_model_and_the_model_fills_the_widgets(qtbot: Any, panel: PromptPanel) -> None:
    studio = panel.studio
    fill_panel(qtbot, panel, prompt="a red fox", steps=9, seed=42, cfg_scale=5.5, width=640)
    p = studio.parameters
    assert (p.prompt, p.steps, p.seed, p.cfg_scale, p.width, p.model) == (
        "a red fox",
        9,
        42,
        5.5,
        640,
        "demo-ref",
    )
    assert panel.size_preset.currentText() == "Custom"
    wanted = Request(
        prompt="castle", steps=3, seed=7, inpaint_area=InpaintArea.only_masked, model="elsewhere"
    )
    studio.set_parameters(wanted)
    assert (panel.prompt.text(), panel.steps.value(), panel.seed.text()) == ("castle", 3, "7")
    assert panel.inpaint_area.currentData() == "only_masked" and panel.model.currentText() == "elsewhere"
    assert panel.request() == wanted  # round trip through the widgets, exactly
    qtbot.mouseClick(panel.seed_random, Qt.MouseButton.LeftButton)
    assert studio.get("seed") == -1 and panel.seed.text() == "-1"


def test_a_size_preset_and_the_mode_label_follow_the_model(qtbot: Any, panel: PromptPanel) -> None:
    panel.size_preset.setFocus()
    qtbot.keyClick(panel.size_preset, Qt.Key.Key_Down)  # 512×768
    assert panel.studio.size == (512, 768)
    assert not panel.image_box.isEnabled() and "txt2img" in panel.mode_label.text()
    panel.studio.set_canvas((512, 768), has_mask=True)
    assert panel.image_box.isEnabled() and panel.mode_label.text().startswith("Mode: inpaint")
    assert panel.studio.mode is Mode.inpaint


def test_a_size_that_stretches_the_picture_is_said(qtbot: Any, panel: PromptPanel) -> None:
    panel.studio.picture_replaced(384, 256)
    assert (panel.width_.value(), panel.height_.value()) == (384, 256) and not panel.size_note.isVisible()
    type_into(qtbot, panel.width_, "256")
    assert panel.size_note.isVisible() and "The picture is 384×256" in panel.size_note.text()
    type_into(qtbot, panel.width_, "384")
    assert not panel.size_note.isVisible()


def test_an_error_outlines_its_field_and_editing_clears_it(qtbot: Any, panel: PromptPanel) -> None:
    panel.show_error("Width: 500 is not a multiple of 8", "width")
    assert panel.error.isVisible() and panel.width_.property("invalid")
    type_into(qtbot, panel.width_, "504")
    assert not panel.error.isVisible() and not panel.width_.property("invalid")


def test_variation_seed_and_hires_fix_are_fields_of_the_model(qtbot: Any, panel: PromptPanel) -> None:
    # every Request parameter has its widget (the ControlNet units are the reference strip's)
    assert panel.unshown == ()
    type_into(qtbot, panel.variation.subseed, "77")
    type_into(qtbot, panel.variation.strength, "0.3")
    panel.hires.setFocus()
    qtbot.keyClick(panel.hires, Qt.Key.Key_Space)  # the group's check box turns hires fix on
    type_into(qtbot, panel.hires.scale, "1.5")
    p = panel.studio.parameters
    assert (p.subseed, p.subseed_strength, p.enable_hr, p.hr_scale) == (77, 0.3, True, 1.5)
    panel.studio.set_parameters(Request(hr_upscaler="4x-UltraSharp", enable_hr=True))
    assert panel.hires.upscaler.currentText() == "4x-UltraSharp" and panel.hires.isChecked()
    panel.studio.set_canvas((64, 64), has_mask=False)
    assert not panel.hires.isEnabled()  # a txt2img pass
