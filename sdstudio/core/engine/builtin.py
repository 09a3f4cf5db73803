"""The extensions every run has: progress with previews, cancel, and prompt editing ([from:to:when])."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sdstudio.core.engine.hooks import BatchContext, Extension, RunContext, StepState
from sdstudio.core.errors import Cancelled
from sdstudio.core.preview import PREVIEWS_PER_SECOND, PreviewStream
from sdstudio.core.request import Progress


class ReportProgress(Extension):
    """Calls `on_step` after every step with the elapsed time, the ETA over all batches and, at most `rate` times
    a second, a latent preview that never waits for the device (preview.PreviewStream)."""

    def __init__(
        self, on_step: Callable[[Progress], None], rate: float = PREVIEWS_PER_SECOND, taesd: bool = False
    ):
        self.on_step, self.rate, self.taesd = on_step, rate, taesd  # taesd: sharp previews (speed/taesd.py)
        self._stream: PreviewStream | None = None
        self._loop: tuple[object, object] | None = None  # the (batch, denoise pass) the stream belongs to

    def post_step(self, ctx: RunContext, step: StepState) -> None:
        batch = step.batch
        total = step.total or step.step
        elapsed = time.perf_counter() - step.denoise.started
        remaining = (total - step.step) + (batch.count - 1 - batch.index) * total
        loop = self._loop
        if self._stream is None or loop is None or loop[0] is not step.batch or loop[1] is not step.denoise:
            decoder = None
            if self.taesd:
                from sdstudio.core.speed.taesd import load_taesd

                decoder = load_taesd(ctx.model.latent_space, ctx.device, ctx.pipe.vae.dtype)
            self._stream = PreviewStream(ctx.model.latent_space, ctx.device, self.rate, decoder)
            self._loop = (step.batch, step.denoise)
        preview = self._stream.offer(step.tensors["latents"])
        eta = elapsed / step.step * remaining
        self.on_step(
            Progress(
                step.step,
                total,
                elapsed,
                eta,
                preview,
                batch.index,
                batch.count,
                phase=step.denoise.phase,
                preview_box=ctx.preview_box if step.denoise.phase == "sampling" else None,
            )
        )


class CancelOnEvent(Extension):
    """Stops the run when `cancel` is set: before each batch (also right after the model loaded) and after
    each step, so nothing more is decoded. An interrupt (`cancel.keep_partial`, A1111's) instead lets the
    pipeline skip its remaining steps and decode what it reached; the engine then ends with those pictures."""

    def __init__(self, cancel: threading.Event):
        self.cancel = cancel

    def before_batch(self, ctx: RunContext, batch: BatchContext) -> None:
        if self.cancel.is_set():
            raise Cancelled()

    def post_step(self, ctx: RunContext, step: StepState) -> None:
        if self.cancel.is_set():
            if not getattr(self.cancel, "keep_partial", False):
                raise Cancelled()
            step.denoise.pipe._interrupt = True  # diffusers skips the remaining steps, then decodes


class PromptEditing(Extension):
    """A1111 prompt editing: at the steps where the scheduled prompt changes, the next UNet call gets the
    new text embeddings (and SDXL pooled embeddings)."""

    tensor_inputs = ("prompt_embeds", "add_text_embeds")

    def post_step(self, ctx: RunContext, step: StepState) -> None:
        from sdstudio.core.prompt.encode import swap_embeddings

        cond = step.denoise.conditioning
        # step.step steps finished: set what the next (0-based step.step) UNet call uses
        if cond is not None and step.step in cond.change_steps:
            swap_embeddings(cond, step.step, step.tensors, ctx.request.batch_size)
