"""The token counter: counted off the GUI thread; a rough count is replaced by the real one unasked."""

from __future__ import annotations

from typing import Any

from sdstudio.gui.prompt_edit import PromptEdit

TIMEOUT = 30_000


def test_a_rough_count_is_replaced_by_the_real_one_without_editing(qtbot: Any) -> None:
    ready = {"embeddings": False}

    def embeddings() -> dict[str, int]:  # the library is still being scanned at first, as after a restart
        if not ready["embeddings"]:
            raise RuntimeError("embeddings not scanned yet")
        return {"bad-hands-5": 70}

    edit = PromptEdit("Negative prompt", "")
    edit.embeddings = embeddings
    qtbot.addWidget(edit)
    edit.show()
    edit.edit.setFocus()
    qtbot.keyClicks(edit.edit, "blurry, bad-hands-5")
    qtbot.waitUntil(lambda: edit.count.text().startswith("~"), timeout=TIMEOUT)  # said to be rough
    assert "rough" in edit.count.toolTip()
    ready["embeddings"] = True  # nobody types again
    qtbot.waitUntil(lambda: edit.count.text() == "72/75", timeout=TIMEOUT)  # blurry, comma and 70 vectors
    assert "rough" not in edit.count.toolTip()
