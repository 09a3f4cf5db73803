"""One pipeline call with the extensions wired in: initial noise, pre-UNet hooks and post-step callbacks."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sdstudio.core.engine.hooks import (
    BatchContext,
    DenoisePass,
    Extension,
    RunContext,
    StepState,
    UNetCall,
    overrides,
)
from sdstudio.core.errors import EngineError
from sdstudio.core.jsontypes import Kwargs

if TYPE_CHECKING:
    import torch
    from diffusers import DiffusionPipeline

    from sdstudio.core.engine.hooks import Decoded


def step_tensor_inputs(pipe: DiffusionPipeline, extensions: Sequence[Extension]) -> list[str]:
    """Callback tensors: "latents" plus what the extensions ask for, where the pipeline offers it."""
    allowed = getattr(pipe, "_callback_tensor_inputs", ())
    wanted = [n for ext in extensions if overrides(ext, "post_step") for n in ext.tensor_inputs]
    return ["latents"] + [n for n in dict.fromkeys(wanted) if n in allowed and n != "latents"]


def call_pipeline(ctx: RunContext, batch: BatchContext, run: DenoisePass) -> Decoded:
    """Run `run.pipe` once for `batch`; returns its PIL pictures (or latents for output_type "latent")."""
    import torch

    stepping = [e for e in ctx.extensions if overrides(e, "post_step")]

    def callback(
        pipe: DiffusionPipeline, index: int, timestep: torch.Tensor, tensors: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        total = int(getattr(pipe, "num_timesteps", 0) or index + 1)
        state = StepState(batch, run, index, total, timestep, tensors)
        for ext in stepping:
            ext.post_step(ctx, state)
        batch.completed = index + 1
        return state.tensors

    kwargs = {**run.kwargs, **batch.kwargs}
    batch.completed, run.started = 0, time.perf_counter()
    with torch.inference_mode(), _initial_noise(run, kwargs, batch), _pre_unet(ctx, batch, run):
        out = run.pipe(
            **kwargs,
            num_inference_steps=run.steps,
            guidance_scale=ctx.request.cfg_scale,
            num_images_per_prompt=ctx.request.batch_size,
            generator=run.generators if run.generators is not None else batch.generators,
            callback_on_step_end=callback,
            callback_on_step_end_tensor_inputs=step_tensor_inputs(run.pipe, stepping),
            output_type=run.output_type,
        )
    return out.images if run.output_type == "latent" else list(out.images)


@contextmanager
def _initial_noise(run: DenoisePass, kwargs: Kwargs, batch: BatchContext) -> Iterator[None]:
    """Use run.noise as the pipeline's initial noise: as `latents` where the pipeline starts from pure noise,
    else in place of the noise its scheduler adds to the init picture."""
    noise = run.noise
    if noise is None:
        yield
        return
    # the batch's noise has the batch's shape; a later pass's (hires fix) its own height and width
    compared = len(batch.noise_shape) if noise is batch.noise else 2
    if tuple(noise.shape[:compared]) != tuple(batch.noise_shape[:compared]):
        raise EngineError(f"initial noise: shape {tuple(noise.shape)}, expected {tuple(batch.noise_shape)}")
    # pure noise: no init picture to noise (a ControlNet txt2img call's `image` is its control map)
    if "strength" not in kwargs or ("mask_image" in kwargs and kwargs["strength"] >= 1.0):
        kwargs["latents"] = noise.to(dtype=run.pipe.unet.dtype)
        yield
        return
    scheduler = run.pipe.scheduler
    add_noise = type(scheduler).add_noise

    def substituted(original: torch.Tensor, _noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        return add_noise(scheduler, original, noise.to(device=_noise.device, dtype=_noise.dtype), timesteps)

    scheduler.add_noise = substituted
    try:
        yield
    finally:
        del scheduler.add_noise


@contextmanager
def _pre_unet(ctx: RunContext, batch: BatchContext, run: DenoisePass) -> Iterator[None]:
    """A forward pre-hook on the UNet for the call, calling pre_unet of the extensions that have it."""
    wanted = [e for e in ctx.extensions if overrides(e, "pre_unet")]
    if not wanted:
        yield
        return

    def hook(
        module: torch.nn.Module, args: tuple[object, ...], kwargs: Kwargs
    ) -> tuple[tuple[object, ...], Kwargs]:
        sample, rest = (args[0], args[1:]) if args else (kwargs.pop("sample"), ())
        timestep, rest = (rest[0], rest[1:]) if rest else (kwargs.pop("timestep"), ())
        call = UNetCall(batch, run, batch.completed, sample, timestep, kwargs)
        for ext in wanted:
            ext.pre_unet(ctx, call)
        return (call.sample, call.timestep, *rest), call.kwargs

    handle = run.pipe.unet.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()
