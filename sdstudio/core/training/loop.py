"""The training loop: a LoRA trained into a frozen model on the artist's pictures, resumable step for step.

Every step draws its noise and timesteps from a generator seeded by (seed, step) and every epoch's order from
(seed, epoch), so a run resumed from a checkpoint continues with the same losses as one never stopped.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sdstudio.core.errors import Cancelled, EngineError
from sdstudio.core.protocols import Library
from sdstudio.core.training.config import Sample, TrainConfig, TrainProgress, TrainResult
from sdstudio.core.training.dataset import Dataset, bucket_for, scan_dataset
from sdstudio.core.training.network import (
    LOCON_TARGETS,
    TEXT_TARGETS,
    UNET_TARGETS,
    LoraNetwork,
    text_names,
    text_prefixes,
)
from sdstudio.core.training.state import Checkpoints, base_version, cached_latents, peak_memory, save_lora

if TYPE_CHECKING:
    import torch
    from diffusers import DiffusionPipeline

    from sdstudio.core.models.entries import ModelEntry


log = logging.getLogger(__name__)
OOM_ADVICE = (
    "out of memory while training at {res}² batch {batch}: lower --batch, --resolution or --rank, "
    "train without --text-encoder, or use gradient checkpointing"
)


class TrainingError(EngineError):
    """A run that cannot go on; the message says which option to change."""


class Trainer:
    """Runs one TrainConfig on a model from the library."""

    def __init__(
        self, config: TrainConfig, library: Library, on_sample: Callable[[Sample], None] | None = None
    ):
        self.config = config.validate()
        self.library = library
        self.on_sample = on_sample  # each sample picture as it is made: e.g. into the gallery

    # -- set-up ------------------------------------------------------------------------------------
    def _load(self) -> tuple[DiffusionPipeline, ModelEntry, str]:
        import torch

        from sdstudio.core.engine import pick_device
        from sdstudio.core.models import load_pipeline

        device = pick_device(self.config.device)
        precision = self.config.precision
        if precision == "auto":
            precision = "fp32" if device == "cpu" else ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
        entry = self.library.with_hash(self.library.resolve(self.config.model))
        pipe = load_pipeline(entry, torch_dtype=dtype)
        pipe.to(device)
        if hasattr(pipe, "set_progress_bar_config"):
            pipe.set_progress_bar_config(disable=True)
        for part in ("unet", "vae", "text_encoder", "text_encoder_2"):
            if (m := getattr(pipe, part, None)) is not None:
                m.requires_grad_(False)
        return pipe, entry, precision

    def _network(self, pipe: DiffusionPipeline) -> LoraNetwork:
        import torch

        c = self.config
        torch.manual_seed(c.seed)  # the down factors' initialisation
        net = LoraNetwork(c.rank, c.alpha)
        net.attach(pipe.unet, "lora_unet_", UNET_TARGETS + (LOCON_TARGETS if c.locon else ()), convs=c.locon)
        if c.train_text_encoder:
            encoders = [
                e for e in (pipe.text_encoder, getattr(pipe, "text_encoder_2", None)) if e is not None
            ]
            for prefix, enc in zip(text_prefixes(len(encoders)), encoders, strict=True):
                net.attach(enc, prefix, TEXT_TARGETS, convs=False, names=text_names(enc))
        if not net.layers:
            raise TrainingError(f"{c.model or 'the model'}: no layer to train (not a Stable Diffusion UNet?)")
        return net

    def _order(self, data: Dataset, epoch: int) -> list[list[int]]:
        """One epoch's batches: pictures (repeats counted) shuffled, batched within their bucket."""
        import torch

        expanded = [i for i, item in enumerate(data.items) for _ in range(item.repeats)]
        g = torch.Generator().manual_seed(self.config.seed * 100_003 + epoch)
        order = [expanded[j] for j in torch.randperm(len(expanded), generator=g).tolist()]
        by_bucket: dict[tuple[int, int], list[int]] = {}
        batches: list[list[int]] = []
        for i in order:
            item = data.items[i]
            group = by_bucket.setdefault(bucket_for(item.width, item.height, self.config.resolution), [])
            group.append(i)
            if len(group) == self.config.batch:
                batches.append(group.copy())
                group.clear()
        batches += [g_ for g_ in by_bucket.values() if g_]
        return batches

    def total_steps(self, data: Dataset) -> int:
        c = self.config
        if c.steps:
            return c.steps
        return (c.epochs or 10) * len(self._order(data, 0))

    # -- running -------------------------------------------------------------------------------------
    def run(
        self,
        on_progress: Callable[[TrainProgress], None] | None = None,
        cancel: threading.Event | None = None,
        resume: bool = False,
    ) -> TrainResult:
        """Train; cancel saves a checkpoint and raises Cancelled; resume continues from the last checkpoint."""
        import torch

        c = self.config
        # 1. everything checked before the model loads
        data = scan_dataset(c.dataset, c.trigger, c.caption_template)
        for path, why in data.skipped:
            log.warning("skipping %s: %s", path, why)
        total = self.total_steps(data)
        checkpoints = Checkpoints(c.state_dir)
        if resume and not checkpoints.exists():
            raise TrainingError(
                f"nothing to resume: {c.state_dir} holds no checkpoint; start without --resume"
            )
        # 2. model, network, optimizer
        pipe, entry, precision = self._load()
        try:
            net = self._network(pipe)
            groups = [{"params": [p for layer in net.layers if layer.key.startswith("lora_unet_")
                                  for p in (layer.down.weight, layer.up.weight)], "lr": c.lr}]  # fmt: skip
            te = [
                p
                for layer in net.layers
                if layer.key.startswith("lora_te")
                for p in (layer.down.weight, layer.up.weight)
            ]
            if te:
                groups.append({"params": te, "lr": c.text_encoder_lr})
            optimizer = torch.optim.AdamW(groups, weight_decay=0.01)
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(c, total))
            auto_ckpt = _small_gpu(pipe.device)
            use_ckpt = c.gradient_checkpointing if c.gradient_checkpointing is not None else auto_ckpt
            if use_ckpt and hasattr(pipe.unet, "enable_gradient_checkpointing"):
                pipe.unet.enable_gradient_checkpointing()
            start, losses = 0, list[float]()
            if resume:
                start, losses = checkpoints.load(net, optimizer, scheduler)
            # 3. latents of every picture, cached on disk by content hash
            latents = cached_latents(pipe, data, c.resolution, entry.sha256 or entry.location, on_progress)
            from sdstudio.core.training.step import StepRunner

            runner = StepRunner(pipe, net, c, precision)
            samples = []
            t0, done_here = time.perf_counter(), 0
            epoch_batches: dict[int, list[list[int]]] = {}
            per_epoch = len(self._order(data, 0))
            for step in range(start, total):
                if cancel is not None and cancel.is_set():
                    checkpoints.save(net, optimizer, scheduler, step, losses)
                    raise Cancelled()
                epoch, index = divmod(step, per_epoch)
                if epoch not in epoch_batches:
                    epoch_batches = {epoch: self._order(data, epoch)}
                batch = epoch_batches[epoch][index]
                try:
                    loss = runner.step(
                        step, [latents[i] for i in batch], [data.items[i].caption for i in batch]
                    )
                except KeyboardInterrupt:  # Ctrl+C mid-step: keep everything up to the last whole step
                    optimizer.zero_grad(set_to_none=True)
                    checkpoints.save(net, optimizer, scheduler, step, losses)
                    raise
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(loss)
                done_here += 1
                elapsed = time.perf_counter() - t0
                if on_progress is not None:
                    eta = elapsed / done_here * (total - step - 1)
                    on_progress(TrainProgress(step + 1, total, loss, elapsed, eta))
                every = c.save_every or max(1, total // 10)
                if (step + 1) % every == 0 and step + 1 < total:
                    checkpoints.save(net, optimizer, scheduler, step + 1, losses)
                if c.sample_every and (step + 1) % c.sample_every == 0:
                    samples += runner.samples(step + 1, c.state_dir / "samples", self.on_sample)
            save_lora(c.output, net, c, data, entry, total, base_version(pipe, entry))
            checkpoints.save(net, optimizer, scheduler, total, losses)
            return TrainResult(
                c.output, total, tuple(losses), tuple(samples), peak_memory(pipe.device), data.skipped
            )
        except Cancelled:
            raise
        except Exception as e:
            if _is_oom(e):
                raise TrainingError(OOM_ADVICE.format(res=c.resolution, batch=c.batch)) from None
            raise
        finally:
            net_ = locals().get("net")
            if net_ is not None:
                net_.detach()


def _lr_lambda(c: TrainConfig, total: int) -> Callable[[int], float]:
    warm = c.warmup_steps if "warmup" in c.scheduler or c.warmup_steps else 0

    def factor(step: int) -> float:
        if warm and step < warm:
            return (step + 1) / warm
        if c.scheduler.startswith("cosine"):
            progress = (step - warm) / max(1, total - warm)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        if c.scheduler == "linear":
            return max(0.0, 1 - (step - warm) / max(1, total - warm))
        return 1.0

    return factor


def _small_gpu(device: torch.device) -> bool:
    """Gradient checkpointing by default only where memory is tight (a CUDA card under 24 GiB)."""
    import torch

    if device.type != "cuda":
        return False
    return torch.cuda.get_device_properties(device).total_memory < 24 * 2**30


def _is_oom(e: BaseException) -> bool:
    import torch

    oom = getattr(torch, "OutOfMemoryError", MemoryError)
    return isinstance(e, (oom, MemoryError)) or "out of memory" in str(e).lower()
