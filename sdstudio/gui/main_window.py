"""The studio window: prompt panel, canvas, gallery and queue docks, status bar; wires them to the worker."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QThreadPool, QTimer
from PySide6.QtGui import QCloseEvent, QImage, QShowEvent
from PySide6.QtWidgets import QDockWidget, QMainWindow, QPushButton, QWidget

from sdstudio.core.jobs import Job, JobFinished, JobQueue
from sdstudio.core.persistence import StudioState
from sdstudio.core.prompt.embeddings import EmbeddingCatalog
from sdstudio.core.request import InputImage, Progress, Request, RequestError
from sdstudio.core.speed.fewstep import few_step_profile
from sdstudio.core.studio import StudioModel, with_inputs
from sdstudio.gui import lora_picker, window_layout
from sdstudio.gui.animation_panel import AnimationPanel
from sdstudio.gui.autosave import Autosaver
from sdstudio.gui.canvas import CanvasModel, CanvasView
from sdstudio.gui.canvas.encoder import CanvasEncoder
from sdstudio.gui.canvas_toolbar import CanvasToolBar
from sdstudio.gui.gallery_panel import GalleryPanel
from sdstudio.gui.images import pil_to_qimage
from sdstudio.gui.iterate_actions import Iterate
from sdstudio.gui.layouts import scrollable
from sdstudio.gui.prompt_panel import PromptPanel
from sdstudio.gui.queue_memory import QueueMemory, describe_unrun
from sdstudio.gui.queue_panel import QueuePanel
from sdstudio.gui.status import StatusBar
from sdstudio.gui.window_actions import build_actions, default_model, model_choices
from sdstudio.gui.window_files import WindowFiles
from sdstudio.gui.worker import Worker

if TYPE_CHECKING:
    from sdstudio.core.gallery import GalleryStore
    from sdstudio.core.models import ModelLibrary


log = logging.getLogger(__name__)


class MainWindow(WindowFiles, QMainWindow):
    """The studio. Takes its models (queue, store, library) and its state on disk (settings, autosave) from
    the composition root; app.py wires the real ones."""

    def __init__(
        self,
        queue: JobQueue,
        store: GalleryStore | None,
        library: ModelLibrary | None = None,
        *,
        state: StudioState,
        preload: bool = True,
        restore: bool = True,
        api_port: int = 7860,
    ):
        super().__init__()
        self.setWindowTitle("sdstudio")
        self.setObjectName("sdstudioMainWindow")
        self.queue, self.store, self.library = queue, store, library
        self.api_port = api_port
        self.state = state  # settings, autosave: one place (core/persistence.py)
        self.studio = StudioModel()  # parameters, canvas inputs, last result; the widgets are its views
        self._shown_once = False
        self.progress_count = 0  # progress messages of the running job (tests, benchmark)
        self._running: Job | None = None
        self._result_was_shown = False
        self._loaded_model: str | None = None  # the model of the last job that ran

        # 1. widgets
        self.canvas = CanvasModel(self)
        self.canvas_view = CanvasView(self.canvas)
        self.setCentralWidget(self.canvas_view)
        self.canvas_tools = CanvasToolBar(self.canvas, self.canvas_view, self)
        self.prompt = PromptPanel(self.studio, model_choices(library))
        self.prompt.select_model(default_model(library))
        if library is not None:  # the token counters count an embedding's vectors, as A1111's does
            counts = EmbeddingCatalog(library.embedding_files).counts
            self.prompt.prompt.embeddings = self.prompt.negative.embeddings = counts
        self.gallery = GalleryPanel(store)
        self.gallery.loras = library.loras if library is not None else None
        self.queue_panel = QueuePanel()
        self.status = StatusBar()
        self.setStatusBar(self.status)
        self.prompt_dock = self._dock(
            "Prompt", "promptDock", self.prompt, Qt.DockWidgetArea.LeftDockWidgetArea
        )
        self.gallery_dock = self._dock(
            "Gallery", "galleryDock", self.gallery, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.queue_dock = self._dock(
            "Queue", "queueDock", self.queue_panel, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.animation = AnimationPanel(
            queue, lambda: self.studio.get("model"), library.settings.outputs_path() if library else None
        )
        self.animation_dock = self._dock(
            "Animation", "animationDock", scrollable(self.animation), Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.tabifyDockWidget(self.gallery_dock, self.animation_dock)
        self.gallery_dock.raise_()
        self.splitDockWidget(self.gallery_dock, self.queue_dock, Qt.Orientation.Vertical)
        self.resizeDocks([self.prompt_dock, self.gallery_dock], [380, 360], Qt.Orientation.Horizontal)
        self.resizeDocks([self.gallery_dock, self.queue_dock], [600, 160], Qt.Orientation.Vertical)
        if library is not None:  # LoRA picker, `<lora:` completion, VAE choice remembered per model
            self.lora_picker = lora_picker.attach(self)

        # 2. actions and menus
        build_actions(self)
        self._update_result_controls()

        # 3. the worker thread (torch and diffusers load there)
        self.worker = Worker(queue, preload=preload, parent=self)
        self.worker.started.connect(self._on_started)
        self.worker.progress.connect(self._on_progress)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.cancelled.connect(self._on_cancelled)
        self.worker.queueChanged.connect(self._on_queue_changed)
        self.iterate = Iterate(self)  # the Iterate menu: variations, X/Y/Z plot, outpaint, compare

        # 4. wiring
        self.prompt.generateRequested.connect(self.generate)
        self.prompt.cancelRequested.connect(self.cancel)
        self.prompt.errorCleared.connect(self.status.clear_error)
        self.queue_panel.removeRequested.connect(self._remove_job)
        self.queue_panel.cancelRequested.connect(self.cancel)
        self.gallery.sendToCanvas.connect(self.send_to_canvas)
        self.gallery.reuseRequested.connect(self.reuse_parameters)
        self.gallery.animationReuseRequested.connect(self.reuse_animation)
        self.gallery.message.connect(self.status.show_message)
        self.animation.message.connect(self.status.show_message)
        self.canvas.error.connect(lambda text: self.status.show_message(text, error=True))
        self.studio.message.connect(self.status.show_message)
        self._mode_timer = QTimer(self, singleShot=True, interval=60)  # strokes change the mask per move
        self._mode_timer.timeout.connect(self._canvas_to_studio)
        self.canvas.imageChanged.connect(self._canvas_to_studio)
        self.canvas.pictureReplaced.connect(self.studio.picture_replaced)
        self.canvas.maskChanged.connect(lambda _rect: self._mode_timer.start())

        # 5. autosave and remembered layout
        self.encoder = CanvasEncoder(self.canvas, self)  # PNGs made off the GUI thread, once per change
        self.autosave = Autosaver(self.studio, self.canvas, self.encoder, state)
        if restore and self.autosave.restore():
            self.status.show_message("Restored the last session (prompt and canvas).")
        self.queue_memory = QueueMemory(state.queue_file)
        self._offer_unrun(self.queue_memory.unrun() if restore else [])
        self.studio.native_side = self._model_native_side()  # after the restore: its size is the artist's
        self.studio.changed.connect(self._parameter_changed)
        self._canvas_to_studio()
        window_layout.restore_layout(self)
        self.gallery.rescan_in_background()  # files added or deleted outside the app
        QTimer.singleShot(0, self.worker.start)  # once the event loop runs: the window paints first

    # -- construction helpers --------------------------------------------------------------------
    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    # -- generation ------------------------------------------------------------------------------
    def current_request(self) -> Request:
        """The panel's request with the canvas image and mask (waits for their encoding)."""
        return self.studio.request(*self.encoder.wait())

    def generate(self) -> Job | None:
        """Submit the studio's request; while a job runs this queues it. Invalid input shows its message.

        Returns at once: when the canvas is still being encoded (a stroke just ended), the parameters are
        checked now and the job is submitted as soon as the picture and mask are ready."""
        self.prompt.clear_error()
        parameters = self.studio.parameters
        inputs = self.encoder.inputs()
        if inputs is not None:
            return self._submit(with_inputs(parameters, *inputs))
        picture = self.canvas.image()
        stand_in = InputImage(b"", picture.width(), picture.height()) if picture is not None else None
        try:  # the fields' errors show now, not after the encoding
            with_inputs(parameters, stand_in, stand_in if self.canvas.has_mask() else None).validate()
        except RequestError as e:
            self._show_request_error(e)
            return None
        self.status.show_message("Preparing the picture…")
        self.encoder.when_ready(lambda init, mask: self._submit(with_inputs(parameters, init, mask)))
        return None

    def _submit(self, request: Request) -> Job | None:
        try:
            job = self.queue.submit(request, source="gui")
        except RequestError as e:
            self._show_request_error(e)
            return None
        busy = self._running is not None or len(self.queue.jobs()) > 1
        self.status.show_message(f"Job #{job.id} queued." if busy else f"Job #{job.id} started.")
        return job

    def _show_request_error(self, e: RequestError) -> None:
        self.prompt.show_error(_readable(e), e.field)
        self.status.show_message(_readable(e), error=True)

    def cancel(self) -> None:
        if self.queue.cancel():
            self.status.show_message("Cancelling…")

    def _remove_job(self, job_id: int) -> None:
        if self.queue.remove(job_id):
            self.status.show_message(f"Job #{job_id} removed from the queue.")

    # -- worker messages -------------------------------------------------------------------------
    def _on_started(self, job: Job) -> None:
        self._running = job
        self.progress_count = 0
        self._result_was_shown = self.canvas_view.preview_visible  # what a cancel goes back to
        loads = job.request.model != self._loaded_model  # the engine keeps the last model loaded
        self._loaded_model = job.request.model
        self.status.show_message(f"Job #{job.id}: loading the model…" if loads else f"Job #{job.id} started")

    def _on_progress(self, job: Job, progress: Progress, preview: QImage | None) -> None:
        self.progress_count += 1
        if progress.phase == "compile":  # the fast path compiling a new size: say so, never a silent minute
            self.status.show_message(f"Job #{job.id}: {progress.message}")
            return
        self.status.show_progress(progress)
        self.queue_panel.set_progress(job.id, progress.step, progress.total)
        self.status.show_message(f"Job #{job.id} running")
        if preview is not None:
            self.canvas_view.show_preview(preview, progress.preview_box)

    def _on_finished(self, message: JobFinished) -> None:
        self._running = None
        result = message.result
        self.status.clear_progress()
        if message.job.task is not None:  # an animation or a training run: its panel shows and reports it
            self._back_from_previews()
            self.gallery.refresh()  # the finished video, the training's sample pictures
            return
        if result.images:
            self.studio.set_result(result)
            self.prompt.set_last_seed(result.images[-1].seed)
            self.use_result_action.setEnabled(True)
            self.show_result(0)
        n = len(result.images)
        self.status.show_message(
            f"Job #{message.job.id} done: {n} image{'s' * (n != 1)} in {result.elapsed:.1f} s"
            f" (seed {result.request.seed}). Ctrl+U uses the result as input."
        )
        self.gallery.refresh()

    def _on_failed(self, job: Job, text: str) -> None:
        self._running = None
        self._loaded_model = None  # a failed load leaves nothing loaded
        self.status.clear_progress()
        self._back_from_previews()
        self.status.show_message(f"Job #{job.id} failed: {text}", error=True)
        self.prompt.show_error(f"Job #{job.id} failed: {text}")

    def _on_cancelled(self, job: Job) -> None:
        if self._running is not None and self._running.id == job.id:
            self._running = None
            self.status.clear_progress()
            self._back_from_previews()
        self.status.show_message(f"Job #{job.id} cancelled.")

    def _back_from_previews(self) -> None:
        """A job that ends without a result leaves the canvas as it was: the last result, if shown, stays."""
        if self._result_was_shown and self.studio.results():
            self.show_result(self.studio.result_index)
        else:
            self.canvas_view.show_preview(None)

    def _offer_unrun(self, requests: list[Request]) -> None:
        """Jobs the last session left unrun are named, with a button that queues them again."""
        self.queue_memory.forget()
        self.requeue_button = QPushButton("Queue them again")
        self.requeue_button.setObjectName("requeueButton")
        self.requeue_button.setVisible(bool(requests))
        self.status.addPermanentWidget(self.requeue_button)
        if not requests:
            return
        self.status.show_message(describe_unrun(requests) + ".")

        def requeue() -> None:
            self.requeue_button.hide()
            for request in requests:
                self._submit(request)

        self.requeue_button.clicked.connect(requeue)

    def _on_queue_changed(self, jobs: tuple[Job, ...]) -> None:
        self.queue_memory.remember(jobs)  # what a crash would leave unrun
        self.queue_panel.set_jobs(jobs, self._running)  # signals arrive in order: _running is current
        self.prompt.set_busy(bool(jobs))

    # -- canvas and parameters -------------------------------------------------------------------
    def _canvas_to_studio(self) -> None:
        """The studio learns what the canvas holds (the mode follows)."""
        self._mode_timer.stop()
        image = self.canvas.image()
        has_image = image is not None and not image.isNull()
        picture = (image.width(), image.height()) if has_image else None
        self.studio.set_canvas(picture, has_image and self.canvas.has_mask())

    def _model_native_side(self) -> int | None:
        ref = self.studio.get("model")
        try:
            entry = self.library.resolve(ref, known_only=True) if self.library is not None else None
        except Exception:  # not in the library: nothing known about it
            return None
        return entry.family.native_size if entry is not None else None

    def _parameter_changed(self, name: str) -> None:
        if name == "model":
            self.studio.model_chosen(self._model_native_side())
            self.studio.few_step_chosen(few_step_profile(self.studio.get("model") or ""))

    def send_to_canvas(self, image: QImage) -> None:
        self.canvas.set_image(image)
        self.status.show_message("Picture sent to the canvas (img2img; paint a mask to inpaint).")

    def results(self) -> list:
        return self.studio.results()

    def show_result(self, index: int) -> None:
        """Show picture `index` of the last result on the canvas (wrapping around a batch)."""
        shown = self.studio.show_result(index)
        if shown is None:
            return
        self.canvas_view.show_preview(pil_to_qimage(shown.image))
        self._update_result_controls()
        n = len(self.studio.results())
        if n > 1:
            self.status.show_message(f"Result {self.studio.result_index + 1}/{n} (seed {shown.seed}).")

    def _update_result_controls(self) -> None:
        n = len(self.results())
        for action in (self.prev_result_action, self.next_result_action, self.result_label_action):
            action.setVisible(n > 1)  # only a batch has pictures to flip through
        self.result_label.setText(f" {self.studio.result_index + 1}/{n} " if n > 1 else "")

    def use_result_as_input(self) -> None:
        images = self.results()
        if images:
            self.send_to_canvas(pil_to_qimage(images[self.studio.result_index].image))

    def reuse_parameters(self, request) -> None:
        """Every parameter of an earlier job; a picture on the canvas keeps its size (the studio says so)."""
        self.studio.reuse(request)
        self.prompt.clear_error()

    def reuse_animation(self, project: Path) -> None:
        """A gallery video's settings back into the Animation panel, shown."""
        self.animation.load_file(project)
        self.animation_dock.show()
        self.animation_dock.raise_()

    # -- lifecycle -------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if not self._shown_once:  # the artist can type the prompt at once
            self._shown_once = True
            self.prompt.prompt.edit.setFocus()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt name)
        self.autosave.save_now()
        window_layout.save_layout(self)
        self.api.stop()
        self.worker.stop()
        self.gallery.shutdown()
        QThreadPool.globalInstance().waitForDone(2000)  # token counts in flight
        super().closeEvent(event)


def _readable(e: RequestError) -> str:
    """'width: 500 is not …' -> 'Width: 500 is not …'."""
    label = e.field.replace("_", " ")
    return f"{label[:1].upper()}{label[1:]}: {e.message}"
