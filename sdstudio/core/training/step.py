"""One training step (noise, timesteps, loss with min-SNR weighting and noise offset) and sample pictures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sdstudio.core.training.config import Sample, TrainConfig
from sdstudio.core.training.network import LoraNetwork

if TYPE_CHECKING:
    import torch
    from diffusers import DiffusionPipeline


class StepRunner:
    """The per-step work on one pipeline under training."""

    def __init__(self, pipe: DiffusionPipeline, net: LoraNetwork, config: TrainConfig, precision: str):
        from diffusers import DDPMScheduler

        self.pipe, self.net, self.config = pipe, net, config
        self.noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        self.prediction = self.noise_scheduler.config.get("prediction_type", "epsilon")
        self.sdxl = getattr(pipe, "text_encoder_2", None) is not None
        self.autocast = precision in ("bf16", "fp16") and pipe.device.type == "cuda"
        self.precision = precision
        self._prompts: dict[str, tuple[torch.Tensor, torch.Tensor | None]] = {}

    def _encode(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Text embeddings (and SDXL's pooled ones); cached per caption while the text encoders stay frozen."""
        import torch

        trained = self.config.train_text_encoder
        embeds, pooled = [], []
        for caption in captions:
            if not trained and caption in self._prompts:
                e, p = self._prompts[caption]
            else:
                with torch.set_grad_enabled(trained):
                    out = self.pipe.encode_prompt(
                        caption,
                        device=self.pipe.device,
                        num_images_per_prompt=1,
                        do_classifier_free_guidance=False,
                    )
                e, p = out[0], (out[2] if self.sdxl else None)
                if not trained:
                    self._prompts[caption] = (e.detach(), p.detach() if p is not None else None)
            embeds.append(e)
            pooled.append(p)
        return torch.cat(embeds), (torch.cat(pooled) if self.sdxl else None)

    def step(self, step: int, latents: list[torch.Tensor], captions: list[str]) -> float:
        """Forward and backward for one batch; returns the loss (the optimizer steps outside)."""
        import torch

        c = self.config
        device = self.pipe.device
        g = torch.Generator().manual_seed(c.seed * 1_000_003 + step)
        x0 = torch.stack(latents).to(device, torch.float32)
        noise = torch.randn(x0.shape, generator=g)
        if c.noise_offset:
            noise = noise + c.noise_offset * torch.randn((x0.shape[0], x0.shape[1], 1, 1), generator=g)
        noise = noise.to(device)
        steps = self.noise_scheduler.config.num_train_timesteps
        t = torch.randint(0, steps, (x0.shape[0],), generator=g).to(device)
        noisy = self.noise_scheduler.add_noise(x0, noise, t)
        target = (
            self.noise_scheduler.get_velocity(x0, noise, t) if self.prediction == "v_prediction" else noise
        )
        dtype = self.pipe.unet.dtype
        with torch.autocast(device.type, dtype=dtype, enabled=self.autocast):
            embeds, pooled = self._encode(captions)
            extra = {}
            if self.sdxl:
                h, w = x0.shape[-2] * 8, x0.shape[-1] * 8
                time_ids = torch.tensor([[h, w, 0, 0, h, w]] * x0.shape[0], device=device, dtype=embeds.dtype)
                extra = {"added_cond_kwargs": {"text_embeds": pooled, "time_ids": time_ids}}
            pred = self.pipe.unet(noisy.to(dtype), t, embeds.to(dtype), **extra).sample
        loss = torch.nn.functional.mse_loss(pred.float(), target.float(), reduction="none").mean(
            dim=(1, 2, 3)
        )
        if c.min_snr_gamma:
            alphas = self.noise_scheduler.alphas_cumprod.to(device)[t]
            snr = alphas / (1 - alphas)
            weight = torch.clamp(snr, max=c.min_snr_gamma) / (
                snr + 1 if self.prediction == "v_prediction" else snr
            )
            loss = loss * weight
        loss = loss.mean()
        loss.backward()
        return float(loss.detach())

    def samples(self, step: int, folder: Path, on_sample: Callable[[Sample], None] | None) -> list[Path]:
        """A picture per sample prompt with the LoRA as trained so far (fixed seeds), saved in `folder`."""
        import torch

        c = self.config
        folder.mkdir(parents=True, exist_ok=True)
        out = []
        size = c.resolution
        for i, prompt in enumerate(c.sample_prompts):
            g = torch.Generator("cpu").manual_seed(c.seed + i)
            with torch.no_grad():
                image = self.pipe(
                    prompt, num_inference_steps=c.sample_steps, width=size, height=size, generator=g
                ).images[0]
            path = folder / f"step-{step:06d}-{i}.png"
            image.save(path)
            out.append(path)
            if on_sample is not None:
                on_sample(Sample(image, prompt, i, step, path))
        return out
