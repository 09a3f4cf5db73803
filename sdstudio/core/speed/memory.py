"""Memory for small GPUs: model CPU offload, sequential offload and VAE tiling chosen from free VRAM.

The job's peak device memory is recorded by extension.PeakMemory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline


GIB = 2**30
# Per family, fp16, in GiB: all weights, the largest component (the UNet, what model offload keeps on the device),
# the UNet's working set per megapixel of batch, and the full VAE decode's working set per megapixel (upcast
# to fp32 where the VAE needs it, as SDXL's does). Measured orders of magnitude with margin, not exact values.
FOOTPRINT = {
    "sd1": (2.0, 1.7, 1.2, 2.5),
    "sd2": (2.6, 1.7, 1.2, 2.5),
    "sd2-v": (2.6, 1.7, 1.2, 2.5),
    "sdxl": (6.9, 5.1, 1.4, 5.0),
}
HEADROOM = 0.5  # GiB kept free for the CUDA context, cuDNN workspaces and fragmentation


@dataclass(frozen=True)
class MemoryPlan:
    offload: str  # "none", "model" (components visit the GPU in turn) or "sequential" (layer by layer)
    vae_tiling: bool
    reason: str


def plan_memory(free_bytes: int, family: str, width: int = 0, height: int = 0, batch: int = 1) -> MemoryPlan:
    """The plan for a model of `family` ("sd1", "sd2", "sd2-v", "sdxl") at a size, given free device memory.

    width/height 0: the family's own square. Everything resident when it fits; else model offload (the UNet
    and its working set must fit); else sequential offload. VAE tiling when the decode would not fit beside
    what stays resident.
    """
    family = family if family in FOOTPRINT else "sdxl"  # unknown: planned as the largest
    weights, largest, unet_per_mp, vae_per_mp = FOOTPRINT[family]
    side = {"sdxl": 1024, "sd2-v": 768}.get(family, 512)
    mp = (width or side) * (height or side) / 1e6
    free = free_bytes / GIB - HEADROOM
    working = unet_per_mp * mp * max(1, batch)
    decode = vae_per_mp * mp  # decoded one picture at a time
    need = f"{weights + working:.1f} GiB"
    if free >= weights + working + decode:
        return MemoryPlan("none", False, f"everything fits ({free:.1f} GiB free, {need} needed)")
    if free >= weights + working:
        return MemoryPlan("none", True, f"the model fits ({free:.1f} GiB free); the VAE decodes in tiles")
    if free >= largest + working:
        tiling = free < largest + decode
        return MemoryPlan("model", tiling, f"{free:.1f} GiB free < {need}: components take turns on the GPU")
    return MemoryPlan(
        "sequential", True, f"{free:.1f} GiB free: even the UNet alone does not fit; layer by layer"
    )


def apply_plan(pipe: DiffusionPipeline, plan: MemoryPlan, device: str) -> None:
    """Put a freshly loaded (CPU) pipeline on the device as the plan says."""
    if plan.offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif plan.offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        pipe.to(device)
    if plan.vae_tiling and hasattr(pipe, "vae") and hasattr(pipe.vae, "enable_tiling"):
        pipe.vae.enable_tiling()


def free_device_memory(device: str) -> int | None:
    """Free bytes on a CUDA device (None elsewhere)."""
    import torch

    if not device.startswith("cuda") or not torch.cuda.is_available():
        return None
    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return int(free)
