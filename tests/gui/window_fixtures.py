"""Fixtures (a pytest plugin) shared by the window, worker and gallery panel tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sdstudio.core.jobs import JobQueue
from sdstudio.core.models import ModelLibrary
from sdstudio.core.settings import Settings


@pytest.fixture(scope="module")
def engine(demo_home: Path) -> Any:
    """One CPU engine per module: the demo pipeline loads once, every test's queue reuses it."""
    from sdstudio.core.engine import Engine

    eng = Engine(
        ModelLibrary(Settings.load()), device="cpu"
    )  # loads the demo from the test's home, where demo_home is linked in
    yield eng
    eng.close()


@pytest.fixture
def store(demo_home: Path, tmp_path: Path) -> Any:
    from sdstudio.core.gallery import GalleryStore

    gallery = GalleryStore(tmp_path / "outputs")
    yield gallery
    gallery.close()


@pytest.fixture
def window(qtbot: Any, engine: Any, store: Any, tmp_path: Path) -> Any:
    from sdstudio.core.models import ModelLibrary
    from sdstudio.gui.main_window import MainWindow
    from tests.gui.window_helpers import studio_state

    state = studio_state()
    library = ModelLibrary(state.settings, save_settings=state.save_settings)
    win = MainWindow(
        JobQueue(engine_factory=lambda: engine, store=store), store, library, state=state, preload=False
    )
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win
