"""Engine overhead over raw diffusers: the same workload alternated in one run; prints the time ratio.

Target: ratio <= 1.03. Usage: python benchmarks/engine_overhead.py [--quick] [--rounds N]
  tiny model at 256x256, then a full-size SD 1.5-architecture UNet (random weights) at 512x512.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def full_size_sd15(folder: Path) -> Path:
    """An SD 1.5-architecture pipeline with random weights (UNet and VAE at full size, real CLIP tokenizer)."""
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from sdstudio.core import demo, tokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=64, cross_attention_dim=768, attention_head_dim=8
    )  # SD 1.5 (img2img reads sample_size)
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=2,
        latent_channels=4,
    )
    text = CLIPTextModel(
        CLIPTextConfig(
            hidden_size=768,
            intermediate_size=3072,
            num_attention_heads=12,
            num_hidden_layers=12,
            projection_dim=768,
            bos_token_id=49406,
            eos_token_id=49407,
        )
    )
    tokenizer.write_clip_tokenizer(folder / "_tok")
    pipe = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text,
        tokenizer=tokenizer.load_clip_tokenizer(folder / "_tok"),
        scheduler=PNDMScheduler.from_config(demo.SD1_SCHEDULER),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(str(folder / "model"), safe_serialization=True)
    return folder / "model"


def measure(label: str, model: str, size: int, steps: int, rounds: int) -> float:
    import torch

    from sdstudio.core.engine import Engine
    from sdstudio.core.models import ModelLibrary
    from sdstudio.core.request import Request
    from sdstudio.core.samplers import SAMPLERS
    from sdstudio.core.settings import Settings

    engine = Engine(ModelLibrary(Settings.load()), device="cpu")
    req = Request(
        prompt="a lighthouse at dusk",
        negative_prompt="blurry",
        steps=steps,
        width=size,
        height=size,
        seed=1,
        model=model,
    )
    engine.run(req)  # load and warm up
    pipe = engine._loaded.pipe

    scheduler = SAMPLERS[req.sampler].build(engine._loaded.scheduler_config)

    def raw() -> None:
        pipe.scheduler = scheduler
        with torch.inference_mode():
            pipe(
                req.prompt,
                negative_prompt=req.negative_prompt,
                num_inference_steps=steps,
                guidance_scale=req.cfg_scale,
                width=size,
                height=size,
                generator=[torch.Generator("cpu").manual_seed(1)],
            )

    def ours() -> None:
        engine.run(req, on_step=lambda p: None)

    t_raw, t_ours = [], []
    for i in range(rounds):
        for fn, acc in ((raw, t_raw), (ours, t_ours)) if i % 2 == 0 else ((ours, t_ours), (raw, t_raw)):
            t0 = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t0)
    ratio = statistics.median(t_ours) / statistics.median(t_raw)
    print(
        f"{label}: raw diffusers {statistics.median(t_raw):.3f}s, Engine {statistics.median(t_ours):.3f}s "
        f"(median of {rounds}), ratio {ratio:.3f} (target <= 1.03)"
    )
    engine.close()
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny model only")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    measure("tiny SD1 256x256, 8 steps", "demo", 256, 8, args.rounds)
    if not args.quick:
        with tempfile.TemporaryDirectory() as tmp:
            model = full_size_sd15(Path(tmp))
            measure("SD 1.5 UNet (random) 512x512, 3 steps", str(model), 512, 3, max(2, args.rounds // 3))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
