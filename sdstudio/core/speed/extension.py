"""Speed "fast" as an engine extension: the fast path applied once per loaded model, a message before a size
compiles, and the fused attention projections kept in step with LoRA patches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sdstudio.core.engine.hooks import BatchContext, Extension, RunContext
from sdstudio.core.request import Progress, Request
from sdstudio.core.speed.fast import FastOptions, FastPath, prepare_fast

EXTRA = "fast"  # key of the FastPath in LoadedModel.extras (the engine reloads a model leaving "fast")


class FastSpeed(Extension):
    """Runs a job on the fast path (Request.speed "fast"); see sdstudio.core.speed.fast."""

    def __init__(self, options: FastOptions | None = None):
        self.options = options or FastOptions()

    @classmethod
    def for_request(cls, request: Request, library: Any) -> FastSpeed | None:
        return cls() if request.speed == "fast" else None

    @classmethod
    def factory(cls, options: FastOptions) -> Callable[[Request, Any], FastSpeed | None]:
        """A factory with chosen options (benchmarks, tests): see use_fast_options."""

        def make(request: Request, library: Any) -> FastSpeed | None:
            return cls(options) if request.speed == "fast" else None

        make.fast_speed = True  # type: ignore[attr-defined]
        return make

    def _state(self, ctx: RunContext) -> FastPath:
        state = ctx.model.extras.get(EXTRA)
        if (
            state is None
        ):  # 1. once per loaded model: fuse, channels_last, compile (lazily, at the first call)
            pipe = ctx.model.pipe
            key = f"{ctx.model.hash or ctx.model.ref}:{type(pipe).__name__}:{pipe.dtype}"
            state = ctx.model.extras[EXTRA] = prepare_fast(pipe, ctx.device, self.options, key)
        return state

    def pipeline_prepared(self, ctx: RunContext) -> None:
        state = self._state(ctx)
        r = ctx.request
        message = state.size_message(r.width, r.height, r.batch_size)  # 2. never a silent minute
        if message and ctx.on_step is not None:
            ctx.on_step(Progress(0, r.steps, 0.0, 0.0, phase="compile", message=message))

    def before_encode(self, ctx: RunContext) -> None:
        # after ApplyLoras (registry order): fused projections are copies of the weights LoRAs patch
        self._state(ctx).after_patch(ctx.pipe, bool(ctx.record.get("loras")))

    def after_decode(self, ctx: RunContext, batch: BatchContext, images: list[Any]) -> list[Any]:
        r = ctx.request
        self._state(ctx).size_done(r.width, r.height, r.batch_size)
        return images


def use_fast_options(engine: Any, options: FastOptions) -> None:
    """Make an engine's fast jobs use `options` (replaces the standard FastSpeed factory)."""
    engine.extensions = [
        f for f in engine.extensions if f != FastSpeed.for_request and not getattr(f, "fast_speed", False)
    ] + [FastSpeed.factory(options)]
