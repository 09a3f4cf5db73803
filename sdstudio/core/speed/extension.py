"""Engine extensions of sdstudio.core.speed: FastSpeed (the fast path applied once per loaded model, a message
before a size compiles, fused attention projections kept in step with LoRA patches, TAESD decode) and PeakMemory
(the job's peak device memory in its result)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from sdstudio.core.engine.hooks import BatchContext, Extension, RunContext
from sdstudio.core.request import Progress, Request
from sdstudio.core.speed.fast import FastOptions, FastPath, guard_vae_nan, in_bf16, prepare_fast

if TYPE_CHECKING:
    from diffusers import AutoencoderKL

    from sdstudio.core.engine import Engine
    from sdstudio.core.engine.hooks import Decoded
    from sdstudio.core.protocols import Library


EXTRA: Final = "fast"  # key of the FastPath in LoadedModel.extras (the engine reloads a model leaving "fast")
TAESD_SETTING = "settings"  # FastOptions.taesd: the TAESD of the settings, loaded for the model's latents


class FastSpeed(Extension):
    """Runs a job on the fast path (Request.speed "fast"); see sdstudio.core.speed.fast."""

    def __init__(self, options: FastOptions | None = None):
        self.options = options or FastOptions()
        self._vae: AutoencoderKL | None = None  # the pipeline's own VAE while TAESD decodes

    @classmethod
    def for_request(cls, request: Request, library: Library) -> FastSpeed | None:
        """The fast path for fast jobs; with the TAESD setting on, TAESD decodes them on the CPU."""
        if request.speed != "fast":
            return None
        settings = getattr(library, "settings", None)
        return cls(FastOptions(taesd=TAESD_SETTING if getattr(settings, "taesd", False) else None))

    @classmethod
    def factory(cls, options: FastOptions) -> Callable[[Request, Library], FastSpeed | None]:
        """A factory with chosen options (benchmarks, tests): see use_fast_options."""

        def make(request: Request, library: Library) -> FastSpeed | None:
            return cls(options) if request.speed == "fast" else None

        make.fast_speed = True  # type: ignore[attr-defined]
        return make

    def _state(self, ctx: RunContext) -> FastPath:
        state = ctx.model.extras.get(EXTRA)
        if state is None:  # 1. once per model: fuse, channels_last, compile (lazily, at the first call)
            pipe, options = ctx.model.pipe, self.options
            plan = ctx.model.extras.get("memory_plan")
            if plan is not None and plan.offload != "none":  # weights move between devices: no static graphs
                options = dataclasses.replace(options, compile=False)
            key = f"{ctx.model.hash or ctx.model.ref}:{type(pipe).__name__}:{pipe.dtype}"
            state = ctx.model.extras[EXTRA] = prepare_fast(pipe, ctx.device, options, key)
        return state

    def pipeline_prepared(self, ctx: RunContext) -> None:
        state = self._state(ctx)
        r = ctx.request
        message = state.size_message(r.width, r.height, r.batch_size)  # 2. never a silent minute
        if message and ctx.on_step is not None:
            ctx.on_step(Progress(0, r.steps, 0.0, 0.0, phase="compile", message=message))
        taesd = self.options.taesd
        if taesd is TAESD_SETTING:  # the setting: the hub's TAESD for this latent space, on the CPU path only
            taesd = None
            if ctx.device == "cpu":
                from sdstudio.core.speed.taesd import load_taesd

                taesd = load_taesd(ctx.model.latent_space, ctx.device, ctx.pipe.vae.dtype)
        if taesd is not None and r.mode.value == "txt2img" and hasattr(ctx.pipe, "vae"):
            self._vae = ctx.pipe.vae  # 3. TAESD decodes (txt2img: nothing is encoded), put back in after_run
            import torch

            if taesd.device != self._vae.device or taesd.dtype != self._vae.dtype:
                taesd.to(device=self._vae.device, dtype=self._vae.dtype)
            if state.cpu_dtype is not None:  # the CPU path's bf16 decoder
                in_bf16(taesd.decoder.to(memory_format=torch.channels_last))
            ctx.pipe.vae = taesd

    def before_encode(self, ctx: RunContext) -> None:
        # after ApplyLoras (registry order): fused projections are copies of the weights LoRAs patch
        self._state(ctx).after_patch(ctx.pipe, bool(ctx.record.get("loras")))
        if ctx.request.cfg_scale <= 1:  # no negative batch runs at CFG <= 1: its text need not be encoded
            ctx.negative = ctx.prompt

    def after_decode(self, ctx: RunContext, batch: BatchContext, images: Decoded) -> Decoded:
        r = ctx.request
        self._state(ctx).size_done(r.width, r.height, r.batch_size)
        return images

    def after_run(self, ctx: RunContext) -> None:
        if self._vae is not None:
            ctx.pipe.vae, self._vae = self._vae, None


def use_fast_options(engine: Engine, options: FastOptions) -> None:
    """Make an engine's fast jobs use `options` (replaces the standard FastSpeed factory)."""
    engine.extensions = [
        f for f in engine.extensions if f != FastSpeed.for_request and not getattr(f, "fast_speed", False)
    ] + [FastSpeed.factory(options)]


class PeakMemory(Extension):
    """Records the job's peak device memory (bytes, CUDA) in the result: `peak_memory`."""

    @classmethod
    def for_request(cls, request: Request, library: Library) -> PeakMemory:
        return cls()

    def pipeline_prepared(self, ctx: RunContext) -> None:
        import torch

        if ctx.device.startswith("cuda") and torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()

    def after_run(self, ctx: RunContext) -> None:
        import torch

        if ctx.device.startswith("cuda") and torch.cuda.is_available():
            ctx.record["peak_memory"] = int(torch.cuda.max_memory_allocated())


class SafeDecode(Extension):
    """Half-precision VAEs (bf16, or fp16 ones diffusers does not upcast) decode again in float32 on NaN."""

    @classmethod
    def for_request(cls, request: Request, library: Library) -> SafeDecode:
        return cls()

    def pipeline_prepared(self, ctx: RunContext) -> None:
        guard_vae_nan(getattr(ctx.pipe, "vae", None))  # the run's VAE (a chosen one too); guarded once each
