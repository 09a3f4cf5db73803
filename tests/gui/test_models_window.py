"""The Models window driven with real clicks and keys: an install from an address with its progress bar, pause,
resume and cancel in the queue, the starter list with installed ones marked, and the first-start offer."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from sdstudio.core.install.queue import DownloadQueue, State
from sdstudio.core.models import ModelLibrary
from sdstudio.core.settings import Settings
from sdstudio.gui.models_window import ModelsWindow, offer_first_model
from tests.core.install.servers import Site, checkpoint_bytes, files_under, lora_bytes, serve, url
from tests.gui.window_helpers import studio_state

WAIT = 30_000


@pytest.fixture
def site():
    s = Site()
    server = serve(s)
    yield s, server
    server.shutdown()


@pytest.fixture
def models(qtbot: Any) -> ModelsWindow:
    settings = Settings()
    queue = DownloadQueue(settings)
    win = ModelsWindow(settings, queue)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    queue.close()


def _click(qtbot: Any, button: Any) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_typed_address_installs_with_a_progress_bar(qtbot: Any, models: ModelsWindow, site) -> None:
    s, server = site
    data = lora_bytes(8)
    s.files["/dl/ink-style.safetensors"] = data
    installed: list = []
    models.installed.connect(installed.append)
    qtbot.mouseClick(models.source_edit, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(models.source_edit, url(server, "/dl/ink-style.safetensors"))
    _click(qtbot, models.install_button)
    qtbot.waitUntil(lambda: bool(installed), timeout=WAIT)
    (row,) = models.rows.values()
    assert row.bar.value() == 1000 and row.state.text() == State.done.value
    assert "installed to" in row.detail.text() and not row.pause_button.isEnabled()
    path = Settings().library_path() / "models" / "Lora" / "ink-style.safetensors"
    assert path.read_bytes() == data and models.source_edit.text() == ""


def test_pause_resume_and_cancel_from_the_row(qtbot: Any, models: ModelsWindow, site) -> None:
    s, server = site
    data = checkpoint_bytes(pad=500_000)
    s.files["/dl/slow.safetensors"] = data
    s.delay = 0.03
    models.source_edit.setText(url(server, "/dl/slow.safetensors"))
    qtbot.keyClick(models.source_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: bool(models.rows), timeout=WAIT)
    (row,) = models.rows.values()
    qtbot.waitUntil(lambda: 0 < row.bar.value() < 1000 and "/s" in row.detail.text(), timeout=WAIT)
    assert " of " in row.detail.text() and "left" in row.detail.text()
    # 1. pause: the bar stops, the button offers Resume
    _click(qtbot, row.pause_button)
    qtbot.waitUntil(lambda: row.job.state is State.paused, timeout=WAIT)
    assert row.pause_button.text() == "Resume"
    kept = row.bar.value()
    assert 0 < kept < 1000
    # 2. resume: it goes on from there and lands
    s.delay = 0.001
    _click(qtbot, row.pause_button)
    qtbot.waitUntil(lambda: row.job.state is State.done, timeout=WAIT)
    assert (
        Settings().library_path() / "models" / "Stable-diffusion" / "slow.safetensors"
    ).read_bytes() == data
    assert [r.headers.get("Range") for r in s.seen if r.method == "GET"][-1].startswith("bytes=")
    # 3. cancel another one midway: nothing stays behind
    s.files["/dl/other.safetensors"] = checkpoint_bytes(seed=2, pad=500_000)
    s.delay = 0.03
    models.source_edit.setText(url(server, "/dl/other.safetensors"))
    _click(qtbot, models.install_button)
    qtbot.waitUntil(lambda: len(models.rows) == 2, timeout=WAIT)
    second = models.rows[max(models.rows)]
    qtbot.waitUntil(lambda: second.bar.value() > 0, timeout=WAIT)
    _click(qtbot, second.cancel_button)
    qtbot.waitUntil(lambda: second.job.state is State.cancelled, timeout=WAIT)
    library = Settings().library_path()
    assert files_under(library / ".downloads") == set()
    assert not (library / "models" / "Stable-diffusion" / "other.safetensors").exists()
    _click(qtbot, models.clear_button)
    assert models.rows == {}


def test_a_refused_source_shows_its_reason_in_the_row(qtbot: Any, models: ModelsWindow, site) -> None:
    _s, server = site
    models.source_edit.setText(url(server, "/dl/missing.safetensors"))
    _click(qtbot, models.install_button)
    qtbot.waitUntil(lambda: any(r.job.state is State.failed for r in models.rows.values()), timeout=WAIT)
    (row,) = models.rows.values()
    assert "HTTP 404" in row.detail.text()
    _click(qtbot, models.install_button)  # empty field: a hint, no job
    assert "Type or paste" in models.message.text() and len(models.rows) == 1


def test_a_wrong_sha256_typed_in_is_refused_and_nothing_stays(qtbot: Any, models: ModelsWindow, site) -> None:
    s, server = site
    s.files["/dl/tampered.safetensors"] = lora_bytes(4)
    models.source_edit.setText(url(server, "/dl/tampered.safetensors"))
    qtbot.keyClicks(models.sha_edit, "not-a-hash")
    _click(qtbot, models.install_button)
    assert "64 hex digits" in models.message.text() and models.rows == {}
    models.sha_edit.clear()
    qtbot.keyClicks(models.sha_edit, "ab" * 32)
    qtbot.keyClick(models.sha_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: any(r.job.state is State.failed for r in models.rows.values()), timeout=WAIT)
    (row,) = models.rows.values()
    assert "sha256 mismatch" in row.detail.text() and row.pause_button.text() == "Retry"
    assert files_under(Settings().library_path()) == set()


def test_starter_list_marks_installed_models(qtbot: Any, models: ModelsWindow) -> None:
    assert models.starters.rowCount() >= 10
    names = [models.starters.item(r, 0).text() for r in range(models.starters.rowCount())]
    assert "SD-Turbo" in names and "Stable Diffusion 1.5" in names
    assert models.starter_button("sd-turbo").text() == "Install"
    target = Settings().library_path() / "models" / "Stable-diffusion" / "sd_turbo.safetensors"
    target.parent.mkdir(parents=True)
    target.write_bytes(checkpoint_bytes())
    models.refresh()
    button = models.starter_button("sd-turbo")
    assert button.text() == "Installed ✓" and not button.isEnabled()
    assert "free there" in models.where.text()


def test_first_start_offers_the_models_window_once(qtbot: Any) -> None:
    from sdstudio.core.jobs import JobQueue
    from sdstudio.gui.main_window import MainWindow

    state = studio_state(Settings())
    win = MainWindow(JobQueue(), None, ModelLibrary(state.settings), state=state, preload=False)
    qtbot.addWidget(win)
    win.show()
    box = offer_first_model(win)
    assert box is not None and box.isVisible()
    _click(qtbot, box.button(QMessageBox.StandardButton.Open))
    qtbot.waitUntil(lambda: getattr(win, "models_window", None) is not None, timeout=WAIT)
    assert win.models_window.isVisible()
    assert Settings.load().models_prompt_done
    win.models_window.close()
    assert offer_first_model(win) is None  # asked once
    win.models_window.queue.close()


def test_file_menu_opens_the_models_window(qtbot: Any) -> None:
    from sdstudio.core.jobs import JobQueue
    from sdstudio.gui.main_window import MainWindow

    state = studio_state()
    win = MainWindow(JobQueue(), None, ModelLibrary(state.settings), state=state, preload=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(lambda: win.isActiveWindow(), timeout=WAIT)
    modifiers = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(win.canvas_view, Qt.Key.Key_M, modifiers)
    qtbot.waitUntil(lambda: getattr(win, "models_window", None) is not None, timeout=WAIT)
    assert win.models_window.isVisible() and win.models_window.windowTitle() == "Models"
    win.models_window.queue.close()


def test_an_install_from_the_studio_lands_in_the_model_selector(qtbot: Any, tmp_path) -> None:
    from sdstudio.core.jobs import JobQueue
    from sdstudio.gui.main_window import MainWindow
    from sdstudio.gui.models_window import open_models_window

    src = tmp_path / "portrait-mix.safetensors"
    src.write_bytes(checkpoint_bytes(6))
    state = studio_state(Settings())
    win = MainWindow(JobQueue(), None, ModelLibrary(state.settings), state=state, preload=False)
    qtbot.addWidget(win)
    win.show()
    models = open_models_window(win)
    models.source_edit.setText(str(src))
    models.mode_box.setCurrentText("link")
    _click(qtbot, models.install_button)
    names = lambda: [win.prompt.model.itemText(i) for i in range(win.prompt.model.count())]  # noqa: E731
    qtbot.waitUntil(lambda: any(n.startswith("portrait-mix") for n in names()), timeout=WAIT)
    link = Settings().library_path() / "models" / "Stable-diffusion" / "portrait-mix.safetensors"
    assert link.is_symlink() and link.resolve() == src.resolve()
    models.queue.close()


def test_the_models_window_uses_the_settings_it_is_given(qtbot: Any, tmp_path) -> None:
    """The studio state built from a settings file in a tmp folder is the one the Models window and the
    first-start offer use: nothing loads or saves the default settings file."""
    from sdstudio.core.jobs import JobQueue
    from sdstudio.core.persistence import StudioPaths, open_state
    from sdstudio.gui.main_window import MainWindow

    paths = StudioPaths.under(tmp_path / "portable")
    Settings(library_dir=str(tmp_path / "my-library")).save(paths.settings_file)
    state = open_state(paths)
    win = MainWindow(JobQueue(), None, ModelLibrary(state.settings), state=state, preload=False)
    qtbot.addWidget(win)
    win.show()
    box = offer_first_model(win)
    assert box is not None
    _click(qtbot, box.button(QMessageBox.StandardButton.Open))
    qtbot.waitUntil(lambda: getattr(win, "models_window", None) is not None, timeout=WAIT)
    models = win.models_window
    assert models.settings is state.settings and models.queue.settings is state.settings
    assert str(tmp_path / "my-library") in models.where.text()
    assert Settings.load(paths.settings_file).models_prompt_done  # saved where it came from
    # an A1111 install typed in is used in place: its root is kept in the same settings file
    webui = tmp_path / "stable-diffusion-webui"
    (webui / "models" / "Stable-diffusion").mkdir(parents=True)
    (webui / "models" / "Stable-diffusion" / "mine.safetensors").write_bytes(checkpoint_bytes(3))
    models.source_edit.setText(str(webui))
    _click(qtbot, models.install_button)
    qtbot.waitUntil(
        lambda: Settings.load(paths.settings_file).model_roots == [str(webui.resolve())], timeout=WAIT
    )
    assert state.settings.model_roots == [str(webui.resolve())]
    assert not Settings.default_path().exists()  # the default settings file was never written
    models.queue.close()
