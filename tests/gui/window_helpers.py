"""Key and mouse helpers shared by the window, worker and gallery panel tests."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractSpinBox, QLineEdit, QPlainTextEdit, QWidget

from sdstudio.core.persistence import StudioPaths, StudioState, open_state
from sdstudio.core.request import Request
from sdstudio.core.settings import Settings


def studio_state(settings: Settings | None = None) -> StudioState:
    """The test home's studio state, as the composition root opens it (settings read there unless given)."""
    return open_state(StudioPaths.default(), settings)


def type_into(qtbot: Any, widget: QWidget, text: str) -> None:
    """Replace a field's content with real key events (select all, then type)."""
    widget.setFocus()
    if isinstance(widget, QPlainTextEdit):
        widget.selectAll()
    elif isinstance(widget, (QLineEdit, QAbstractSpinBox)):
        qtbot.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
        qtbot.keyClick(widget, Qt.Key.Key_Backspace)
    qtbot.keyClicks(widget, text)
    if isinstance(widget, QAbstractSpinBox):
        qtbot.keyClick(widget, Qt.Key.Key_Tab)


def fill_panel(qtbot: Any, panel: Any, **values: Any) -> None:
    """Type the given fields into the prompt panel (prompt, negative, steps, width, height, seed, …)."""
    fields = {
        "prompt": panel.prompt.edit,
        "negative_prompt": panel.negative.edit,
        "steps": panel.steps,
        "cfg_scale": panel.cfg,
        "width": panel.width_,
        "height": panel.height_,
        "seed": panel.seed,
        "strength": panel.strength,
        "mask_blur": panel.mask_blur,
        "inpaint_padding": panel.inpaint_padding,
        "clip_skip": panel.clip_skip,
        "batch_size": panel.batch_size,
        "batch_count": panel.batch_count,
    }
    for name, value in values.items():
        type_into(qtbot, fields[name], str(value))


def small(**kw: Any) -> dict[str, Any]:
    """Panel values for a fast job on the demo model."""
    return {"prompt": "a red fox", "steps": 4, "width": 64, "height": 64, "seed": 1234} | kw


def same_params(a: Request, b: Request) -> bool:
    return a.to_dict(images="sha256") == b.to_dict(images="sha256")
