"""The PySide6 studio window: thin views over the core, a worker thread for the jobs."""

from sdstudio.gui.qt_compat import keep_none_alive

keep_none_alive()  # before any Qt call: see qt_compat
