"""What a training run keeps on disk: resume checkpoints, cached latents, and the kohya-format LoRA file."""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sdstudio.core import paths
from sdstudio.core.metadata_io import atomic_write
from sdstudio.core.training.config import TrainConfig, TrainProgress
from sdstudio.core.training.dataset import Dataset, bucket_for, load_picture
from sdstudio.core.training.network import LoraNetwork

if TYPE_CHECKING:
    import torch
    from diffusers import DiffusionPipeline

    from sdstudio.core.models.entries import ModelEntry


BASE_VERSIONS = {"sd1": "sd_v1", "sd2": "sd_v2", "sd2-v": "sd_v2", "sdxl": "sdxl_base_v1-0"}


class Checkpoints:
    """`state_dir/checkpoint.pt`: the network, optimizer and scheduler states, the step and the losses."""

    def __init__(self, state_dir: Path):
        self.dir = Path(state_dir)
        self.path = self.dir / "checkpoint.pt"

    def exists(self) -> bool:
        return self.path.is_file()

    def save(
        self,
        net: LoraNetwork,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        step: int,
        losses: list[float],
    ) -> None:
        import torch

        self.dir.mkdir(parents=True, exist_ok=True)
        state = {
            "step": step,
            "losses": list(losses),
            "network": net.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
        }
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write(self.path, buf.getvalue())  # a crash mid-save keeps the previous checkpoint

    def load(
        self,
        net: LoraNetwork,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
    ) -> tuple[int, list[float]]:
        import torch

        from sdstudio.core.training.loop import TrainingError

        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
            net.load_state_dict(state["network"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
        except (KeyError, RuntimeError, ValueError, OSError) as e:
            raise TrainingError(
                f"{self.path}: cannot resume ({type(e).__name__}: {e}); the run's rank or options changed, "
                "or the checkpoint is damaged: start again without --resume"
            ) from None
        return int(state["step"]), [float(x) for x in state["losses"]]


def cached_latents(
    pipe: DiffusionPipeline,
    data: Dataset,
    resolution: int,
    model_id: str,
    on_progress: Callable[[TrainProgress], None] | None = None,
) -> list[torch.Tensor]:
    """Each picture's VAE latents at its bucket size, read from the cache or encoded once and cached."""
    import numpy as np
    import torch
    from safetensors.torch import load_file, save

    cache = paths.data_dir() / "cache" / "latents"
    cache.mkdir(parents=True, exist_ok=True)
    vae = pipe.vae
    out = []
    t0 = time.perf_counter()
    for n, item in enumerate(data.items):
        bucket = bucket_for(item.width, item.height, resolution)
        digest = hashlib.sha256(item.path.read_bytes()).hexdigest()
        key = hashlib.sha256(f"{digest}:{bucket}:{model_id}".encode()).hexdigest()[:32]
        file = cache / f"{key}.safetensors"
        if file.is_file():
            out.append(load_file(str(file))["latents"])
            continue
        picture = np.asarray(load_picture(item, bucket), dtype=np.float32) / 127.5 - 1.0
        x = torch.from_numpy(picture).permute(2, 0, 1)[None].to(pipe.device, vae.dtype)
        with torch.no_grad():
            latents = vae.encode(x).latent_dist.mean[0] * vae.config.scaling_factor  # the mean: deterministic
        latents = latents.float().cpu().contiguous()
        atomic_write(file, save({"latents": latents}))
        out.append(latents)
        if on_progress is not None:
            on_progress(
                TrainProgress(n + 1, len(data.items), 0.0, time.perf_counter() - t0, 0.0, "caching latents")
            )
    return out


def base_version(pipe: DiffusionPipeline, entry: ModelEntry) -> str:
    """kohya's ss_base_model_version: from the library's family, else from the pipeline's own parts."""
    if entry.family.base in BASE_VERSIONS:
        return BASE_VERSIONS[entry.family.base]
    if getattr(pipe, "text_encoder_2", None) is not None:
        return "sdxl_base_v1-0"
    return "sd_v2" if pipe.text_encoder.config.hidden_size == 1024 else "sd_v1"


def save_lora(
    path: Path, net: LoraNetwork, c: TrainConfig, data: Dataset, entry: ModelEntry, steps: int, base: str
) -> None:
    """The LoRA as kohya writes it: its keys, and `ss_*` metadata A1111's and ComfyUI's pickers read."""
    from safetensors.torch import save

    meta = {
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(c.rank),
        "ss_network_alpha": f"{c.alpha:g}",
        "ss_network_args": json.dumps(
            {"conv_dim": str(c.rank), "conv_alpha": f"{c.alpha:g}"} if c.locon else {}
        ),
        "ss_base_model_version": base,
        "ss_sd_model_name": entry.name,
        "ss_sd_model_hash": entry.short_hash,
        "ss_new_sd_model_hash": entry.sha256,
        "ss_resolution": f"({c.resolution}, {c.resolution})",
        "ss_steps": str(steps),
        "ss_max_train_steps": str(steps),
        "ss_epoch": str(max(1, steps // max(1, len(data.items)))),
        "ss_learning_rate": f"{c.lr:g}",
        "ss_unet_lr": f"{c.lr:g}",
        "ss_text_encoder_lr": f"{c.text_encoder_lr:g}" if c.train_text_encoder else "0",
        "ss_network_train_unet_only": str(not c.train_text_encoder),
        "ss_lr_scheduler": c.scheduler,
        "ss_lr_warmup_steps": str(c.warmup_steps),
        "ss_batch_size_per_device": str(c.batch),
        "ss_num_train_images": str(data.epoch_length),
        "ss_tag_frequency": json.dumps(data.tag_frequency),
        "ss_output_name": path.stem,
        "ss_seed": str(c.seed),
        "ss_noise_offset": f"{c.noise_offset:g}",
        "ss_min_snr_gamma": f"{c.min_snr_gamma:g}",
        "ss_mixed_precision": c.precision,
        "ss_training_finished_at": str(int(time.time())),
        "ss_training_comment": "trained with sdstudio",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, save(net.state_dict(), metadata=meta))


def peak_memory(device: torch.device | str) -> int:
    """Peak memory in bytes: CUDA's allocator peak, else this process's peak resident size."""
    import torch

    if getattr(device, "type", str(device)) == "cuda":
        return int(torch.cuda.max_memory_allocated())
    try:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    except (ImportError, OSError):
        return 0
