"""Engine extension points: named hooks around the denoise loop, in the spirit of InvokeAI's extensions.

A feature that changes *how* a picture is made (LoRA, ControlNet, IP-Adapter, variation seeds, hires fix,
a compiled UNet, previews, ...) is an `Extension`: a class overriding only the hooks it needs. The engine
calls the hooks of every extension of a run, in list order, at these points of `Engine.run`:

    Engine.run(request)
      1. validate; resolve seeds and effective prompts; ask the factories for this run's extensions;
         load the model                                                  (no hook: the engine's own work)
      2. mode strategy picks the pipeline and its inputs                (modes.py: txt2img/img2img/inpaint/...)
      3. pipeline_prepared(ctx)     the pipeline and its inputs are ready: swap ctx.pipe (e.g. a ControlNet
                                    pipeline via from_pipe), edit ctx.call_kwargs, compile the UNet once per
                                    model (keep such state in ctx.model.extras; it is released with the model)
      4. before_encode(ctx)         about to encode ctx.prompt / ctx.negative: change them, or patch weights
                                    (LoRA patches here; what must be undone is undone in after_run)
         -- the engine encodes the prompts: ctx.conditioning, and its tensors in ctx.call_kwargs --
      for each batch (request.batch_count pipeline calls):
      5. before_batch(ctx, batch)   batch.seeds/subseeds/generators are set; set batch.noise (a tensor of
                                    batch.noise_shape, N(0, 1), unscaled) to choose the initial noise
                                    (variation seeds); edit batch.kwargs for this call only; set
                                    batch.output_type = "latent" to get latents in after_decode
         for each denoise step:
      6.   pre_unet(ctx, call)      right before the UNet runs (also the first step): change call.sample,
                                    call.timestep or call.kwargs (encoder_hidden_states, added_cond_kwargs,
                                    down_block_additional_residuals, ...). Only wired when some extension
                                    overrides it (a forward pre-hook on ctx.pipe.unet for the call).
      7.   post_step(ctx, step)     after the scheduler step: read or replace step.tensors["latents"] (and the
                                    names the extension lists in `tensor_inputs`); raise Cancelled to stop
      8. after_decode(ctx, batch, images) -> images
                                    the pipeline's decoded PIL pictures of the batch (only masked: the crop),
                                    before the mode pastes them back: return replacements (hires pass, upscale).
                                    A second denoise loop runs with ctx.denoise(batch, DenoisePass(...)):
                                    its steps call pre_unet/post_step again (progress shows its phase)
      9. after_run(ctx)             always, also on error or cancel, in reverse order: undo what you patched

Progress with previews, cancel and prompt editing are themselves extensions (builtin.py).

Registering: a feature adds its factory `factory(request, library) -> Extension | None` to
`standard_extensions()` in registry.py (VAE choice, LoRA, variation seeds, hires fix and the fast path are
there); `Engine(library, extensions=[...])` or `engine.extensions.append(factory)` adds more to one engine. Every run asks each factory before the model
loads (None: not needed for this request; raise RequestError/ModelError to refuse it before any heavy work).
`Engine.run(request, extensions=[...])` adds ready instances for one run. A new extension keeps to its hooks:
it never edits modes.py or engine.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

from sdstudio.core.jsontypes import Kwargs
from sdstudio.core.request import Progress, Request

if TYPE_CHECKING:
    import torch
    from diffusers import DiffusionPipeline
    from PIL.Image import Image

    from sdstudio.core.engine.model import LoadedModel
    from sdstudio.core.engine.modes import Box, ModeStrategy
    from sdstudio.core.prompt.encode import Conditioning
    from sdstudio.core.protocols import Library

    Decoded: TypeAlias = (
        list[Image] | torch.Tensor
    )  # a batch's pictures, or its latents (output_type "latent")

__all__ = [
    "BatchContext",
    "Extension",
    "ExtensionFactory",
    "RunContext",
    "StepState",
    "UNetCall",
    "overrides",
]


@dataclass
class RunContext:
    """One run of the engine, shared by all hooks. Extensions may change the fields marked mutable."""

    request: Request  # the resolved request (seed drawn, styles applied): what gets recorded
    model: LoadedModel
    mode: ModeStrategy
    pipe: DiffusionPipeline  # mutable (pipeline_prepared): the pipeline that runs every batch
    call_kwargs: Kwargs  # mutable: keyword arguments of every pipeline call (mode inputs, prompts)
    prompt: str  # mutable until encoding (before_encode): the text that is encoded
    negative: str
    compose: Callable[[Image], Image]  # the mode's raw output -> result picture
    library: Library  # the engine's (LoRA files, embeddings, upscalers, ...)
    preview_box: Box | None = None  # where the rendered picture lies in the result (only masked)
    source: Image | None = None  # the init picture at full size (None for txt2img)
    conditioning: Conditioning | None = None  # set by the engine after before_encode
    on_step: Callable[[Progress], None] | None = None
    cancel: threading.Event | None = None
    device: str = "cpu"
    record: Kwargs = field(default_factory=dict)  # Result fields extensions fill (LoRA: "loras")
    extensions: list[Extension] = field(default_factory=list)  # this run's, in hook order
    encoder: Callable[[DiffusionPipeline, str, str, int, int], Conditioning] | None = (
        None  # the engine's (see encode)
    )

    def pipeline(self, kind: str) -> DiffusionPipeline:
        """Another pipeline of the loaded model ("txt2img", "img2img", "inpaint") with the request's sampler,
        sharing the model's weights."""
        pipe = self.model.pipeline(kind)
        pipe.scheduler = self.model.scheduler(self.request.sampler)
        return pipe

    def encode(self, pipe: DiffusionPipeline, steps: int) -> Conditioning:
        """ctx.prompt / ctx.negative encoded for `pipe` over `steps` steps (embeddings, weights, editing)."""
        assert self.encoder is not None
        return self.encoder(pipe, self.prompt, self.negative, steps, self.request.clip_skip)

    def denoise(self, batch: BatchContext, run: DenoisePass) -> Decoded:
        """Run one more denoise loop for the batch (e.g. a second pass); its steps reach the extensions."""
        from sdstudio.core.engine.denoise import call_pipeline

        return call_pipeline(self, batch, run)

    @property
    def steps(self) -> int:
        return self.request.steps


@dataclass
class DenoisePass:
    """One denoise loop: a pipeline call with its inputs and the prompts encoded for its steps."""

    pipe: DiffusionPipeline
    kwargs: Kwargs  # the call's inputs and prompt tensors (conditioning.kwargs_at(0) included)
    steps: int  # num_inference_steps
    conditioning: Conditioning | None = None  # what prompt editing swaps in at its change steps
    phase: str = "sampling"  # Progress.phase while it runs ("hires" for a hires fix pass)
    output_type: str = "pil"  # "pil" or "latent"
    noise: torch.Tensor | None = None  # initial noise (N(0, 1), unscaled); None: drawn from the generators
    generators: list[torch.Generator] | None = None  # None: the batch's (as the first pass left them)
    started: float = 0.0  # time.perf_counter() when the loop started (set by the engine)


@dataclass
class BatchContext:
    """One pipeline call (request.batch_size pictures)."""

    index: int
    count: int
    seeds: list[int]
    subseeds: list[int]  # variation seeds, per picture
    generators: list[torch.Generator]  # one per picture, seeded with `seeds`
    noise_shape: tuple[int, ...]  # (batch_size, latent channels, height / 8, width / 8)
    kwargs: Kwargs = field(default_factory=dict)  # mutable: extra keyword arguments for this call
    noise: torch.Tensor | None = (
        None  # mutable: the initial noise (N(0, 1), unscaled); None: drawn from the generators
    )
    output_type: str = "pil"  # mutable: "latent" hands after_decode the latents instead of pictures
    fields: list[Kwargs] = field(default_factory=list)  # per picture: Request fields to record

    def fresh_generators(self) -> list[torch.Generator]:
        """New generators seeded with the batch's seeds (a second pass draws as a fresh run would)."""
        import torch

        return [torch.Generator("cpu").manual_seed(s) for s in self.seeds]

    completed: int = 0  # denoise steps finished so far in the running loop


@dataclass
class StepState:
    """A finished denoise step (post_step)."""

    batch: BatchContext
    denoise: DenoisePass
    index: int  # 0-based index of the step that just finished
    total: int  # steps of this loop (pipe.num_timesteps: img2img runs fewer than its `steps`)
    timestep: torch.Tensor
    tensors: dict[
        str, torch.Tensor
    ]  # "latents" plus the names extensions asked for; replace entries to change them

    @property
    def step(self) -> int:
        """Steps finished, 1-based (what progress shows)."""
        return self.index + 1


@dataclass
class UNetCall:
    """The UNet about to run (pre_unet). CFG batches are [negative, positive]."""

    batch: BatchContext
    denoise: DenoisePass
    index: int  # 0-based denoise step
    sample: torch.Tensor  # the latent model input
    timestep: torch.Tensor
    kwargs: Kwargs  # the UNet's keyword arguments (encoder_hidden_states, added_cond_kwargs, ...)


class Extension:
    """A feature plugged into the engine for one run. Override only the hooks you need; each default does nothing.

    `tensor_inputs`: names of pipeline tensors post_step should receive besides "latents" (e.g. "prompt_embeds");
    names a pipeline does not offer are left out.
    """

    tensor_inputs: tuple[str, ...] = ()

    def pipeline_prepared(self, ctx: RunContext) -> None:
        """The mode's pipeline and inputs are ready (ctx.pipe, ctx.call_kwargs); before anything is encoded."""

    def before_encode(self, ctx: RunContext) -> None:
        """Before the prompts are encoded: change ctx.prompt / ctx.negative or patch weights."""

    def before_batch(self, ctx: RunContext, batch: BatchContext) -> None:
        """Before each pipeline call: set batch.noise for the initial noise, or add batch.kwargs."""

    def pre_unet(self, ctx: RunContext, call: UNetCall) -> None:
        """Right before each UNet evaluation: change call.sample / call.timestep / call.kwargs."""

    def post_step(self, ctx: RunContext, step: StepState) -> None:
        """After each scheduler step: read or replace step.tensors; raise Cancelled to stop."""

    def after_decode(self, ctx: RunContext, batch: BatchContext, images: Decoded) -> Decoded:
        """The batch's decoded pictures (before the mode composes them): return the ones to keep."""
        return images

    def after_run(self, ctx: RunContext) -> None:
        """Always called at the end of a run (also on error or cancel), in reverse order: undo patches."""


ExtensionFactory = Callable[
    [Request, "Library"], "Extension | None"
]  # (request, library) -> extension or None


def overrides(extension: Extension, hook: str) -> bool:
    """Whether an extension implements `hook` (the engine wires costly hooks, like pre_unet, only then)."""
    return getattr(type(extension), hook) is not getattr(Extension, hook)
