"""The engine: runs a Request on diffusers and returns the pictures with the exact parameters used."""

from __future__ import annotations

import gc
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdstudio.core.errors import Cancelled, EngineError, OutOfMemory
from sdstudio.core.hires import check_upscaler, first_pass_output, hires_steps, second_pass_image
from sdstudio.core.inpaint import crop_box, paste_back, prepare_mask
from sdstudio.core.preview import latents_to_preview
from sdstudio.core.request import GeneratedImage, InpaintArea, Mode, Progress, Request, RequestError, Result
from sdstudio.core.samplers import SAMPLERS
from sdstudio.core.variation import LATENT_FACTOR, NoiseSeeds, batch_noise, batch_seeds

log = logging.getLogger(__name__)

OOM_ADVICE = (
    "Out of memory on {device}. Try a smaller size or batch, enable VAE tiling or CPU offload in the "
    "settings, or close other programs using the GPU. The engine is ready for the next job."
)


@dataclass
class _Loaded:
    ref: str
    name: str
    hash: str
    pipe: Any  # the base (text-to-image) pipeline
    latent_space: str
    derived: dict[str, Any]
    scheduler_config: dict[str, Any]
    schedulers: dict[str, Any] = field(default_factory=dict)
    family: Any = None  # the entry's Family
    loras: Any = None  # the LoraSession patching this model

    def scheduler(self, sampler: str) -> Any:
        """The scheduler for an A1111 sampler name, built once per model (set_timesteps resets its state)."""
        if sampler not in self.schedulers:
            self.schedulers[sampler] = SAMPLERS[sampler].build(self.scheduler_config)
        return self.schedulers[sampler]


def pick_device(preference: str | None = None) -> str:
    """CUDA when present, else MPS, else CPU; an explicit preference wins."""
    import torch

    if preference:
        return preference
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(device: str, preference: str | None = None) -> Any:
    import torch

    if preference:
        return getattr(torch, preference) if isinstance(preference, str) else preference
    if device.startswith("cuda") or device == "mps":
        return torch.float16  # bf16 on request (settings dtype "bfloat16"): fp16 is what SD VAEs expect
    return torch.float32


class Engine:
    """Owns the loaded model and its pipelines; one job at a time (callers serialise through JobQueue)."""

    def __init__(
        self,
        device: str | None = None,
        dtype: str | None = None,
        vae_tiling: bool = False,
        cpu_offload: bool = False,
        library: Any | None = None,
    ):
        self._device_pref = device
        self._dtype_pref = dtype
        self.vae_tiling = vae_tiling  # decode large pictures in tiles: less memory, slightly slower
        self.cpu_offload = cpu_offload  # keep idle components on the CPU (CUDA only)
        self._library = library
        self.on_download: Callable[[Progress], None] | None = None  # hub download progress
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, library: Any | None = None, device: str | None = None) -> Engine:
        """An engine with the settings file's device preferences (`device` overrides); None: a new library."""
        if library is None:
            from sdstudio.core.models import ModelLibrary

            library = ModelLibrary()
        s = library.settings
        return cls(device or s.device or None, s.dtype or None, s.vae_tiling, s.cpu_offload, library)

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
    def library(self) -> Any:
        if self._library is None:
            from sdstudio.core.models import ModelLibrary

            self._library = ModelLibrary()
        return self._library

    def _load(self, ref: str) -> _Loaded:
        """Load (or reuse) the model `ref`; the previous one is released first."""
        from sdstudio.core.models import load_pipeline

        entry = self.library.resolve(ref)
        if self._loaded is not None and self._loaded.ref == entry.location:
            return self._loaded
        self.close()
        device = self.device
        dtype = pick_dtype(device, self._dtype_pref)
        entry = self.library.with_hash(entry)
        pipe = load_pipeline(entry, torch_dtype=dtype, on_progress=self.on_download)
        if self.cpu_offload and device.startswith("cuda"):
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(device)
        if self.vae_tiling and hasattr(pipe, "vae"):
            pipe.vae.enable_tiling()
        if hasattr(pipe, "set_progress_bar_config"):
            pipe.set_progress_bar_config(disable=True)
        space = "sdxl" if "XL" in type(pipe).__name__ else "sd1"
        from sdstudio.core.lora import LoraSession

        self._loaded = _Loaded(
            entry.location, entry.name, entry.short_hash, pipe, space, {}, dict(pipe.scheduler.config)
        )
        self._loaded.family, self._loaded.loras = entry.family, LoraSession(self.library.loras)
        return self._loaded

    def close(self) -> None:
        """Release the loaded model and its memory."""
        self._loaded = None
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass

    def _pipeline_for(self, loaded: _Loaded, kind: str) -> Any:
        """The pipeline for txt2img/img2img/inpaint, derived from the base with from_pipe (no reload)."""
        if kind == "txt2img" and not _is_inpaint_unet(loaded.pipe):
            return loaded.pipe
        if kind not in loaded.derived:
            from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting

            auto = AutoPipelineForImage2Image if kind == "img2img" else AutoPipelineForInpainting
            pipe = auto.from_pipe(loaded.pipe)
            if hasattr(pipe, "set_progress_bar_config"):
                pipe.set_progress_bar_config(disable=True)
            loaded.derived[kind] = pipe
        return loaded.derived[kind]

    # -- prompts ---------------------------------------------------------------------------------
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

    def _prompt_kwargs(
        self, pipe: Any, request: Request
    ) -> tuple[dict[str, Any], Callable[[int, dict], None] | None]:
        """Pipeline kwargs for the prompts, and a per-step hook that may swap embeddings (prompt editing)."""
        from sdstudio.core.prompt import build_conditioning, effective_prompts
        from sdstudio.core.prompt.embeddings import apply_embeddings
        from sdstudio.core.prompt.encode import swap_embeddings

        prompt, negative = effective_prompts(request.prompt, request.negative_prompt, request.styles)
        if files := self._embedding_files():  # names written in the prompts become their vectors
            prompt, negative = apply_embeddings(pipe, [prompt, negative], files)
        cond = build_conditioning(pipe, prompt, negative, request.steps, request.clip_skip)
        if not cond.change_steps:
            return cond.kwargs_at(0), None
        batch = request.batch_size

        def hook(step: int, tensors: dict) -> None:
            # called after `step` steps finished: set what the next (0-based `step`) UNet call uses
            if step in cond.change_steps:
                swap_embeddings(cond, step, tensors, batch)

        return cond.kwargs_at(0), hook

    # -- running ---------------------------------------------------------------------------------
    def run(
        self,
        request: Request,
        on_step: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Result:
        """Run one job. Raises RequestError, ModelError, OutOfMemory, EngineError or Cancelled."""
        request.validate()  # 1. every input checked before heavy work
        check_upscaler(request, self.library)
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        with self._lock:
            try:
                return self._run(request, on_step, cancel)
            except (Cancelled, EngineError, RequestError):
                raise
            except Exception as e:
                if _is_oom(e):
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

    def _run(
        self, request: Request, on_step: Callable[[Progress], None] | None, cancel: threading.Event | None
    ) -> Result:
        import torch

        from sdstudio.core.lora import resolve_tags
        from sdstudio.core.prompt import effective_prompts

        started = time.perf_counter()
        # 2. effective prompts (styles applied, inline negatives moved): what runs and gets recorded;
        #    the LoRAs they name are found before the model loads
        prompt, negative = effective_prompts(request.prompt, request.negative_prompt, request.styles)
        wanted = resolve_tags(self.library.loras, prompt, request.steps)
        loaded = self._load(request.model)
        seed = request.seed if request.seed >= 0 else secrets.randbelow(2**32)
        subseed = request.subseed
        if subseed < 0 and request.subseed_strength:
            subseed = secrets.randbelow(2**32)
        resolved = request.replace(
            seed=seed, subseed=subseed, prompt=prompt, negative_prompt=negative, styles=()
        )
        kind = request.mode.value
        if _is_inpaint_unet(loaded.pipe) and kind != "inpaint":
            kind = "inpaint"  # 9-channel models run everything through the inpaint pipeline
        pipe = self._pipeline_for(loaded, kind)
        pipe.scheduler = loaded.scheduler(request.sampler)

        # 3. inputs for the mode; LoRAs patched in (or out) before the text is encoded
        inputs, compose, preview_box = self._mode_inputs(request, pipe)
        loras = loaded.loras.prepare(pipe, wanted, loaded.family)
        prompt_kwargs, prompt_hook = self._prompt_kwargs(pipe, resolved)

        # 4. sampling, one pipeline call per batch
        outputs: list[GeneratedImage] = []
        for b in range(request.batch_count):
            if cancel is not None and cancel.is_set():  # cancelled while the model loaded, or between batches
                raise Cancelled()
            seeds, subseeds = batch_seeds(
                seed, subseed, request.subseed_strength, b * request.batch_size, request.batch_size
            )
            generators = [torch.Generator("cpu").manual_seed(s) for s in seeds]
            callback = self._callback(
                loaded, b, request.batch_count, on_step, cancel, prompt_hook, preview_box
            )
            noise = self._noise(pipe, request, seeds, subseeds)
            with torch.inference_mode():
                out = pipe(
                    **prompt_kwargs,
                    **inputs,
                    **noise,
                    num_inference_steps=request.steps,
                    guidance_scale=request.cfg_scale,
                    num_images_per_prompt=request.batch_size,
                    generator=generators,
                    callback_on_step_end=callback,
                    callback_on_step_end_tensor_inputs=_tensor_inputs(pipe, prompt_hook is not None),
                    output_type=first_pass_output(request) if request.enable_hr else "pil",
                )
            images = out.images
            if request.enable_hr:
                images = self._hires_pass(loaded, images, resolved, seeds, b, on_step, cancel)
            for i, image in enumerate(images):
                image = compose(image)
                own = {"subseed": subseeds[i]} if request.subseed_strength else {}
                single = resolved.replace(seed=seeds[i], batch_size=1, batch_count=1, **own)
                outputs.append(GeneratedImage(image, seeds[i], single, len(outputs)))
        from sdstudio.core.replay import environment

        env = environment(self.device, str(pick_dtype(self.device, self._dtype_pref)))
        elapsed = time.perf_counter() - started
        embeddings = self._embeddings_used([prompt, negative])
        return Result(
            resolved, tuple(outputs), loaded.name, loaded.hash, elapsed, loras, embeddings, environment=env
        )

    def _noise(self, pipe: Any, request: Request, seeds: list[int], subseeds: list[int]) -> dict[str, Any]:
        """`latents=` with A1111's variation noise where it differs from each seed's own (txt2img)."""
        variation = NoiseSeeds(
            tuple(seeds),
            tuple(subseeds),
            float(request.subseed_strength),
            (request.seed_resize_from_w, request.seed_resize_from_h),
        )
        if variation.plain:
            return {}
        if request.mode is not Mode.txt2img or _is_inpaint_unet(pipe):
            raise RequestError(
                "subseed_strength", "variation seeds and seed resize work in txt2img with ordinary models"
            )
        channels = pipe.vae.config.latent_channels
        shape = (channels, request.height // LATENT_FACTOR, request.width // LATENT_FACTOR)
        return {"latents": batch_noise(shape, variation).to(dtype=pipe.unet.dtype)}

    def _hires_pass(
        self,
        loaded: _Loaded,
        first: Any,
        request: Request,
        seeds: list[int],
        batch_index: int,
        on_step: Callable[[Progress], None] | None,
        cancel: threading.Event | None,
    ) -> list[Any]:
        """A1111's hires fix second pass: the upscaled first pass through img2img at the hires steps."""
        import torch

        steps = hires_steps(request)
        inpaint_unet = _is_inpaint_unet(loaded.pipe)
        if inpaint_unet and first_pass_output(request) == "latent":
            raise RequestError(
                "hr_upscaler", "inpainting models need a picture upscaler (e.g. Lanczos), not a latent mode"
            )
        image = second_pass_image(first, request, self.library, self.device, cancel)
        pipe = self._pipeline_for(loaded, "inpaint" if inpaint_unet else "img2img")
        pipe.scheduler = loaded.scheduler(request.sampler)
        inputs: dict[str, Any] = {"image": image, "strength": request.strength}
        if inpaint_unet:
            from PIL import Image

            size = image[0].size
            inputs |= {"mask_image": Image.new("L", size, 255), "width": size[0], "height": size[1]}
        prompt_kwargs, prompt_hook = self._prompt_kwargs(pipe, request.replace(steps=steps))
        callback = self._callback(
            loaded, batch_index, request.batch_count, on_step, cancel, prompt_hook, phase="hires"
        )
        with torch.inference_mode():
            out = pipe(
                **prompt_kwargs,
                **inputs,
                num_inference_steps=steps,
                guidance_scale=request.cfg_scale,
                num_images_per_prompt=request.batch_size,
                generator=[torch.Generator("cpu").manual_seed(s) for s in seeds],
                callback_on_step_end=callback,
                callback_on_step_end_tensor_inputs=_tensor_inputs(pipe, prompt_hook is not None),
                output_type="pil",
            )
        return list(out.images)

    def _mode_inputs(
        self, request: Request, pipe: Any
    ) -> tuple[dict[str, Any], Callable[[Any], Any], tuple[int, int, int, int] | None]:
        """Pipeline inputs for the mode, the function that turns a raw output into the result, and the
        box of the picture the pipeline renders (only masked; None: the whole picture)."""
        from PIL import Image

        size = (request.width, request.height)
        if request.mode is Mode.txt2img and not _is_inpaint_unet(pipe):
            return {"width": request.width, "height": request.height}, lambda im: im, None
        if request.mode is Mode.txt2img:  # inpainting model: blank picture, all masked
            blank = Image.new("RGB", size, (127, 127, 127))
            full = Image.new("L", size, 255)
            return (
                {
                    "image": blank,
                    "mask_image": full,
                    "strength": 1.0,
                    "width": size[0],
                    "height": size[1],
                },
                lambda im: im,
                None,
            )
        init = request.init_image.to_pil().convert("RGB")
        if request.mode is Mode.img2img:
            init = init.resize(size, Image.Resampling.LANCZOS) if init.size != size else init
            if _is_inpaint_unet(pipe):
                full = Image.new("L", size, 255)
                return (
                    {
                        "image": init,
                        "mask_image": full,
                        "strength": request.strength,
                        "width": size[0],
                        "height": size[1],
                    },
                    lambda im: im,
                    None,
                )
            return {"image": init, "strength": request.strength}, lambda im: im, None
        # inpaint
        mask = prepare_mask(request.mask.to_pil(), request.mask_blur)
        if request.inpaint_area is InpaintArea.only_masked:
            box = crop_box(mask, request.inpaint_padding, request.width, request.height)
            if box is None:
                raise EngineError("mask: the mask is empty; paint the area to inpaint")
            crop_img = init.crop(box).resize(size, Image.Resampling.LANCZOS)
            crop_mask = mask.crop(box).resize(size, Image.Resampling.LANCZOS)
            inputs = {
                "image": crop_img,
                "mask_image": crop_mask,
                "strength": request.strength,
                "width": size[0],
                "height": size[1],
            }
            return inputs, lambda im: paste_back(init, im, mask, box), tuple(box)
        if init.size != size:
            init = init.resize(size, Image.Resampling.LANCZOS)
            mask = mask.resize(size, Image.Resampling.LANCZOS)
        inputs = {
            "image": init,
            "mask_image": mask,
            "strength": request.strength,
            "width": size[0],
            "height": size[1],
        }
        return inputs, lambda im: paste_back(init, im, mask), None

    def _callback(
        self,
        loaded: _Loaded,
        batch_index: int,
        batch_count: int,
        on_step: Callable[[Progress], None] | None,
        cancel: threading.Event | None,
        prompt_hook: Callable[[int, dict], None] | None,
        preview_box: tuple[int, int, int, int] | None = None,
        phase: str = "sampling",
    ) -> Callable[..., dict]:
        """Step callback: progress with a preview, prompt-editing swaps, and cancel by raising."""
        t0 = time.perf_counter()

        def callback(pipe: Any, step_index: int, timestep: Any, kwargs: dict) -> dict:
            step = step_index + 1
            total = int(getattr(pipe, "num_timesteps", 0) or step)
            if on_step is not None:
                elapsed = time.perf_counter() - t0
                per_step = elapsed / step
                remaining = (total - step) + (batch_count - 1 - batch_index) * total
                preview = latents_to_preview(kwargs["latents"], loaded.latent_space)
                on_step(
                    Progress(
                        step,
                        total,
                        elapsed,
                        per_step * remaining,
                        preview,
                        batch_index,
                        batch_count,
                        phase=phase,
                        preview_box=preview_box,
                    )
                )
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            if prompt_hook is not None:
                prompt_hook(step, kwargs)
            return kwargs

        return callback


def _tensor_inputs(pipe: Any, prompt_editing: bool) -> list[str]:
    """Callback tensors: latents, plus the text embeddings (and SDXL pooled) when prompt editing swaps them."""
    if not prompt_editing:
        return ["latents"]
    allowed = getattr(pipe, "_callback_tensor_inputs", ())
    return ["latents"] + [n for n in ("prompt_embeds", "add_text_embeds") if n in allowed]


def _is_inpaint_unet(pipe: Any) -> bool:
    unet = getattr(pipe, "unet", None)
    return unet is not None and getattr(unet.config, "in_channels", 4) == 9


OOM_TEXTS = ("out of memory", "can't allocate memory", "not enough memory")  # CUDA/MPS, CPU allocator


def _is_oom(e: BaseException) -> bool:
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", ())
    if isinstance(e, (oom, MemoryError)):
        return True
    return isinstance(e, RuntimeError) and any(t in str(e).lower() for t in OOM_TEXTS)
