"""The Animation panel with real mouse and key events: schedule keyframes edited and plotted, a render on
the real queue (demo model) playing in the preview."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QAbstractSpinBox, QLineEdit

from sdstudio.core.jobs import JobQueue
from sdstudio.gui.animation_panel import AnimationPanel

pytest_plugins = ["tests.gui.window_fixtures"]


def _type_number(qtbot: Any, box: QAbstractSpinBox, value: int) -> None:
    box.setFocus()
    qtbot.keyClick(box, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(box, str(value))
    qtbot.keyClick(box, Qt.Key.Key_Tab)


def _edit_cell(qtbot: Any, panel: AnimationPanel, row: int, text: str) -> None:
    table = panel.schedule_editor.table
    rect = table.visualItemRect(table.item(row, 1))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.keyClick(table, Qt.Key.Key_F2)  # edit the clicked cell
    qtbot.waitUntil(lambda: table.state() == QAbstractItemView.State.EditingState)
    editor = next(w for w in table.viewport().findChildren(QLineEdit) if w.isVisible())
    qtbot.keyClick(editor, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(editor, text)
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: table.state() != QAbstractItemView.State.EditingState)


def _panel(qtbot: Any, queue: JobQueue, tmp_path: Path) -> AnimationPanel:
    panel = AnimationPanel(queue, outputs=tmp_path)
    qtbot.addWidget(panel)
    panel.resize(480, 1100)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def test_schedule_keyframes_edit_and_plot(qtbot: Any, tmp_path: Path) -> None:
    panel = _panel(qtbot, JobQueue(), tmp_path)
    _type_number(qtbot, panel.numbers["max_frames"], 21)
    assert panel.schedule_choice.currentData() == "zoom" and len(panel.plot.values) == 21
    _edit_cell(qtbot, panel, 0, "1.0")
    qtbot.mouseClick(panel.schedule_editor.add_button, Qt.MouseButton.LeftButton)
    _edit_cell(qtbot, panel, 1, "1.5")
    assert panel.schedule_editor.rows() == [("0", "1.0"), ("10", "1.5")]
    assert panel.settings().zoom == "0:(1.0), 10:(1.5)"
    assert panel.plot.values[5] == 1.25 and panel.plot.values[20] == 1.5 and panel.plot.keyframes == [0, 10]
    _edit_cell(qtbot, panel, 1, "1+")
    assert panel.plot.error.startswith("zoom: keyframe 10: '(1+)'")
    _edit_cell(qtbot, panel, 1, "1+0.01*t")
    assert abs(panel.plot.values[20] - 1.2) < 1e-9 and not panel.plot.error
    # prompts land on the timeline
    assert panel.timeline.keyframes[0][0] == 0


def test_render_plays_frames_and_saves_the_video(qtbot: Any, engine: Any, tmp_path: Path) -> None:
    queue = JobQueue(engine_factory=lambda: engine)
    thread, stop = queue.start_thread()
    try:
        panel = _panel(qtbot, queue, tmp_path)
        for name, value in (("max_frames", 3), ("W", 64), ("H", 64), ("steps", 2), ("seed", 3)):
            _type_number(qtbot, panel.numbers[name], value)
        out = tmp_path / "animations" / "clip.gif"
        panel.output.setFocus()
        qtbot.keyClicks(panel.output, str(out))
        qtbot.mouseClick(panel.render_button, Qt.MouseButton.LeftButton)
        assert not panel.render_button.isEnabled()
        qtbot.waitUntil(lambda: panel.render_button.isEnabled(), timeout=180_000)
        assert panel.error.text() == "" and out.is_file()
        with Image.open(out) as im:
            assert im.n_frames == 3 and im.size == (64, 64)
        assert panel.preview.pixmap() is not None and not panel.preview.pixmap().isNull()
        assert panel.player.isActive() and panel.progress.value() == panel.progress.maximum()
        assert (tmp_path / "animations" / "clip-animation" / "settings.txt").is_file()
        # the finished animation is listed; Reuse brings its settings back after they were changed
        listed = panel.finished_list.list
        assert listed.count() == 1 and listed.item(0).text().startswith("clip-animation  (3 frames)")
        _type_number(qtbot, panel.numbers["max_frames"], 40)
        rect = listed.visualItemRect(listed.item(0))
        qtbot.mouseClick(listed.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseClick(panel.finished_list.reuse_button, Qt.MouseButton.LeftButton)
        assert panel.numbers["max_frames"].value() == 3 and panel.settings().W == 64
    finally:
        stop.set()
        thread.join(10)
