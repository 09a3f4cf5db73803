"""The reference strip as a view of the studio model's `controls`: real drops, keys and mouse, no window."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication, QWidget

from sdstudio.core import references
from sdstudio.core.request import InputImage
from sdstudio.core.studio import StudioModel
from sdstudio.gui.prompt_panel import PromptPanel
from tests.gui.window_helpers import type_into


@pytest.fixture
def panel(qtbot: Any) -> PromptPanel:
    p = PromptPanel(StudioModel(), [("Demo", "demo-ref", "")])
    qtbot.addWidget(p)
    p.resize(380, 900)
    p.show()
    qtbot.waitExposed(p)
    return p


def bar_picture(path: Path, color: tuple[int, int, int] = (30, 30, 30)) -> Path:
    img = Image.new("RGB", (64, 48), color)
    for x in range(20, 36):
        for y in range(48):
            img.putpixel((x, y), (250, 250, 250))
    img.save(path)
    return path


def drop(qtbot: Any, target: QWidget, data: QMimeData) -> bool:
    """A drag entering, moving over and dropping on `target`; whether the enter was accepted."""
    pos = target.rect().center()
    args = (Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(pos, *args)
    QApplication.sendEvent(target, enter)
    QApplication.sendEvent(target, QDragMoveEvent(pos, *args))
    QApplication.sendEvent(target, QDropEvent(QPointF(pos), *args))
    return enter.isAccepted()


def look(fmt: Any) -> tuple[str, Any]:
    return fmt.foreground().color().name(), fmt.underlineStyle()


def spans(edit: Any) -> dict[tuple[int, int], tuple[str, Any]]:
    """The highlighter's formats of the prompt's first line: (start, length) -> (colour, underline)."""
    return {(f.start, f.length): look(f.format) for f in edit.document().firstBlock().layout().formats()}


def files(*paths: Path) -> QMimeData:
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return data


def test_a_dropped_file_becomes_a_reference_with_its_preview(
    qtbot: Any, panel: PromptPanel, tmp_path: Path
) -> None:
    strip = panel.references
    assert panel.unshown == ()  # every Request parameter has its widget now, the references too
    assert strip.hint.isVisible() and not strip.cards
    path = bar_picture(tmp_path / "hand.png")
    assert drop(qtbot, strip, files(path))
    units = panel.studio.get("controls")
    assert len(units) == 1 and units[0].name == "hand.png"
    assert units[0].image == InputImage.from_file(path)
    card = strip.cards[0]
    assert card.name.text() == "hand.png" and card.kind.currentData() == references.kind_of(units[0])
    qtbot.waitUntil(strip.previews_ready, timeout=20_000)
    assert not card.thumb.pixmap().isNull()
    # a broken file is one message, nothing added
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")
    with qtbot.waitSignal(strip.message) as said:
        drop(qtbot, strip, files(broken))
    assert said.args[1] is True and "broken.png" in said.args[0] and len(panel.studio.get("controls")) == 1


def test_editing_a_card_changes_the_model_and_the_model_shows_in_the_card(
    qtbot: Any, panel: PromptPanel, tmp_path: Path
) -> None:
    strip, studio = panel.references, panel.studio
    strip.set_models({"controlnet": ["control_canny"], "ip-adapter": ["ip-adapter_sd15"]})
    drop(qtbot, strip, files(bar_picture(tmp_path / "a.png")))
    card = strip.cards[0]
    listed = lambda: [card.model.itemText(i) for i in range(card.model.count())]  # noqa: E731
    assert card.kind.currentData() == "reference" and listed() == ["Auto", "ip-adapter_sd15"]
    # 1. kind by keyboard on its selector: canny -> lineart (kinds without a preprocessor are skipped)
    studio.set("controls", references.edited(studio.get("controls"), 0, kind="canny"))
    assert card.kind.currentData() == "canny"
    card.kind.setFocus()
    qtbot.keyClick(card.kind, Qt.Key.Key_Down)
    assert studio.get("controls")[0].module == "lineart" and listed() == ["Auto", "control_canny"]
    # 2. weight and start typed
    type_into(qtbot, card.weight, "0.6")
    type_into(qtbot, card.start, "0.2")
    unit = studio.get("controls")[0]
    assert (unit.weight, unit.guidance_start) == (0.6, 0.2)
    # 3. switched off and removed with the mouse
    qtbot.mouseClick(card.enabled, Qt.MouseButton.LeftButton, pos=QPoint(6, card.enabled.height() // 2))
    assert studio.get("controls")[0].enabled is False
    # 4. the model's changes show (Reuse, autosave restore)
    studio.set("controls", references.edited(studio.get("controls"), 0, weight=1.5, kind="scribble"))
    assert card.weight.value() == 1.5 and card.kind.currentData() == "scribble"
    qtbot.waitUntil(strip.previews_ready, timeout=20_000)
    assert not card.preview.pixmap().isNull()  # scribble's map, made off the GUI thread
    qtbot.mouseClick(card.remove, Qt.MouseButton.LeftButton)
    assert studio.get("controls") == () and not strip.cards


def test_paste_and_a_dropped_picture_add_references(qtbot: Any, panel: PromptPanel) -> None:
    strip = panel.references
    image = QImage(40, 30, QImage.Format.Format_RGB888)
    image.fill(Qt.GlobalColor.darkCyan)
    QApplication.clipboard().setImage(image)
    strip.add_button.setFocus()
    qtbot.keyClick(strip.add_button, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    data = QMimeData()
    data.setImageData(image)
    drop(qtbot, strip, data)
    names = [u.name for u in panel.studio.get("controls")]
    assert names == ["pasted.png", "dropped.png"]
    assert panel.studio.get("controls")[0].image.width == 40


def test_a_gallery_tile_dragged_onto_the_strip_becomes_a_reference(
    qtbot: Any, panel: PromptPanel, tmp_path: Path
) -> None:
    from sdstudio.core.gallery import GalleryStore
    from sdstudio.gui.gallery_panel import GalleryPanel

    store = GalleryStore(tmp_path / "outputs")
    (tmp_path / "outputs" / "day").mkdir(parents=True)
    saved = bar_picture(tmp_path / "outputs" / "day" / "00001-5.png", (90, 20, 20))
    store.rescan()
    gallery = GalleryPanel(store)
    qtbot.addWidget(gallery)
    assert gallery.model.rowCount() == 1
    data = gallery.model.mimeData([gallery.model.index(0)])  # what the tile's drag carries
    assert drop(qtbot, panel.references, data)
    unit = panel.studio.get("controls")[0]
    assert unit.name == "00001-5.png" and unit.image == InputImage.from_file(saved)
    gallery.shutdown()
    store.close()


def test_a_tag_is_highlighted_and_outlines_the_reference_it_names(
    qtbot: Any, panel: PromptPanel, tmp_path: Path
) -> None:
    strip = panel.references
    drop(qtbot, strip, files(bar_picture(tmp_path / "hand.png"), bar_picture(tmp_path / "face.png")))
    edit = panel.prompt.edit
    edit.setFocus()
    qtbot.keyClicks(edit, "a portrait {image:face}, {image:nothing} and more")
    text = edit.toPlainText()
    highlighter = panel.tag_link.highlighter
    known, unknown = look(highlighter.known), look(highlighter.unknown)
    face = (text.index("{image:face}"), len("{image:face}"))
    nothing = (text.index("{image:nothing}"), len("{image:nothing}"))
    assert known != unknown and spans(edit) == {face: known, nothing: unknown}
    assert strip.marked() is None  # the cursor is after "more"
    # 1. the text cursor into the tag outlines "face.png"; out of it, nothing
    for _ in range(len(text) - text.index("face") - 1):
        qtbot.keyClick(edit, Qt.Key.Key_Left)
    assert strip.marked() == 1 and strip.cards[1].property("marked")
    qtbot.keyClick(edit, Qt.Key.Key_Home)
    assert strip.marked() is None
    # 2. the mouse over the tag outlines it too
    cursor = edit.textCursor()
    cursor.setPosition(text.index("face") + 1)
    where = edit.cursorRect(cursor).center()
    qtbot.mouseMove(edit.viewport(), where)
    qtbot.waitUntil(lambda: strip.marked() == 1, timeout=5_000)
    # 3. renaming the reference recolours the tag (it names nothing now)
    panel.studio.set("controls", references.edited(panel.studio.get("controls"), 1, name="head.png"))
    assert spans(edit)[face] == unknown


def test_references_come_back_from_the_autosave_with_their_pictures(qtbot: Any, tmp_path: Path) -> None:
    from sdstudio.core.persistence import StudioPaths, open_state
    from sdstudio.gui.autosave import Autosaver
    from sdstudio.gui.canvas import CanvasModel
    from sdstudio.gui.canvas.encoder import CanvasEncoder

    paths = StudioPaths.under(tmp_path / "home")

    def saver(studio: StudioModel) -> Autosaver:
        canvas = CanvasModel()
        return Autosaver(studio, canvas, CanvasEncoder(canvas, canvas), open_state(paths), delay_ms=10)

    first = StudioModel()
    first_saver = saver(first)
    one = InputImage.from_file(bar_picture(tmp_path / "hand.png"))
    two = InputImage.from_file(bar_picture(tmp_path / "face.png", (0, 90, 0)))
    units = references.added(references.added((), one, "hand.png"), two, "face.png")
    first.set("controls", references.edited(units, 1, weight=0.4))
    first_saver.save_now()
    pictures = open_state(paths).references_dir
    assert sorted(p.stem for p in pictures.glob("*.png")) == sorted([one.sha256, two.sha256])
    second = StudioModel()
    again = saver(second)
    assert again.restore() and second.get("controls") == first.get("controls")
    # a removed reference's picture goes from the autosave with it
    second.set("controls", references.removed(second.get("controls"), 0))
    again.save_now()
    assert [p.stem for p in pictures.glob("*.png")] == [two.sha256]
    (pictures / f"{two.sha256}.png").unlink()  # a picture lost: its reference is dropped, not kept empty
    third = StudioModel()
    saver(third).restore()
    assert third.get("controls") == ()


def test_an_error_in_a_reference_outlines_its_card_field(
    qtbot: Any, panel: PromptPanel, tmp_path: Path
) -> None:
    drop(qtbot, panel.references, files(bar_picture(tmp_path / "a.png")))
    card = panel.references.cards[0]
    type_into(qtbot, card.start, "1")  # start 1 >= end 1: the request says which field is wrong
    try:
        panel.request().validate()
    except Exception as e:
        panel.show_error(str(e), e.field)  # type: ignore[attr-defined]
    assert panel.error.isVisible() and card.start.property("invalid")
    type_into(qtbot, card.start, "0.5")
    assert not panel.error.isVisible() and not card.start.property("invalid")


def test_a_unit_without_its_own_picture_says_the_canvas_is_used(qtbot: Any, panel: PromptPanel) -> None:
    from sdstudio.core.control.unit import ControlUnit

    panel.studio.set("controls", (ControlUnit(module="canny"),))  # as the API may send it
    card = panel.references.cards[0]
    assert card.thumb.text() == "canvas" and "canvas picture" in card.preview.toolTip()
    assert card.kind.currentData() == "canny" and panel.references.previews_ready()
