"""Tools > Allow network references: the window's switch for the `allow_network` setting, clicked in the menu."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt

from sdstudio.core.control.fetch import FetchPolicy

pytest_plugins = ["tests.gui.window_fixtures"]


def _click_in_tools_menu(qtbot: Any, win: Any, action: Any) -> None:
    tools = next(a.menu() for a in win.menuBar().actions() if a.text() == "&Tools")
    qtbot.mouseClick(
        win.menuBar(),
        Qt.MouseButton.LeftButton,
        pos=win.menuBar().actionGeometry(tools.menuAction()).center(),
    )
    qtbot.waitUntil(tools.isVisible)
    qtbot.mouseClick(tools, Qt.MouseButton.LeftButton, pos=tools.actionGeometry(action).center())


def test_the_tools_menu_switches_network_references_on_and_off_and_saves_it(qtbot: Any, window: Any) -> None:
    action = window.network_action
    assert not action.isChecked() and not FetchPolicy.from_settings(window.library.settings).allowed
    _click_in_tools_menu(qtbot, window, action)
    qtbot.waitUntil(action.isChecked)
    # the library's settings are the window's: the next job may fetch, and the choice is on disk
    assert FetchPolicy.from_settings(window.library.settings).allowed
    saved = json.loads(window.state.paths.settings_file.read_text(encoding="utf-8"))
    assert saved["allow_network"] is True
    assert "network" in window.status.message.text()
    _click_in_tools_menu(qtbot, window, action)
    qtbot.waitUntil(lambda: not action.isChecked())
    assert json.loads(window.state.paths.settings_file.read_text(encoding="utf-8"))["allow_network"] is False
