"""The LoRA picker and `<lora:` completion with real clicks and keys; the window applies what it inserts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPlainTextEdit
from safetensors.torch import save_file

from sdstudio.core.gallery import read_parameters
from sdstudio.core.lora import LoraCatalog, lora_roots
from sdstudio.core.models import Family
from sdstudio.gui.help_dialog import help_html
from sdstudio.gui.lora_picker import LoraCompleter, LoraPicker, insert_at_cursor

pytest_plugins = ["tests.gui.window_fixtures"]
KEY = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q"


def _lora(path: Path, base: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(len(path.name))
    tensors = {
        f"{KEY}.lora_up.weight": torch.randn(64, 2, generator=g),
        f"{KEY}.lora_down.weight": torch.randn(2, 64, generator=g) * 0.5,
    }
    save_file(tensors, str(path), metadata={"ss_base_model_version": base})


@pytest.fixture
def loras(tmp_path: Path) -> Path:
    folder = tmp_path / "webui" / "models" / "Lora"
    _lora(folder / "ink.safetensors", "sd_v1")
    Image.new("RGB", (32, 32), (200, 10, 10)).save(folder / "ink.preview.png")
    (folder / "ink.civitai.info").write_text(
        json.dumps({"trainedWords": ["inkstyle"], "baseModel": "SD 1.5"})
    )
    _lora(folder / "xl" / "glow.safetensors", "sdxl_base_v1-0")
    (tmp_path / "webui" / "models" / "Stable-diffusion").mkdir(parents=True)
    return folder


def _click(qtbot: Any, picker: LoraPicker, name: str) -> None:
    item = next(i for i in picker.items() if i.text(0) == name)
    picker.tree.scrollToItem(item)
    rect = picker.tree.visualItemRect(item)
    qtbot.mouseClick(picker.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_picker_lists_by_folder_greys_other_families_and_inserts_at_the_cursor(
    qtbot: Any, loras: Path
) -> None:
    picker = LoraPicker(LoraCatalog(lambda: lora_roots([loras])))
    edit = QPlainTextEdit()
    picker.insertRequested.connect(lambda text: insert_at_cursor(edit, text))
    qtbot.addWidget(picker)
    qtbot.addWidget(edit)
    assert picker.items() == []  # nothing read before the panel shows
    picker.show()
    qtbot.waitExposed(picker)
    picker.set_family(Family.sd1)
    ink, glow = (next(i for i in picker.items() if i.text(0) == n) for n in ("ink", "glow"))
    assert ink.parent() is None and glow.parent().text(0) == "xl"  # by folder
    assert not ink.icon(0).isNull()  # the preview picture
    assert not glow.flags() & Qt.ItemFlag.ItemIsEnabled
    assert "made for SDXL; the model is SD 1.x" in glow.toolTip(0)
    edit.setPlainText("a portrait, detailed")
    cursor = edit.textCursor()
    cursor.setPosition(len("a portrait,"))
    edit.setTextCursor(cursor)
    _click(qtbot, picker, "glow")  # greyed: nothing happens
    assert edit.toPlainText() == "a portrait, detailed"
    _click(qtbot, picker, "ink")
    assert edit.toPlainText() == "a portrait, <lora:ink:1>, inkstyle detailed"
    picker.set_family(Family.sdxl)
    assert glow.flags() & Qt.ItemFlag.ItemIsEnabled and not ink.flags() & Qt.ItemFlag.ItemIsEnabled
    qtbot.keyClicks(picker.search, "gl")
    assert ink.isHidden() and not glow.isHidden()


def test_typing_lora_tag_completes_the_name(qtbot: Any, loras: Path) -> None:
    edit = QPlainTextEdit()
    qtbot.addWidget(edit)
    edit.show()
    qtbot.waitExposed(edit)
    completer = LoraCompleter(edit, lambda: ["ink", "glow"])
    edit.setFocus()
    qtbot.keyClicks(edit, "a cat <lora:in")
    popup = completer.completer.popup()
    qtbot.waitUntil(popup.isVisible, timeout=5000)
    assert completer.completer.currentCompletion() == "ink"
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert edit.toPlainText() == "a cat <lora:ink:1>" and not popup.isVisible()
    qtbot.keyClicks(edit, " <lora:")
    qtbot.waitUntil(popup.isVisible, timeout=5000)
    qtbot.keyClick(edit, Qt.Key.Key_Down)
    qtbot.keyClick(edit, Qt.Key.Key_Down)
    qtbot.keyClick(edit, Qt.Key.Key_Tab)
    assert edit.toPlainText() == "a cat <lora:ink:1> <lora:glow:1>"
    qtbot.keyClicks(edit, " <lyco:zz")
    assert not popup.isVisible()  # no name matches


def test_help_no_longer_says_not_applied() -> None:
    html = help_html()
    assert "not applied" not in html and "&lt;lora:name:te:unet&gt;" in html


def test_the_window_dock_inserts_and_the_job_applies_the_lora(
    qtbot: Any, loras: Path, store: Any, demo_home: Path
) -> None:
    from sdstudio.core.engine import Engine
    from sdstudio.core.jobs import JobQueue
    from sdstudio.core.models import ModelLibrary
    from sdstudio.core.settings import Settings
    from sdstudio.gui.main_window import MainWindow
    from tests.gui.window_helpers import fill_panel, small, studio_state

    library = ModelLibrary(Settings(model_roots=[str(loras.parents[1])]))
    engine = Engine(library, device="cpu")
    win = MainWindow(
        JobQueue(engine_factory=lambda: engine, store=store),
        store,
        library,
        state=studio_state(library.settings),
        preload=False,
    )
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    fill_panel(qtbot, win.prompt, **small(prompt="a red fox"))
    assert win.lora_picker.family is Family.sd1  # the demo model's family
    win.lora_dock.raise_()
    _click(qtbot, win.lora_picker, "ink")
    assert win.prompt.prompt.text() == "a red fox <lora:ink:1>, inkstyle"
    failed: list[str] = []
    win.worker.failed.connect(lambda *args: failed.append(str(args)))
    with qtbot.waitSignal(win.worker.finished, timeout=180_000) as done:
        qtbot.mouseClick(win.prompt.generate, Qt.MouseButton.LeftButton)
    assert not failed
    (record,) = done.args[0].records
    text = read_parameters(Path(record.path)).infotext
    assert "<lora:ink:1>" in text and 'Lora hashes: "ink: ' in text
    win.close()
    engine.close()
