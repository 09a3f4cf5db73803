"""The loaded model: its base pipeline, the pipelines derived from it per mode, schedulers and device choice."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypedDict

from sdstudio.core.jsontypes import JsonObject
from sdstudio.core.models.entries import Family
from sdstudio.core.samplers import SAMPLERS

if TYPE_CHECKING:
    import torch
    from diffusers import ControlNetModel, DiffusionPipeline, SchedulerMixin
    from transformers import CLIPVisionModelWithProjection

    from sdstudio.core.control.ip_extension import AttachedAdapters
    from sdstudio.core.lora.session import LoraSession
    from sdstudio.core.speed.fast import FastPath
    from sdstudio.core.speed.memory import MemoryPlan
    from sdstudio.core.vae import VaeSlot


class ModelExtras(TypedDict, total=False):
    """Per-model state of the extensions, by the key each one keeps it under; released with the model."""

    vae: VaeSlot  # the chosen VAE in place of the model's own (core/vae.py)
    loras: LoraSession  # the LoRA patches in the weights (core/lora)
    fast: FastPath  # what the fast path changed (core/speed; the engine reloads a model that has it)
    memory_plan: MemoryPlan  # offload and tiling the model was loaded with
    controlnets: dict[str, ControlNetModel]  # loaded ControlNets by library location
    ip_encoders: dict[str, CLIPVisionModelWithProjection]  # IP-Adapter image encoders by library location
    ip_adapter: AttachedAdapters  # the IP-Adapters built into the UNet


@dataclass
class LoadedModel:
    """One model in memory. Everything here is released with it when another model is loaded."""

    ref: str  # the library location it was loaded from
    name: str
    hash: str  # A1111's short hash
    pipe: DiffusionPipeline  # the base (text-to-image) pipeline
    latent_space: str  # "sd1" or "sdxl": previews and latent maths
    derived: dict[
        str, DiffusionPipeline
    ]  # pipelines for the other modes, by kind, sharing the base's weights
    scheduler_config: JsonObject  # the model's scheduler_config.json
    schedulers: dict[str, SchedulerMixin] = field(default_factory=dict)
    family: Family = Family.unknown
    extras: ModelExtras = field(default_factory=ModelExtras)

    def scheduler(self, sampler: str) -> SchedulerMixin:
        """The scheduler for an A1111 sampler name, built once per model (set_timesteps resets its state)."""
        if sampler not in self.schedulers:
            self.schedulers[sampler] = SAMPLERS[sampler].build(self.scheduler_config)
        return self.schedulers[sampler]

    @property
    def inpaint_model(self) -> bool:
        """A 9-channel inpainting UNet: every mode runs through the inpaint pipeline."""
        return is_inpaint_unet(self.pipe)

    def pipeline(self, kind: str) -> DiffusionPipeline:
        """The pipeline for "txt2img", "img2img" or "inpaint", derived from the base with from_pipe (no reload)."""
        if kind == "txt2img" and not self.inpaint_model:
            return self.pipe
        if kind not in self.derived:
            from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting

            auto = AutoPipelineForImage2Image if kind == "img2img" else AutoPipelineForInpainting
            pipe = auto.from_pipe(self.pipe)
            if hasattr(pipe, "set_progress_bar_config"):
                pipe.set_progress_bar_config(disable=True)
            self.derived[kind] = pipe
        return self.derived[kind]


def is_inpaint_unet(pipe: DiffusionPipeline) -> bool:
    unet = getattr(pipe, "unet", None)
    return unet is not None and getattr(unet.config, "in_channels", 4) == 9


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


def pick_dtype(device: str, preference: str | torch.dtype | None = None) -> torch.dtype:
    """The torch dtype for a device: fp16 on CUDA/MPS, fp32 on CPU; an explicit preference wins."""
    import torch

    if preference:
        return getattr(torch, preference) if isinstance(preference, str) else preference
    if device.startswith("cuda") or device == "mps":
        return torch.float16  # bf16 on request (settings dtype "bfloat16"): fp16 is what SD VAEs expect
    return torch.float32


OOM_TEXTS = ("out of memory", "can't allocate memory", "not enough memory")  # CUDA/MPS, CPU allocator


def is_oom(e: BaseException) -> bool:
    """Whether an exception is the device (or the CPU allocator) running out of memory."""
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", MemoryError)
    assert isinstance(oom, type)
    if isinstance(e, (oom, MemoryError)):
        return True
    return isinstance(e, RuntimeError) and any(t in str(e).lower() for t in OOM_TEXTS)
