"""LoRA training speed: sdstudio's Trainer against the inner loop of diffusers' train_text_to_image_lora.py.

Both train a LoRA of the same rank on the random-weight SD 1.5 UNet (bundled configs) at the same resolution,
batch and precision, in one run; the figure is steps per second of the training loop (model load, latent
caching and the first steps as warm-up excluded). The diffusers loop (peft LoRA on to_q/k/v/out, VAE and text
encoder run every step, as the script does) needs peft; without it only sdstudio's figure is printed.
Target on a CUDA GPU: sdstudio >= 0.90x the diffusers loop's steps per second. On the CPU the figure is for
scaling only (expect tens of seconds per 512² step on two cores).

    python benchmarks/training.py [--device cuda] [--resolution 512] [--steps 12] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _pictures(folder: Path, n: int, size: int) -> Path:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def ours(pipe: Any, args: argparse.Namespace, data: Path) -> float:
    """Steps per second of sdstudio's Trainer (after `warm` steps)."""
    import torch
    from _builders import serve_pipelines

    from sdstudio.core.models import ModelLibrary
    from sdstudio.core.settings import Settings
    from sdstudio.core.training import TrainConfig, Trainer

    times: list[float] = []

    def tick(p: Any) -> None:
        if p.phase == "training":
            if args.device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter())

    with serve_pipelines({"sd15": pipe}) as refs:
        config = TrainConfig(
            dataset=data, model=refs["sd15"], output=Path(tempfile.mkdtemp()) / "bench.safetensors",
            steps=args.steps, rank=args.rank, alpha=args.rank, lr=1e-4, resolution=args.resolution,
            precision=args.precision, gradient_checkpointing=False, device=args.device, save_every=10**6,
        )  # fmt: skip
        Trainer(config, ModelLibrary(Settings())).run(on_progress=tick)
    warm = args.warm
    return (len(times) - 1 - warm) / (times[-1] - times[warm])


def diffusers_loop(pipe: Any, args: argparse.Namespace) -> float | None:
    """Steps per second of train_text_to_image_lora.py's inner loop (peft LoRA), or None without peft."""
    try:
        from peft import LoraConfig
    except ImportError:
        return None
    import torch
    from diffusers import DDPMScheduler

    device, res = args.device, args.resolution
    dtype = pipe.unet.dtype
    unet, vae, te = pipe.unet, pipe.vae, pipe.text_encoder
    for m in (unet, vae, te):
        m.requires_grad_(False)
    unet.add_adapter(
        LoraConfig(r=args.rank, lora_alpha=args.rank, init_lora_weights="gaussian",
                   target_modules=["to_k", "to_q", "to_v", "to_out.0"])
    )  # fmt: skip
    params = [p for p in unet.parameters() if p.requires_grad]
    for p in params:  # cast_training_params: trainable LoRA weights in fp32
        p.data = p.data.float()
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    ids = pipe.tokenizer(["a picture"] * args.batch, padding="max_length", max_length=77, return_tensors="pt")
    ids = ids.input_ids.to(device)
    pixels = torch.rand(args.batch, 3, res, res, device=device) * 2 - 1
    autocast = device == "cuda" and dtype != torch.float32
    times = []
    for _ in range(args.steps):
        with torch.autocast(device, dtype=dtype, enabled=autocast):
            latents = vae.encode(pixels.to(dtype)).latent_dist.sample() * vae.config.scaling_factor
            noise = torch.randn_like(latents)
            t = torch.randint(0, noise_scheduler.config.num_train_timesteps, (args.batch,), device=device)
            noisy = noise_scheduler.add_noise(latents, noise, t)
            hidden = te(ids, return_dict=False)[0]
            pred = unet(noisy, t, hidden, return_dict=False)[0]
        loss = torch.nn.functional.mse_loss(pred.float(), noise.float(), reduction="mean")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter())
    unet.delete_adapters(unet.active_adapters()) if hasattr(unet, "delete_adapters") else None
    warm = args.warm
    return (len(times) - 1 - warm) / (times[-1] - times[warm])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--resolution", type=int, default=512)
    ap.add_argument("--steps", type=int, default=0, help="default: 14 on CUDA, 4 on the CPU")
    ap.add_argument("--warm", type=int, default=0, help="steps not timed (default: 4 on CUDA, 1 on the CPU)")
    ap.add_argument("--rank", type=int, default=4)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--precision", default="", help="fp16 (CUDA default) or fp32 (CPU default)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    cuda = args.device == "cuda"
    args.steps = args.steps or (14 if cuda else 4)
    args.warm = args.warm or (4 if cuda else 1)
    args.precision = args.precision or ("fp16" if cuda else "fp32")
    import torch
    from _builders import build, ensure_home

    ensure_home()
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[args.precision]
    data = _pictures(Path(tempfile.mkdtemp()) / "pictures", 4, args.resolution)
    ours_sps = ours(build("sd15", args.device, dtype), args, data)
    print(f"  sdstudio Trainer:        {ours_sps:.3f} steps/s", flush=True)
    try:
        ref_sps = diffusers_loop(build("sd15", args.device, dtype), args)
    except Exception as e:  # a peft/diffusers mismatch must not lose sdstudio's figure
        print(f"  diffusers LoRA loop failed: {type(e).__name__}: {e}")
        ref_sps = None
    figures: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "resolution": args.resolution, "batch": args.batch, "rank": args.rank, "precision": args.precision,
        "sdstudio_steps_per_s": round(ours_sps, 3),
        "diffusers_loop_steps_per_s": round(ref_sps, 3) if ref_sps else None,
        "ratio": round(ours_sps / ref_sps, 3) if ref_sps else None,
    }  # fmt: skip
    print(
        f"training {args.resolution}² batch {args.batch} rank {args.rank} {args.precision} on {figures['device']}"
    )
    print(f"  sdstudio Trainer:        {ours_sps:.3f} steps/s ({1 / ours_sps:.2f} s/step)")
    if ref_sps:
        print(
            f"  diffusers LoRA loop:     {ref_sps:.3f} steps/s   ratio {ours_sps / ref_sps:.2f}x (target >= 0.90)"
        )
    else:
        print("  diffusers LoRA loop:     skipped (peft is not installed)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
