"""Application start-up: QApplication, the services from the composition root, the main window, the event loop."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

log = logging.getLogger(__name__)

QUIT_WHEN_SHOWN = "SDSTUDIO_QUIT_WHEN_SHOWN"  # benchmarks: print the time the window was shown, then quit


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

    from sdstudio.core.root import build_services
    from sdstudio.gui.main_window import MainWindow

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = QApplication.instance() or QApplication(argv or sys.argv)
    app.setApplicationName("sdstudio")
    services = build_services(store_optional=True)  # the engine is made on the worker thread
    window = MainWindow(services.queue, services.store, services.library, state=services.state)
    if services.store is None:
        window.status.show_message("The gallery store is unavailable: results are shown but not saved.", True)
    install_excepthook(window)
    window.show()
    from sdstudio.gui.models_window import offer_first_model

    offer_first_model(window)  # only the demo model: offer the Models window, once
    if services.settings.api_on_start:
        window.api.start()
    if os.environ.get(QUIT_WHEN_SHOWN):

        def shown() -> None:
            print(f"shown {time.time():.6f}", flush=True)
            window.close()
            app.quit()

        QTimer.singleShot(0, shown)
    try:
        return app.exec()
    finally:
        services.close()
