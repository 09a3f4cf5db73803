"""The engine: runs a Request on diffusers and returns the pictures with the exact parameters used.

How a run is put together, and where features plug in, is described in hooks.py.
"""

from __future__ import annotations

import gc
import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from sdstudio.core.engine.builtin import CancelOnEvent, PromptEditing, ReportProgress
from sdstudio.core.engine.hooks import BatchContext, DenoisePass, Extension, ExtensionFactory, RunContext
from sdstudio.core.engine.model import LoadedModel, is_oom, pick_device, pick_dtype
from sdstudio.core.engine.modes import select_mode
from sdstudio.core.engine.registry import standard_extensions
from sdstudio.core.errors import Cancelled, EngineError, OutOfMemory
from sdstudio.core.request import RANDOM_SEEDS, GeneratedImage, Progress, Request, RequestError, Result
from sdstudio.core.speed.memory import MemoryPlan, apply_plan, free_device_memory, plan_memory

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline

    from sdstudio.core.models.entries import ModelEntry
    from sdstudio.core.prompt.encode import Conditioning
    from sdstudio.core.protocols import Library

log = logging.getLogger(__name__)

OOM_ADVICE = (
    "Out of memory on {device}. Try a smaller size or batch, enable VAE tiling or CPU offload in the "
    "settings, or close other programs using the GPU. The engine is ready for the next job."
)


class Engine:
    """Owns the loaded model and its pipelines; one job at a time (callers serialise through JobQueue)."""

    def __init__(
        self,
        library: Library,
        device: str | None = None,
        dtype: str | None = None,
        vae_tiling: bool = False,
        cpu_offload: bool = False,
        extensions: Sequence[ExtensionFactory] = (),
        cpu_threads: int = 0,
    ):
        self._device_pref = device
        self._dtype_pref = dtype
        self.vae_tiling = vae_tiling  # decode large pictures in tiles: less memory, slightly slower
        self.cpu_offload = cpu_offload  # keep idle components on the CPU (CUDA only)
        # torch's CPU threads, 0 = the physical cores available (speed/threads.py)
        self.cpu_threads = cpu_threads
        self._library = library
        # asked on every run (hooks.py): the standard features (registry.py), then these
        self.extensions: list[ExtensionFactory] = standard_extensions() + list(extensions)
        self.on_download: Callable[[Progress], None] | None = None  # hub download progress
        self._loaded: LoadedModel | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, library: Library, device: str | None = None) -> Engine:
        """An engine with the library's settings' device preferences (`device` overrides them)."""
        s = library.settings
        return cls(
            library,
            device or s.device or None,
            s.dtype or None,
            s.vae_tiling,
            s.cpu_offload,
            cpu_threads=s.cpu_threads,
        )

    # -- model -----------------------------------------------------------------------------------
    @property
    def device(self) -> str:
        return pick_device(self._device_pref)

    @property
    def model_name(self) -> str:
        return self._loaded.name if self._loaded else ""

    @property
    def model_hash(self) -> str:
        return self._loaded.hash if self._loaded else ""

    @property
    def library(self) -> Library:
        return self._library

    def _load(self, ref: str, speed: str = "standard") -> LoadedModel:
        """Load (or reuse) the model `ref`; the previous one is released first. A model the fast path changed
        (extras "fast") is reloaded for a standard job, so the standard path stays plain diffusers."""
        from sdstudio.core.models import load_pipeline
        from sdstudio.core.speed.allocator import keep_freed_memory
        from sdstudio.core.speed.threads import configure_threads

        entry = self.library.resolve(ref)
        loaded = self._loaded
        if (
            loaded is not None
            and loaded.ref == entry.location
            and (speed == "fast" or "fast" not in loaded.extras)
        ):
            return loaded
        self.close()
        device = self.device
        configure_threads(self.cpu_threads)
        if device == "cpu":  # before the weights load: big tensors then stay in the heap between calls
            keep_freed_memory()
        dtype = pick_dtype(device, self._dtype_pref)
        entry = self.library.with_hash(entry)
        pipe = load_pipeline(entry, torch_dtype=dtype, on_progress=self.on_download)
        plan = self._memory_plan(entry, device)
        apply_plan(pipe, plan, device)
        if hasattr(pipe, "set_progress_bar_config"):
            pipe.set_progress_bar_config(disable=True)
        space = "sdxl" if "XL" in type(pipe).__name__ else "sd1"
        config = dict(pipe.scheduler.config)
        self._loaded = LoadedModel(
            entry.location, entry.name, entry.short_hash, pipe, space, {}, config, family=entry.family
        )
        self._loaded.extras["memory_plan"] = plan
        return self._loaded

    def _memory_plan(self, entry: ModelEntry, device: str) -> MemoryPlan:
        """The settings' offload and tiling where chosen; on CUDA otherwise what free VRAM allows (memory.py)."""
        if not device.startswith("cuda"):
            return MemoryPlan("none", self.vae_tiling, "not a CUDA device")
        if self.cpu_offload:
            return MemoryPlan("model", self.vae_tiling, "CPU offload chosen in the settings")
        free = free_device_memory(device)
        plan = plan_memory(free, entry.family.base or "sdxl") if free is not None else None
        if plan is None:
            return MemoryPlan("none", self.vae_tiling, "free memory unknown")
        log.info("memory plan for %s: %s", entry.name, plan.reason)
        return MemoryPlan(plan.offload, plan.vae_tiling or self.vae_tiling, plan.reason)

    def close(self) -> None:
        """Release the loaded model, the preprocessor models (depth, pose) and their memory."""
        from sdstudio.core.control.annotators import unload_all
        from sdstudio.core.speed.allocator import release_freed_memory

        self._loaded = None
        unload_all()
        gc.collect()
        release_freed_memory()  # the heap's free pages back to the system (where the fast path kept them)
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass

    def _embedding_files(self) -> dict[str, Path]:
        try:
            return self.library.embedding_files()
        except Exception as e:  # a broken root must not stop generation
            log.warning("embeddings unavailable: %s", e)
            return {}

    def _embeddings_used(self, texts: list[str]) -> tuple[tuple[str, str], ...]:
        """(name, sha256) of each embedding the texts name, for A1111's `TI hashes`."""
        from sdstudio.core.prompt.embeddings import names_in

        files = self._embedding_files()
        return tuple((n, self.library.hashes.sha256(files[n])) for n in names_in(texts, list(files)))

    # -- running ---------------------------------------------------------------------------------
    def run(
        self,
        request: Request,
        on_step: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
        extensions: Sequence[Extension] = (),
    ) -> Result:
        """Run one job. Raises RequestError, ModelError, OutOfMemory, EngineError or Cancelled.

        `on_step` gets a Progress after every step; setting `cancel` stops the job before the next step;
        `extensions` plug into this run only (hooks.py), after the engine's own factories' extensions.
        """
        request.validate()  # 1. every input checked before heavy work
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        with self._lock:
            try:
                return self._run(request, on_step, cancel, extensions)
            except (Cancelled, EngineError, RequestError):
                raise
            except Exception as e:
                if is_oom(e):
                    self._recover()
                    raise OutOfMemory(OOM_ADVICE.format(device=self.device)) from None
                log.exception("generation failed")
                raise EngineError(
                    f"generation failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                ) from e

    def _recover(self) -> None:
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _extensions_for(
        self,
        request: Request,
        on_step: Callable[[Progress], None] | None,
        cancel: threading.Event | None,
        extra: Sequence[Extension],
    ) -> list[Extension]:
        """This run's extensions in hook order: progress, cancel, prompt editing, the engine's factories'
        (LoRA, variation seeds, hires fix, ...), the run's. Built before the model loads: a factory that
        refuses the request costs nothing."""
        exts: list[Extension] = []
        if on_step is not None:
            taesd = bool(getattr(getattr(self._library, "settings", None), "taesd", False))
            exts.append(ReportProgress(on_step, taesd=taesd))
        if cancel is not None:
            exts.append(CancelOnEvent(cancel))
        exts.append(PromptEditing())
        exts.extend(ext for factory in self.extensions if (ext := factory(request, self.library)) is not None)
        exts.extend(extra)
        return exts

    def _run(
        self,
        request: Request,
        on_step: Callable[[Progress], None] | None,
        cancel: threading.Event | None,
        extra: Sequence[Extension],
    ) -> Result:
        from sdstudio.core.prompt import effective_prompts

        started = time.perf_counter()
        # 2. effective prompts (styles applied, inline negatives moved), seeds: what runs and gets recorded;
        #    the extensions for it (the LoRAs it names are found before the model loads)
        prompt, negative = effective_prompts(request.prompt, request.negative_prompt, request.styles)
        seed = request.seed if request.seed >= 0 else secrets.randbelow(RANDOM_SEEDS)
        subseed = request.subseed
        if subseed < 0 and request.subseed_strength:
            subseed = secrets.randbelow(RANDOM_SEEDS)
        resolved = request.replace(
            seed=seed, subseed=subseed, prompt=prompt, negative_prompt=negative, styles=()
        )
        extensions = self._extensions_for(resolved, on_step, cancel, extra)
        loaded = self._load(request.model, request.speed)

        # 3. the mode picks the pipeline and its inputs
        mode = select_mode(request, loaded.inpaint_model)
        inputs = mode.inputs(request)
        ctx = RunContext(
            resolved, loaded, mode, None, dict(inputs.kwargs), prompt, negative, inputs.compose, self.library,
            preview_box=inputs.preview_box, source=inputs.source, on_step=on_step, cancel=cancel,
            device=self.device, extensions=extensions, encoder=self._encode,
        )  # fmt: skip
        ctx.pipe = ctx.pipeline(mode.kind)
        with ExitStack() as undo:
            # 4. extension hooks before the prompts are encoded; after_run unwinds in reverse order
            for ext in extensions:
                undo.callback(ext.after_run, ctx)
                ext.pipeline_prepared(ctx)
            for ext in extensions:
                ext.before_encode(ctx)
            ctx.conditioning = ctx.encode(ctx.pipe, request.steps)
            ctx.call_kwargs.update(ctx.conditioning.kwargs_at(0))
            # 5. sampling, one pipeline call per batch
            outputs: list[GeneratedImage] = []
            for b in range(request.batch_count):
                batch = self._batch(ctx, b)
                for ext in extensions:
                    ext.before_batch(ctx, batch)
                first = DenoisePass(
                    ctx.pipe, ctx.call_kwargs, request.steps, ctx.conditioning, output_type=batch.output_type,
                    noise=batch.noise,
                )  # fmt: skip
                images = ctx.denoise(batch, first)
                for ext in extensions:
                    images = ext.after_decode(ctx, batch, images)
                for i, image in enumerate(images):
                    single = resolved.replace(
                        seed=batch.seeds[i], batch_size=1, batch_count=1, **batch.fields[i]
                    )
                    outputs.append(GeneratedImage(ctx.compose(image), batch.seeds[i], single, len(outputs)))
                if cancel is not None and cancel.is_set():  # an interrupt: the pictures reached so far
                    raise Cancelled(self._result(ctx, outputs, started))
        return self._result(ctx, outputs, started)

    def _result(self, ctx: RunContext, outputs: list[GeneratedImage], started: float) -> Result:
        from sdstudio.core.replay import environment

        env = environment(self.device, str(pick_dtype(self.device, self._dtype_pref)))
        return Result(
            ctx.request,
            tuple(outputs),
            ctx.model.name,
            ctx.model.hash,
            time.perf_counter() - started,
            embeddings=self._embeddings_used([ctx.prompt, ctx.negative]),
            environment=env,
            **ctx.record,
        )

    def _encode(
        self, pipe: DiffusionPipeline, prompt: str, negative: str, steps: int, clip_skip: int
    ) -> Conditioning:
        """Prompts encoded for a pipeline: embeddings named in them become their vectors; weights, chunks
        and prompt editing as A1111."""
        from sdstudio.core.prompt import build_conditioning
        from sdstudio.core.prompt.embeddings import apply_embeddings

        if files := self._embedding_files():
            prompt, negative = apply_embeddings(pipe, [prompt, negative], files)
        return build_conditioning(pipe, prompt, negative, steps, clip_skip)

    def _batch(self, ctx: RunContext, index: int) -> BatchContext:
        """Batch `index`: its seeds and variation seeds numbered as A1111 does, generators, noise shape."""
        from sdstudio.core.variation import batch_seeds

        r, pipe = ctx.request, ctx.pipe
        seeds, subseeds = batch_seeds(
            r.seed, r.subseed, r.subseed_strength, index * r.batch_size, r.batch_size
        )
        factor = int(getattr(pipe, "vae_scale_factor", 8))
        channels = int(pipe.vae.config.latent_channels)
        shape = (r.batch_size, channels, r.height // factor, r.width // factor)
        fields = [{"subseed": s} if r.subseed_strength else {} for s in subseeds]
        batch = BatchContext(index, r.batch_count, seeds, subseeds, [], shape, fields=fields)
        batch.generators = batch.fresh_generators()
        return batch
