"""The training window with a real queue and worker: typed options, Train, a live loss plot, sample pictures
in the gallery during the run, the LoRA ready."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image
from PySide6.QtCore import Qt

from sdstudio.core.jobs import JobQueue
from sdstudio.gui.training_window import TrainingWindow, connect_worker
from sdstudio.gui.worker import Worker

TIMEOUT = 300_000


def _type(qtbot: Any, widget: Any, text: str) -> None:
    widget.setFocus()
    widget.selectAll()
    qtbot.keyClicks(widget, text)


def test_a_lora_is_trained_from_the_window(
    qtbot: Any, demo_home: Path, sdstudio_home: Path, tmp_path: Path
) -> None:
    from sdstudio.core.engine import Engine
    from sdstudio.core.gallery import GalleryStore
    from sdstudio.core.models import ModelLibrary
    from sdstudio.core.settings import Settings

    pictures = tmp_path / "pictures" / "3_red"
    pictures.mkdir(parents=True)
    for i in range(2):
        Image.new("RGB", (64, 64), (220, 30, 30)).save(pictures / f"{i}.png")
    Image.new("RGB", (16, 16)).save(pictures / "tiny.png")
    library = ModelLibrary(Settings.load())
    lora_folder = library.settings.library_path() / "models" / "Lora"
    store = GalleryStore(tmp_path / "outputs")
    queue = JobQueue(engine_factory=lambda: Engine(library, device="cpu"), store=store)  # as the app's
    worker = Worker(queue, preload=False)
    panel = TrainingWindow(
        library, lambda task, req: queue.submit(req, task=task), lora_folder, gallery=store
    )
    connect_worker(panel, worker)
    saved: list[tuple[list[str], bool]] = []  # (origins, the run still going) per sample saved
    panel.samplesSaved.connect(
        lambda records: saved.append(([r.origin for r in records], panel.job is not None))
    )
    qtbot.addWidget(panel)
    panel.show()
    worker.start()
    try:
        _type(qtbot, panel.dataset, str(tmp_path / "pictures"))
        _type(qtbot, panel.name, "redstyle")
        _type(qtbot, panel.trigger, "redstyle")
        for box, value in ((panel.steps, "6"), (panel.rank, "4"), (panel.resolution, "64")):
            _type(qtbot, box, value)
        _type(qtbot, panel.sample_prompt, "a redstyle cup")
        _type(qtbot, panel.sample_every, "3")
        qtbot.mouseClick(panel.preview_button, Qt.MouseButton.LeftButton)
        assert "skipped tiny.png: too small" in panel.preview.toPlainText()
        assert "2 pictures, 1 skipped; 6 per epoch" in panel.status.text()
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        assert not panel.start_button.isEnabled() and panel.cancel_button.isEnabled()
        qtbot.waitUntil(lambda: panel.job is None, timeout=TIMEOUT)
        assert panel.status.text().startswith("done: <lora:redstyle:1>"), panel.status.text()
        assert len(panel.plot.losses) == 6 and panel.progress.value() == 6
        assert panel.start_button.isEnabled()
        assert (lora_folder / "redstyle.safetensors").is_file()
        assert [i.name for i in library.loras.infos()] == ["redstyle"]
        # the sample pictures reached the gallery while the run went on, each with its step
        assert saved == [
            (["trained LoRA redstyle step 3"], True),
            (["trained LoRA redstyle step 6"], True),
        ]
        assert [r.origin for r in store.search("cup")][0] == "trained LoRA redstyle step 6"
    finally:
        worker.stop()
        store.close()
