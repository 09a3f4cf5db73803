"""The demo model: a tiny random-weight SD 1.x pipeline with a real CLIP tokenizer, built offline.

Its pictures are noise; it exists so that the app, the tests and a first run work with no download.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

from sdstudio.core import paths
from sdstudio.core.metadata_io import atomic_folder
from sdstudio.core.tokenizer import load_clip_tokenizer, write_clip_tokenizer

DEMO_ID = "demo"
DEMO_INPAINT_ID = "demo-inpaint"
DEMO_NAME = "Demo (random weights)"
DEMO_INPAINT_NAME = "Demo inpainting (random weights)"
DEMO_NOTE = "random weights: its pictures are noise, for trying the app without a real model"
_VERSION = "1"  # bump when the recipe changes, so old builds are replaced
_TINY_CLIP = {  # the tiny CLIP text encoders' shared shape (SD 1.x demo, SDXL test model's both encoders)
    "bos_token_id": 49406,
    "eos_token_id": 49407,
    "pad_token_id": 49407,
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_attention_heads": 4,
    "max_position_embeddings": 77,
    "projection_dim": 32,
}
_lock = threading.Lock()

# SD 1.x scheduler settings (as in runwayml/stable-diffusion-v1-5's scheduler_config.json).
SD1_SCHEDULER = {
    "_class_name": "PNDMScheduler",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "trained_betas": None,
}


def demo_root() -> Path:
    return paths.data_dir() / "models" / f"demo-v{_VERSION}"


def demo_path(inpaint: bool = False) -> Path:
    """Folder of the demo model in diffusers format, built on first need."""
    folder = demo_root() / ("tiny-sd1-inpaint" if inpaint else "tiny-sd1")
    if not (folder / "model_index.json").exists():
        with _lock:
            if not (folder / "model_index.json").exists():
                atomic_folder(folder, lambda f: build_tiny_sd1(f, inpaint=inpaint))
    return folder


def tiny_components(inpaint: bool = False, seed: int = 0, vocab_size: int = 49408) -> dict:
    """Random-weight SD 1.x components: UNet, 8x VAE, CLIP text encoder (no tokenizer, no scheduler)."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=9 if inpaint else 4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 16, 16, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=256,
    )
    text_config = CLIPTextConfig(
        **_TINY_CLIP, layer_norm_eps=1e-05, num_hidden_layers=4, vocab_size=vocab_size
    )
    text_encoder = CLIPTextModel(text_config)
    return {"unet": unet, "vae": vae, "text_encoder": text_encoder}


def build_tiny_sd1(folder: Path, inpaint: bool = False, seed: int = 0) -> Path:
    """Write a complete tiny SD 1.x pipeline (diffusers format, safetensors) to folder."""
    from diffusers import PNDMScheduler, StableDiffusionInpaintPipeline, StableDiffusionPipeline

    from sdstudio.core import quiet_libraries

    quiet_libraries()
    parts = tiny_components(inpaint=inpaint, seed=seed)
    tok_dir = folder / "_tok"
    write_clip_tokenizer(tok_dir)
    tokenizer = load_clip_tokenizer(tok_dir)
    cls = StableDiffusionInpaintPipeline if inpaint else StableDiffusionPipeline
    pipe = cls(
        **parts,
        tokenizer=tokenizer,
        scheduler=PNDMScheduler.from_config(SD1_SCHEDULER),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(str(folder), safe_serialization=True)
    shutil.rmtree(tok_dir, ignore_errors=True)
    (folder / "sdstudio-demo.json").write_text(
        json.dumps({"name": DEMO_NAME, "note": DEMO_NOTE}), encoding="utf-8"
    )
    return folder


def tiny_sdxl_pipeline(seed: int = 0):
    """A tiny random-weight SDXL pipeline (two text encoders of distinct widths, as in real SDXL), in memory."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=80,  # 6 * 8 time ids + 32 pooled
        cross_attention_dim=72,  # 32 + 40
        norm_num_groups=8,
    )
    cfg = _TINY_CLIP | {"num_hidden_layers": 3, "vocab_size": 49408, "hidden_act": "gelu"}
    tok = load_clip_tokenizer()
    pipe = StableDiffusionXLPipeline(
        vae=tiny_components(seed=seed)["vae"],
        text_encoder=CLIPTextModel(CLIPTextConfig(**cfg)),
        text_encoder_2=CLIPTextModelWithProjection(CLIPTextConfig(**(cfg | {"hidden_size": 40}))),
        tokenizer=tok,
        tokenizer_2=tok,
        unet=unet,
        scheduler=EulerDiscreteScheduler(
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            steps_offset=1,
            timestep_spacing="leading",
        ),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def is_demo(model: str) -> bool:
    return model in (DEMO_ID, DEMO_INPAINT_ID, DEMO_NAME, DEMO_INPAINT_NAME)
