"""Application start-up: QApplication, the real queue, store and library, the main window, the event loop."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

log = logging.getLogger(__name__)

QUIT_WHEN_SHOWN = "SDSTUDIO_QUIT_WHEN_SHOWN"  # benchmarks: print the time the window was shown, then quit


def open_store() -> Any | None:
    """The gallery store, or None (the window still works; results are then not kept)."""
    try:
        from sdstudio.core.gallery import GalleryStore
    except ImportError:
        return None
    try:
        return GalleryStore()
    except Exception as e:  # shown in the window's status bar
        log.warning("gallery store unavailable: %s", e)
        return None


def open_library() -> Any | None:
    try:
        from sdstudio.core.models import ModelLibrary
    except ImportError:
        return None
    try:
        return ModelLibrary()
    except Exception as e:
        log.warning("model library unavailable: %s", e)
        return None


def install_excepthook(window: Any) -> None:
    """An unexpected error in a slot becomes one line in the status bar (details go to the log)."""

    def hook(kind: type[BaseException], error: BaseException, tb: Any) -> None:
        log.error("unexpected error", exc_info=(kind, error, tb))
        try:
            window.status.show_message(f"Unexpected error: {kind.__name__}: {error}", error=True)
        except RuntimeError:  # the window is gone
            pass

    sys.excepthook = hook


def run_app(argv: list[str] | None = None) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from sdstudio.core.jobs import JobQueue
    from sdstudio.gui.main_window import MainWindow

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = QApplication.instance() or QApplication(argv or sys.argv)
    app.setApplicationName("sdstudio")
    store, library = open_store(), open_library()

    def engine_factory() -> Any:  # called on the worker thread: torch and diffusers load there
        from sdstudio.core.engine import Engine

        return Engine.from_settings(library)

    window = MainWindow(JobQueue(engine_factory=engine_factory, store=store), store, library)
    if store is None:
        window.status.show_message("The gallery store is unavailable: results are shown but not saved.", True)
    install_excepthook(window)
    window.show()
    from sdstudio.gui.models_window import offer_first_model

    offer_first_model(window)  # only the demo model: offer the Models window, once
    if getattr(getattr(library, "settings", None), "api_on_start", False):
        window.api.start()
    if os.environ.get(QUIT_WHEN_SHOWN):

        def shown() -> None:
            print(f"shown {time.time():.6f}", flush=True)
            window.close()
            app.quit()

        QTimer.singleShot(0, shown)
    return app.exec()
