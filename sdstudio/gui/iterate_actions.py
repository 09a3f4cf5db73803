"""The window's Iterate menu: variations of the shown result, X/Y/Z plot and prompt matrix (as a grid to
click), outpainting the canvas picture, a batch as a grid, and before/after against the input."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QAction, QImage, QKeySequence
from PySide6.QtWidgets import QToolBar

from sdstudio.core.jobs import Job, JobFinished
from sdstudio.core.outpaint import Outpaint
from sdstudio.core.request import GeneratedImage, Mode, Progress, Request, RequestError, Result
from sdstudio.core.upscale.extras import ExtrasUpscale
from sdstudio.core.xyz import GridSpec, prompt_matrix, xyz_grid
from sdstudio.core.xyz_run import PlotOutcome, grid_task
from sdstudio.gui.grid_view import batch_picture
from sdstudio.gui.images import pil_to_qimage, qimage_to_input
from sdstudio.gui.iterate_dialogs import CompareDialog, GridDialog, OutpaintDialog, UpscaleDialog, XyzDialog

if TYPE_CHECKING:
    from sdstudio.gui.main_window import MainWindow

VARIATIONS = 4  # pictures per click
VARIATION_STRENGTH = 0.15  # a small move towards a new random variation seed each


def variations_of(request: Request, count: int = VARIATIONS, strength: float = VARIATION_STRENGTH) -> Request:
    """`count` variations of the picture `request` made: its seed kept, fresh variation seeds."""
    return request.replace(subseed=-1, subseed_strength=strength, batch_size=count, batch_count=1)


class Iterate:
    """Builds the Iterate menu on the window and keeps the plots it started until they finish."""

    def __init__(self, w: MainWindow):
        self.w = w
        self.plots: dict[int, PlotOutcome] = {}
        self.upscales: dict[int, list[Any]] = {}
        self.dialogs: list[Any] = []  # open grid / compare windows
        w.worker.finished.connect(self._finished)
        menu = w.menuBar().addMenu("&Iterate")
        self.variations_action = self._add(
            menu, "&Variations of the shown result", self.variations, "Ctrl+Shift+V"
        )
        self.plot_action = self._add(menu, "&X/Y/Z plot…", self.xyz_plot, "Ctrl+Shift+X")
        self.matrix_action = self._add(menu, "&Prompt matrix (a|b|c)", self.prompt_matrix)
        menu.addSeparator()
        self.outpaint_action = self._add(menu, "&Outpaint the canvas picture…", lambda: self.outpaint())
        self.upscale_action = self._add(menu, "&Upscale the canvas picture…", self.upscale_dialog)
        self.upscale_gallery_action = QAction("Upscale into the gallery…", w.gallery.view)
        self.upscale_gallery_action.triggered.connect(self.upscale_gallery_dialog)
        w.gallery.view.addAction(self.upscale_gallery_action)  # the thumbnails' context menu (A1111's Extras)
        self.compare_gallery_action = QAction("Compare the two selected", w.gallery.view)
        self.compare_gallery_action.triggered.connect(self.compare_gallery)
        w.gallery.view.addAction(self.compare_gallery_action)
        menu.addSeparator()
        self.batch_action = self._add(menu, "Show the &batch as a grid", self.batch_grid)
        self.compare_action = self._add(menu, "&Compare the result with its input", self.compare)
        self.variations_action.setIconText("Variations")
        self.variations_action.setToolTip(
            f"{VARIATIONS} variations of the shown result: its seed, fresh variation seeds at strength "
            f"{VARIATION_STRENGTH:g} (Ctrl+Shift+V)"
        )
        toolbar = w.findChild(QToolBar, "studioToolBar")
        if toolbar is not None:  # beside Generate, as A1111's variation workflow sits beside the seed
            toolbar.addAction(self.variations_action)

    def _add(self, menu: Any, text: str, slot: Any, key: str = "") -> QAction:
        action = menu.addAction(text)
        action.triggered.connect(slot)
        if key:
            action.setShortcut(QKeySequence(key))
            self.w.addAction(action)
        return action

    def _shown(self) -> Any | None:
        results = self.w.results()
        return results[self.w.studio.result_index] if results else None

    def _error(self, text: str) -> None:
        self.w.status.show_message(text, error=True)

    # -- variations, outpaint ----------------------------------------------------------------------
    def variations(self) -> Job | None:
        shown = self._shown()
        if shown is None:
            self._error("Generate a picture first: variations start from the shown result.")
            return None
        return self.w._submit(variations_of(shown.request))

    def outpaint(self, plan: Outpaint | None = None) -> Job | None:
        """Extend the canvas picture as `plan` says (None: ask with the Outpaint dialog)."""
        from sdstudio.core.outpaint import outpaint_request

        picture = self.w.canvas.image()
        if picture is None:
            self._error("Put a picture on the canvas first: outpainting extends it.")
            return None
        if plan is None:
            dialog = OutpaintDialog(self.w)
            if not dialog.exec():
                return None
            plan = dialog.plan()
        try:
            base = self.w.studio.parameters.replace(mode=Mode.txt2img, init_image=None, mask=None)
            request = outpaint_request(base, qimage_to_input(picture).to_pil(), plan)
        except RequestError as e:
            self._error(e.message)
            return None
        return self.w._submit(request)

    def upscale_dialog(self) -> Job | None:
        from sdstudio.core.upscale import all_upscalers

        dialog = UpscaleDialog([u.name for u in all_upscalers(self.w.library)], self.w)
        return self.upscale(dialog.settings()) if dialog.exec() else None

    def upscale(self, settings: ExtrasUpscale) -> Job | None:
        """Upscale the canvas picture on the worker (tile progress in the status bar); it replaces the canvas
        picture when done (undo brings the old one back)."""
        picture = self.w.canvas.image()
        if picture is None:
            self._error("Put a picture on the canvas first.")
            return None
        source = qimage_to_input(picture).to_pil()
        try:
            settings.validate(source.width, source.height)
        except RequestError as e:
            self._error(e.message)
            return None
        done: list[Any] = []
        job = self.w.queue.submit(
            self.w.studio.parameters, source="gui", task=upscale_task(source, settings, done)
        )
        self.upscales[job.id] = done
        return job

    def upscale_gallery_dialog(self) -> Job | None:
        from sdstudio.core.upscale import all_upscalers

        dialog = UpscaleDialog([u.name for u in all_upscalers(self.w.library)], self.w)
        return self.upscale_gallery(dialog.settings()) if dialog.exec() else None

    def upscale_gallery(self, settings: ExtrasUpscale) -> Job | None:
        """Upscale the selected gallery picture on the worker; the result is saved to the gallery beside it,
        with the picture's own parameters."""
        from PIL import Image

        record = self.w.gallery.selected()
        if record is None:
            self._error("Select a picture in the gallery first.")
            return None
        try:
            with Image.open(record.path) as img:
                source = img.convert("RGB")
            settings.validate(source.width, source.height)
        except (OSError, ValueError) as e:
            self._error(f"Cannot upscale {record.path}: {e}")
            return None
        recorded = self.w.store.request_of(record) or Request()
        task = upscale_task(source, settings, [], keep=recorded)
        return self.w.queue.submit(self.w.studio.parameters, source="gui", task=task)

    # -- plots -------------------------------------------------------------------------------------
    def xyz_plot(self) -> Job | None:
        dialog = XyzDialog(self.w)
        if not dialog.exec():
            return None
        axes = dialog.axes()
        return self.run_grid(
            lambda base: xyz_grid(base, *axes), dialog.legend.isChecked(), dialog.margin.value()
        )

    def prompt_matrix(self) -> Job | None:
        return self.run_grid(prompt_matrix)

    def run_grid(self, make: Any, legend: bool = True, margin: int = 0) -> Job | None:
        """Submit the grid made from the studio's request as one queue task; its grid opens when done."""
        try:
            base = self.w.current_request()
            spec: GridSpec = make(base)
            outcome = PlotOutcome(spec, legend, margin)
            job = self.w.queue.submit(base, source="gui", task=grid_task(outcome, self.w.store))
        except RequestError as e:
            self._error(e.message)
            return None
        self.plots[job.id] = outcome
        self.w.status.show_message(f"Job #{job.id}: a grid of {spec.count} pictures.")
        return job

    def _finished(self, message: JobFinished) -> None:
        upscaled = self.upscales.pop(message.job.id, None)
        if upscaled:
            self.w.canvas.set_image(pil_to_qimage(upscaled[0]), "upscale")
            self.w.status.show_message(f"Upscaled to {upscaled[0].width}x{upscaled[0].height}.")
        outcome = self.plots.pop(message.job.id, None)
        if outcome is None or outcome.picture is None:
            return
        self.w.gallery.refresh()
        dialog = GridDialog(outcome.picture, "X/Y/Z plot", self.w)
        dialog.cellClicked.connect(lambda x, y, z: self.open_cell(outcome, x, y, z))
        self._show(dialog)

    def open_cell(self, outcome: PlotOutcome, x: int, y: int, z: int) -> None:
        """The cell's picture becomes the shown result (Reuse, Ctrl+U and variations work on it)."""
        result = outcome.results[(x, y, z)]
        self.w.studio.set_result(result)
        self.w.show_result(0)
        self.w.status.show_message(f"Cell {x + 1},{y + 1}: seed {result.images[0].seed}.")

    # -- looking -----------------------------------------------------------------------------------
    def batch_grid(self) -> GridDialog | None:
        results = self.w.results()
        if len(results) < 2:
            self._error("The shown result is a single picture; a batch shows as a grid.")
            return None
        dialog = GridDialog(batch_picture([g.image for g in results]), "Batch", self.w)
        dialog.cellClicked.connect(lambda x, y, z: self.w.show_result(y * _columns(dialog) + x))
        return self._show(dialog)

    def compare(self) -> CompareDialog | None:
        shown, picture = self._shown(), self.w.canvas.image()
        if shown is None or picture is None:
            self._error("Compare needs a result shown over a picture on the canvas.")
            return None
        return self._show(CompareDialog(picture, pil_to_qimage(shown.image), self.w))

    def compare_gallery(self) -> CompareDialog | None:
        """The two pictures selected in the gallery (Ctrl+click), older left, under the compare slider."""
        rows = self.w.gallery.selected_rows()
        records = [self.w.gallery.model.record(r) for r in rows]
        if len(records) != 2 or None in records:
            self._error("Select two pictures in the gallery (Ctrl+click) to compare them.")
            return None
        older, newer = sorted(records, key=lambda r: r.created)
        from sdstudio.gui.gallery_video import still_of  # a video compares by its middle frame

        before, after = QImage(str(still_of(older))), QImage(str(still_of(newer)))
        if before.isNull() or after.isNull():
            self._error("One of the two pictures cannot be read.")
            return None
        return self._show(CompareDialog(before, after, self.w))

    def _show(self, dialog: Any) -> Any:
        self.dialogs = [d for d in self.dialogs if d.isVisible()] + [dialog]
        dialog.show()
        return dialog


def upscale_task(picture: Any, settings: ExtrasUpscale, out: list[Any], keep: Request | None = None) -> Any:
    """A queue task upscaling `picture` into `out`; tiles report as progress steps (phase "upscale").
    keep: save the upscaled picture to the gallery with this request's parameters."""

    def task(engine: Any, on_step: Any, cancel: Any) -> Result:
        from sdstudio.core.upscale.extras import extras_upscale

        started = time.perf_counter()

        def tile(done: int, total: int) -> None:
            elapsed = time.perf_counter() - started
            on_step(Progress(done, total, elapsed, elapsed / done * (total - done), phase="upscale"))

        out.append(
            extras_upscale(picture, settings, engine.library, engine.device, on_tile=tile, cancel=cancel)
        )
        if keep is not None:
            seed = max(keep.seed, 0)
            return Result(keep, (GeneratedImage(out[-1], seed, keep.replace(seed=seed)),))
        return Result(Request(), ())  # the picture goes to the canvas, not the gallery

    return task


def _columns(dialog: GridDialog) -> int:
    return 1 + max(b[0] for b in dialog.view.picture.boxes)
