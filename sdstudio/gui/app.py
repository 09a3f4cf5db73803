"""Application start-up: QApplication, main window, event loop."""

from __future__ import annotations

import sys


def run_app(argv: list[str] | None = None) -> int:
    from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

    app = QApplication.instance() or QApplication(argv or sys.argv)
    window = QMainWindow()
    window.setWindowTitle("sdstudio")
    window.setCentralWidget(QLabel("sdstudio: the studio window is coming."))
    window.resize(1280, 800)
    window.show()
    return app.exec()
