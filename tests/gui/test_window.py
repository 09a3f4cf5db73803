"""The studio window on the tiny demo model: real key and mouse events, real worker thread, real store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from sdstudio.core.jobs import JobQueue
from sdstudio.core.request import InpaintArea, Mode, Request
from tests.gui.window_helpers import fill_panel, same_params, small

pytest_plugins = ["tests.gui.window_fixtures"]

TIMEOUT = 60_000


def test_window_title_mode_and_docks(window: Any) -> None:
    assert window.windowTitle().startswith("sdstudio")
    assert window.prompt.mode_label.text().startswith("Mode: txt2img")
    assert {d.objectName() for d in (window.prompt_dock, window.gallery_dock, window.queue_dock)} == {
        "promptDock",
        "galleryDock",
        "queueDock",
    }
    assert window.queue_dock.isVisible() and window.gallery_dock.isVisible()
    models = [window.prompt.model.itemText(i) for i in range(window.prompt.model.count())]
    assert models[0] == "Demo (random weights)" and window.prompt.model.currentData() == "demo"
    assert "noise" in window.prompt.model_note.text() and window.prompt.model_note.isVisible()
    assert QApplication.focusWidget() is window.prompt.prompt.edit  # type the prompt at once
    assert window.canvas_view.hint_visible


def test_generate_four_steps_previews_and_one_gallery_item(qtbot: Any, window: Any, store: Any) -> None:
    fill_panel(qtbot, window.prompt, **small(negative_prompt="blurry"))
    seen: list[tuple[int, int, Any]] = []
    window.worker.progress.connect(lambda job, p, preview: seen.append((p.step, p.total, preview)))
    with qtbot.waitSignal(window.worker.finished, timeout=TIMEOUT) as done:
        qtbot.mouseClick(window.prompt.generate, Qt.MouseButton.LeftButton)
    assert [(s, t) for s, t, _ in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert seen[0][2] is not None  # the first step previews; later ones are throttled to the preview rate
    assert all(p is None or not p.isNull() for _, _, p in seen)
    assert "Step 4/4" in window.status.step.text() or window.status.message.text().startswith("Job #1 done")
    records = done.args[0].records
    assert len(records) == 1
    qtbot.waitUntil(lambda: window.gallery.model.rowCount() == 1, timeout=30_000)
    stored = store.request_of(window.gallery.model.record(0))
    assert same_params(stored, window.prompt.request())
    assert stored.seed == 1234 and stored.steps == 4 and stored.negative_prompt == "blurry"
    assert window.prompt.seed_reuse.isEnabled() and window.prompt.last_seed == 1234


def test_ctrl_enter_generates_and_escape_cancels_mid_run(qtbot: Any, window: Any, store: Any) -> None:
    fill_panel(qtbot, window.prompt, **small(steps=60))
    steps: list[int] = []

    def on_progress(job: Any, p: Any, preview: Any) -> None:
        steps.append(p.step)
        if len(steps) == 2:  # mid-run: the user presses Esc
            qtbot.keyClick(window.prompt.prompt.edit, Qt.Key.Key_Escape)

    window.worker.progress.connect(on_progress)
    with qtbot.waitSignal(window.worker.cancelled, timeout=TIMEOUT):
        qtbot.keyClick(window.prompt.prompt.edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert 2 <= max(steps) < 60
    assert "cancelled" in window.status.message.text()
    QApplication.processEvents()
    window.gallery.refresh()
    assert window.gallery.model.rowCount() == 0 and store.count() == 0
    assert not list((store.root).rglob("*.png"))


def test_generate_while_busy_queues_a_second_job_that_then_runs(qtbot: Any, window: Any) -> None:
    fill_panel(qtbot, window.prompt, **small(steps=12))
    finished: list[Any] = []
    window.worker.finished.connect(finished.append)
    with qtbot.waitSignal(window.worker.started, timeout=TIMEOUT):
        qtbot.mouseClick(window.prompt.generate, Qt.MouseButton.LeftButton)
    assert window.prompt.generate.text() == "Add to queue"
    fill_panel(qtbot, window.prompt, prompt="second", steps=2)
    qtbot.mouseClick(window.prompt.generate, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(window.queue_panel.job_ids()) == 2, timeout=TIMEOUT)
    assert "[waiting]" in window.queue_panel.list.item(1).text()
    assert window.queue_panel.list.item(0).text().startswith("[running")
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=TIMEOUT)
    assert [m.result.request.prompt for m in finished] == ["a red fox", "second"]
    qtbot.waitUntil(lambda: window.gallery.model.rowCount() == 2, timeout=30_000)
    qtbot.waitUntil(lambda: window.queue_panel.job_ids() == [], timeout=30_000)


def test_queued_job_can_be_removed(qtbot: Any, window: Any) -> None:
    fill_panel(qtbot, window.prompt, **small(steps=40))
    with qtbot.waitSignal(window.worker.started, timeout=TIMEOUT):
        qtbot.mouseClick(window.prompt.generate, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(window.prompt.generate, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(window.queue_panel.job_ids()) == 2, timeout=30_000)
    waiting = window.queue_panel.list.item(1)
    rect = window.queue_panel.list.visualItemRect(waiting)
    qtbot.mouseClick(window.queue_panel.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    with qtbot.waitSignal(window.worker.cancelled, timeout=TIMEOUT) as removed:
        qtbot.mouseClick(window.queue_panel.remove, Qt.MouseButton.LeftButton)
    assert removed.args[0].id == 2
    with qtbot.waitSignal(window.worker.cancelled, timeout=TIMEOUT):
        qtbot.keyClick(window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: window.queue_panel.job_ids() == [], timeout=30_000)


def test_reuse_parameters_fills_every_field(qtbot: Any, window: Any, store: Any) -> None:
    wanted = Request(
        prompt="castle on a hill, (sunset:1.2)",
        negative_prompt="lowres",
        steps=2,
        cfg_scale=5.5,
        width=64,
        height=72,
        seed=987654,
        batch_size=1,
        batch_count=1,
        sampler="Euler a",
        strength=0.6,
        mask_blur=7,
        inpaint_area=InpaintArea.only_masked,
        inpaint_padding=16,
        clip_skip=2,
        model=window.prompt.model.currentData(),
    )
    window.prompt.set_request(wanted)
    with qtbot.waitSignal(window.worker.finished, timeout=TIMEOUT):
        qtbot.mouseClick(window.prompt.generate, Qt.MouseButton.LeftButton)
    window.prompt.set_request(Request(clip_skip=3))  # a fresh panel, every field different
    assert window.prompt.request().prompt == ""
    qtbot.waitUntil(lambda: window.gallery.model.rowCount() == 1, timeout=30_000)
    view = window.gallery.view
    rect = view.visualRect(window.gallery.model.index(0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.gallery.reuse_button.isEnabled()
    qtbot.mouseClick(window.gallery.reuse_button, Qt.MouseButton.LeftButton)
    p = window.prompt
    got = p.request()
    assert same_params(got, wanted)
    assert (p.prompt.text(), p.negative.text(), p.seed.text()) == (wanted.prompt, "lowres", "987654")
    assert (p.steps.value(), p.cfg.value(), p.width_.value(), p.height_.value()) == (2, 5.5, 64, 72)
    assert (p.sampler.currentText(), p.strength.value(), p.mask_blur.value()) == ("Euler a", 0.6, 7)
    assert (p.inpaint_area.currentData(), p.inpaint_padding.value(), p.clip_skip.value()) == (
        "only_masked",
        16,
        2,
    )
    assert p.size_preset.currentText() == "Custom"


def test_invalid_size_shows_its_message_and_keeps_inputs(qtbot: Any, window: Any) -> None:
    fill_panel(qtbot, window.prompt, **small(width=500, negative_prompt="ugly"))
    qtbot.mouseClick(window.prompt.generate, Qt.MouseButton.LeftButton)
    error = window.prompt.error
    assert error.isVisible() and "500 is not a multiple of 8; use 496 or 504" in error.text()
    assert error.text().startswith("Width:")
    assert "500 is not a multiple of 8" in window.status.message.text()
    p = window.prompt
    assert (p.width_.value(), p.prompt.text(), p.negative.text(), p.seed.text()) == (
        500,
        "a red fox",
        "ugly",
        "1234",
    )
    assert window.queue.jobs() == () and window.queue_panel.job_ids() == []
    type_width = p.width_
    fill_panel(qtbot, p, width=504)  # editing clears the message
    assert not error.isVisible() and type_width.value() == 504


def test_mode_follows_the_canvas(qtbot: Any, window: Any) -> None:
    from PySide6.QtGui import QColor, QImage

    image = QImage(64, 64, QImage.Format.Format_RGB32)
    image.fill(QColor("teal"))
    window.send_to_canvas(image)
    assert window.prompt.mode_label.text().startswith("Mode: img2img")
    assert window.current_request().mode is Mode.img2img


def test_result_shows_on_the_canvas_and_use_as_input_starts_the_next_round(qtbot: Any, window: Any) -> None:
    import numpy as np

    from sdstudio.gui.images import qimage_to_input

    fill_panel(qtbot, window.prompt, **small())
    assert not window.use_result_action.isEnabled()
    with qtbot.waitSignal(window.worker.finished, timeout=TIMEOUT) as done:
        qtbot.keyClick(window.prompt.prompt.edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    result = np.asarray(done.args[0].result.images[0].image.convert("RGB"))
    assert window.canvas_view._preview_item.isVisible()  # the result is on the canvas
    assert window.canvas.image() is None  # ... over the input, which is untouched
    qtbot.keyClick(window.canvas_view, Qt.Key.Key_U, Qt.KeyboardModifier.ControlModifier)
    picture = np.asarray(qimage_to_input(window.canvas.image()).to_pil().convert("RGB"))
    assert np.array_equal(picture, result)
    assert not window.canvas.has_mask()
    assert window.prompt.mode_label.text().startswith("Mode: img2img")
    assert window.current_request().mode is Mode.img2img
    qtbot.keyClick(window.canvas_view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.canvas.image() is None  # undoable like any canvas change
    assert window.prompt.mode_label.text().startswith("Mode: txt2img")


def test_a_batch_is_flipped_through_on_the_canvas_and_the_shown_one_is_used(qtbot: Any, window: Any) -> None:
    import numpy as np

    from sdstudio.gui.images import qimage_to_input

    fill_panel(qtbot, window.prompt, **small(steps=2, batch_size=3))
    assert not window.next_result_action.isVisible()
    with qtbot.waitSignal(window.worker.finished, timeout=TIMEOUT) as done:
        qtbot.keyClick(window.prompt.prompt.edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    images = [np.asarray(g.image.convert("RGB")) for g in done.args[0].result.images]
    assert len(images) == 3 and not np.array_equal(images[0], images[1])

    def shown() -> np.ndarray:
        pixmap = window.canvas_view._preview_item.pixmap()
        return np.asarray(qimage_to_input(pixmap.toImage()).to_pil().convert("RGB"))

    assert window.next_result_action.isVisible() and window.prev_result_action.isVisible()
    assert window.result_label.text().strip() == "1/3" and np.array_equal(shown(), images[0])
    qtbot.keyClick(window.canvas_view, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    qtbot.keyClick(window.canvas_view, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert window.result_label.text().strip() == "3/3" and np.array_equal(shown(), images[2])
    qtbot.keyClick(window.canvas_view, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)  # wraps around
    qtbot.keyClick(window.canvas_view, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert window.result_label.text().strip() == "3/3"
    assert "seed 1236" in window.status.message.text()
    qtbot.keyClick(window.canvas_view, Qt.Key.Key_U, Qt.KeyboardModifier.ControlModifier)
    picture = np.asarray(qimage_to_input(window.canvas.image()).to_pil().convert("RGB"))
    assert np.array_equal(picture, images[2])


def test_an_a1111_model_folder_is_added_and_its_checkpoint_generates(
    qtbot: Any, window: Any, store: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    import hashlib

    import diffusers

    from sdstudio.core import demo
    from tests.core.ldm_layout import as_single_file

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    webui = tmp_path / "stable-diffusion-webui"
    ckpt = webui / "models" / "Stable-diffusion" / "tinyfox.safetensors"
    as_single_file(demo.demo_path(), ckpt, diffusers.StableDiffusionPipeline)
    assert window.add_model_root(tmp_path / "missing") == 0
    assert "Cannot add" in window.status.message.text()
    assert window.add_model_root(webui) == 1
    assert "1 checkpoint added" in window.status.message.text()
    combo = window.prompt.model
    names = [combo.itemText(i) for i in range(combo.count())]
    assert "tinyfox" in names and combo.currentData() == "demo"  # offered, the selection kept
    combo.setFocus()
    while combo.currentText() != "tinyfox":  # chosen with the keyboard
        qtbot.keyClick(combo, Qt.Key.Key_Down)
    fill_panel(qtbot, window.prompt, **small(steps=2))
    with qtbot.waitSignal(window.worker.finished, timeout=TIMEOUT):
        qtbot.keyClick(window.prompt.prompt.edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.gallery.model.rowCount() == 1, timeout=30_000)
    record = window.gallery.model.record(0)
    assert record.model == "tinyfox"
    assert store.request_of(record).model == str(ckpt.resolve())
    short_hash = hashlib.sha256(ckpt.read_bytes()).hexdigest()[:10]
    assert f"Model hash: {short_hash}, Model: tinyfox".encode() in Path(record.path).read_bytes()  # A1111's


def test_a_pasted_picture_sets_the_size_to_its_aspect(qtbot: Any, window: Any) -> None:
    from PySide6.QtGui import QColor, QImage

    def paste(w: int, h: int) -> None:
        picture = QImage(w, h, QImage.Format.Format_RGB32)
        picture.fill(QColor("olive"))
        QApplication.clipboard().setImage(picture)
        window.canvas_view.setFocus()
        qtbot.keyClick(window.canvas_view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)

    paste(768, 512)
    assert (window.prompt.width_.value(), window.prompt.height_.value()) == (768, 512)
    assert "follows the picture" in window.status.message.text()
    paste(3000, 2000)  # a photo: its aspect, long side within reach of the model
    assert (window.prompt.width_.value(), window.prompt.height_.value()) == (1024, 680)
    assert window.current_request().validate().mode is Mode.img2img
    fill_panel(qtbot, window.prompt, width=512)  # the artist can still choose
    assert window.current_request().width == 512


def test_f1_shows_shortcuts_and_prompt_syntax(qtbot: Any, window: Any) -> None:
    qtbot.keyClick(window.prompt.prompt.edit, Qt.Key.Key_F1)
    dialog = window.help_dialog
    assert dialog.isVisible()
    text = dialog.text.toPlainText()
    assert "Ctrl+Enter" in text and "Alt+Left" in text and "BREAK" in text and "(-bad hands" in text
    dialog.close()


def test_open_outputs_folder_opens_the_gallery_folder(window: Any, store: Any, monkeypatch: Any) -> None:
    from PySide6.QtGui import QDesktopServices

    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True)
    assert window.open_outputs_folder()  # the file manager itself is the system's
    assert opened == [str(store.root)] and store.root.is_dir()


def test_choosing_an_sdxl_model_sets_its_native_size_unless_the_size_was_chosen(
    qtbot: Any, window: Any, tmp_path: Path
) -> None:
    from tests.core.ldm_layout import UNET_IN, XL_G, XL_L, write_header

    comfy = tmp_path / "ComfyUI" / "models" / "checkpoints"
    comfy.mkdir(parents=True)
    write_header(comfy / "xl-base.safetensors", {UNET_IN: [320, 4, 3, 3], XL_L: [8, 2], XL_G: [8, 2]})
    assert window.add_model_root(tmp_path / "ComfyUI") == 1
    combo = window.prompt.model

    def choose(name: str) -> None:
        combo.setFocus()
        while combo.currentText() != name:
            qtbot.keyClick(
                combo, Qt.Key.Key_Down if combo.currentIndex() < combo.count() - 1 else Qt.Key.Key_Home
            )

    size = lambda: (window.prompt.width_.value(), window.prompt.height_.value())  # noqa: E731
    assert size() == (512, 512)
    choose("xl-base")
    assert size() == (1024, 1024) and "trained at" in window.status.message.text()
    choose("Demo (random weights)")
    assert size() == (512, 512)
    fill_panel(qtbot, window.prompt, width=640, height=448)
    choose("xl-base")
    assert size() == (640, 448)  # the artist's own size stays


def test_layout_is_remembered(qtbot: Any, engine: Any, store: Any, tmp_path: Path) -> None:
    from sdstudio.gui.main_window import MainWindow
    from tests.gui.window_helpers import studio_state

    first = MainWindow(
        JobQueue(engine_factory=lambda: engine, store=store), store, state=studio_state(), preload=False
    )
    qtbot.addWidget(first)
    first.show()
    first.queue_dock.hide()
    first.close()
    assert first.state.layout_file.is_file()
    second = MainWindow(
        JobQueue(engine_factory=lambda: engine, store=store), store, state=studio_state(), preload=False
    )
    qtbot.addWidget(second)
    second.show()
    assert not second.queue_dock.isVisible() and second.prompt_dock.isVisible()
    second.close()


def test_token_count_follows_typing(qtbot: Any, window: Any) -> None:
    count = window.prompt.prompt.count
    fill_panel(qtbot, window.prompt, prompt="a small red fox")
    qtbot.waitUntil(
        lambda: count.text().endswith("/75") and not count.text().startswith("0/"), timeout=TIMEOUT
    )
    fill_panel(qtbot, window.prompt, prompt=" ".join(["forest"] * 80))
    qtbot.waitUntil(lambda: count.text().endswith("/150"), timeout=TIMEOUT)


def test_token_count_counts_an_embeddings_vectors(qtbot: Any, window: Any, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    webui = tmp_path / "stable-diffusion-webui"
    (webui / "models" / "Stable-diffusion").mkdir(parents=True)
    (webui / "embeddings").mkdir()
    save_file({"emb_params": torch.zeros(70, 32)}, str(webui / "embeddings" / "bad-hands-5.safetensors"))
    window.add_model_root(webui)
    fill_panel(qtbot, window.prompt, negative_prompt="blurry, bad-hands-5")
    count = window.prompt.negative.count
    qtbot.waitUntil(lambda: count.text() == "72/75", timeout=TIMEOUT)  # blurry, comma and 70 vectors


def test_a_failed_job_shows_a_readable_message_and_the_window_stays_usable(qtbot: Any, window: Any) -> None:
    window.prompt.set_request(
        Request(prompt="x", steps=2, width=64, height=64, model="/no/such/model.safetensors")
    )
    with qtbot.waitSignal(window.worker.failed, timeout=TIMEOUT):
        qtbot.mouseClick(window.prompt.generate, Qt.MouseButton.LeftButton)
    assert "model not found" in window.prompt.error.text() and "Traceback" not in window.prompt.error.text()
    assert "failed" in window.status.message.text()
    assert QApplication.activeModalWidget() is None  # no dialog
    window.prompt.set_request(Request(prompt="x", steps=2, width=64, height=64, model=""))
    with qtbot.waitSignal(window.worker.finished, timeout=TIMEOUT):
        qtbot.mouseClick(window.prompt.generate, Qt.MouseButton.LeftButton)
    assert not window.prompt.error.isVisible()


def test_styles_menu_adds_negative_presets(qtbot: Any, window: Any, store: Any) -> None:
    fill_panel(qtbot, window.prompt, **small(steps=2, negative_prompt="lowres"))
    actions = {a.text(): a for a in window.prompt.styles_menu.actions()}
    assert {"hands", "faces"} <= set(actions)
    actions["hands"].trigger()
    assert window.prompt.request().styles == ("hands",) and window.prompt.styles.text() == "hands"
    with qtbot.waitSignal(window.worker.finished, timeout=TIMEOUT) as done:
        qtbot.mouseClick(window.prompt.generate, Qt.MouseButton.LeftButton)
    ran = done.args[0].result.request
    assert ran.negative_prompt.startswith("lowres, bad hands") and ran.styles == ()
    window.prompt.set_request(Request(styles=("faces",)))
    assert actions["faces"].isChecked() and not actions["hands"].isChecked()


def test_serve_api_from_the_window_shares_its_queue(qtbot: Any, engine: Any, store: Any) -> None:
    import socket
    import threading

    import httpx

    from sdstudio.core.models import ModelLibrary
    from sdstudio.gui.main_window import MainWindow

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    queue = JobQueue(engine_factory=lambda: engine, store=store)
    from tests.gui.window_helpers import studio_state

    state = studio_state()
    win = MainWindow(queue, store, ModelLibrary(state.settings), state=state, preload=False, api_port=port)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    finished: list[Any] = []
    win.worker.finished.connect(finished.append)
    win.api.action.trigger()
    assert win.api.action.isChecked() and f":{port}" in win.status.message.text()
    body = {"prompt": "from the api", "steps": 2, "width": 64, "height": 64, "seed": 3}
    replies: list[Any] = []
    client = threading.Thread(
        target=lambda: replies.append(
            httpx.post(f"http://127.0.0.1:{port}/sdapi/v1/txt2img", json=body, timeout=60)
        )
    )
    client.start()  # the GUI thread keeps running its event loop meanwhile
    qtbot.waitUntil(lambda: len(finished) == 1 and bool(replies), timeout=TIMEOUT)
    client.join()
    assert replies[0].status_code == 200 and len(replies[0].json()["images"]) == 1
    assert finished[0].job.source == "api"
    qtbot.waitUntil(lambda: win.gallery.model.rowCount() == 1, timeout=30_000)
    win.close()
    assert not win.api.action.isChecked()


def test_canvas_toolbar_drives_the_brush_and_mask(qtbot: Any, window: Any) -> None:
    from PySide6.QtGui import QColor, QImage

    image = QImage(64, 64, QImage.Format.Format_RGB32)
    image.fill(QColor("teal"))
    window.send_to_canvas(image)
    tools = window.canvas_tools
    tools.size.setFocus()
    qtbot.keyClick(tools.size, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(tools.size, "20")
    assert window.canvas.brush.size == 20
    tools.eraser.trigger()
    assert window.canvas.brush.erase
    qtbot.keyClick(window.canvas_view, Qt.Key.Key_E)  # the canvas key toggles it back; the toolbar follows
    tools.sync()
    assert not window.canvas.brush.erase and not tools.eraser.isChecked()
    tools.invert.trigger()
    qtbot.waitUntil(lambda: window.prompt.mode_label.text().startswith("Mode: inpaint"), timeout=30_000)
    tools.undo.trigger()
    assert not window.canvas.has_mask()
    qtbot.waitUntil(lambda: window.prompt.mode_label.text().startswith("Mode: img2img"), timeout=30_000)
    tools.opacity.setValue(20)
    assert abs(window.canvas_view.overlay_opacity - 0.2) < 1e-6
