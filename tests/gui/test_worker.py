"""The worker thread: typed Qt signals on the GUI thread, readable failures, no torch on the GUI thread."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication

from sdstudio.core.jobs import JobQueue
from sdstudio.core.request import Request
from sdstudio.gui.worker import Worker

pytest_plugins = ["tests.gui.window_fixtures"]

TIMEOUT = 60_000


def _request(**kw: Any) -> Request:
    return Request(**({"prompt": "q", "steps": 3, "width": 64, "height": 64, "seed": 5} | kw))


def test_messages_arrive_as_signals_on_the_gui_thread_in_order(qtbot: Any, engine: Any) -> None:
    worker = Worker(JobQueue(engine_factory=lambda: engine), preload=False)
    seen: list[tuple[str, bool]] = []
    gui = QApplication.instance().thread()

    def record(name: str) -> Any:
        return lambda *args: seen.append((name, QThread.currentThread() is gui))

    for name in ("queued", "started", "progress", "finished", "failed", "cancelled"):
        getattr(worker, name).connect(record(name))
    previews: list[Any] = []
    worker.progress.connect(lambda job, p, preview: previews.append(preview))
    worker.start()
    try:
        with qtbot.waitSignal(worker.finished, timeout=TIMEOUT) as done:
            worker.queue.submit(_request())
    finally:
        worker.stop()
    assert [n for n, _ in seen] == ["queued", "started", "progress", "progress", "progress", "finished"]
    assert all(on_gui for _, on_gui in seen)
    # 1/8 of 64 px, converted off the GUI thread; later steps may have none (previews come at most 10/s)
    assert previews[0].width() == 8 and all(p is None or p.width() == 8 for p in previews)
    assert done.args[0].result.images[0].seed == 5
    assert not worker.is_running()


def test_a_failing_job_is_a_readable_message_and_the_worker_goes_on(qtbot: Any, engine: Any) -> None:
    worker = Worker(JobQueue(engine_factory=lambda: engine), preload=False)
    worker.start()
    try:
        with qtbot.waitSignal(worker.failed, timeout=TIMEOUT) as failed:
            worker.queue.submit(_request(model="/no/such/model.safetensors"))
        job, message = failed.args
        assert "model not found" in message and "Traceback" not in message
        with qtbot.waitSignal(worker.finished, timeout=TIMEOUT):
            worker.queue.submit(_request())
    finally:
        worker.stop()


def test_window_is_shown_before_torch_is_imported(demo_home: Any) -> None:
    code = textwrap.dedent(
        """
        import sys
        from PySide6.QtWidgets import QApplication
        from sdstudio.core.jobs import JobQueue
        from sdstudio.gui.main_window import MainWindow
        app = QApplication([])
        from sdstudio.core.persistence import StudioPaths, open_state
        w = MainWindow(JobQueue(), None, state=open_state(StudioPaths.default()), preload=False)
        w.show()
        app.processEvents()
        print("visible", w.isVisible(), "torch", "torch" in sys.modules, "diffusers" in sys.modules)
        w.close()
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["visible", "True", "torch", "False", "False"]
