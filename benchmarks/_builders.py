"""Random-weight pipelines for the benchmarks: full architectures from the bundled configs, or the tiny demo ones.

Nothing is downloaded: configs come from sdstudio/resources/model-configs, the tokenizer from the bundled BPE.
A module of helpers, not a benchmark (`make bench` skips files starting with "_").
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# arch -> bundled config folder (SD-Turbo is an SD 2.1-base architecture)
CONFIGS = {"sd15": "sd1", "sd21": "sd2", "sdxl": "sdxl"}


def ensure_home() -> Path:
    """An SDSTUDIO_HOME for the run (compile caches, tokenizer), unless the caller set one."""
    if "SDSTUDIO_HOME" not in os.environ:
        os.environ["SDSTUDIO_HOME"] = tempfile.mkdtemp(prefix="sdstudio-bench-")
    return Path(os.environ["SDSTUDIO_HOME"])


def _tokenizer(pad: str = "<|endoftext|>") -> Any:
    from sdstudio.core import tokenizer

    folder = ensure_home() / "bench-tokenizers" / ("bang" if pad == "!" else "eot")
    if not (folder / "vocab.json").exists():
        tokenizer.write_clip_tokenizer(folder, pad_token=pad)
    return tokenizer.load_clip_tokenizer(folder)


def build(arch: str, device: str, dtype: Any, seed: int = 0) -> Any:
    """A pipeline of `arch` ("sd15", "sd21", "sdxl", "tiny-sd15", "tiny-sdxl") with random weights on device."""
    import torch

    from sdstudio.core import quiet_libraries

    quiet_libraries()
    torch.manual_seed(seed)
    pipe = _tiny(arch) if arch.startswith("tiny-") else _full(arch, device)
    pipe.to(device=device, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _full(arch: str, device: str = "cpu") -> Any:
    from diffusers import (
        AutoencoderKL,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from diffusers import schedulers as diffusers_schedulers
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from sdstudio.core import paths

    folder = paths.resources_dir() / "model-configs" / CONFIGS[arch]

    def cfg(name: str) -> dict[str, Any]:
        files = sorted((folder / name).glob("*.json"))
        return json.loads(files[0].read_text(encoding="utf-8"))

    import torch

    sched_cfg = cfg("scheduler")
    scheduler = getattr(diffusers_schedulers, sched_cfg["_class_name"]).from_config(sched_cfg)
    with torch.device(device):  # weights are initialised where they will run (fast on a GPU)
        unet = UNet2DConditionModel.from_config(cfg("unet"))
        vae = AutoencoderKL.from_config(cfg("vae"))
        text = CLIPTextModel(CLIPTextConfig(**cfg("text_encoder")))
        text_2 = (
            CLIPTextModelWithProjection(CLIPTextConfig(**cfg("text_encoder_2"))) if arch == "sdxl" else None
        )
    if arch == "sdxl":
        return StableDiffusionXLPipeline(
            vae=vae,
            text_encoder=text,
            text_encoder_2=text_2,
            tokenizer=_tokenizer(),
            tokenizer_2=_tokenizer("!"),
            unet=unet,
            scheduler=scheduler,
        )
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text,
        tokenizer=_tokenizer("!" if arch == "sd21" else "<|endoftext|>"),
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def _tiny(arch: str) -> Any:
    from diffusers import PNDMScheduler, StableDiffusionPipeline

    from sdstudio.core import demo

    ensure_home()
    if arch == "tiny-sdxl":
        return demo.tiny_sdxl_pipeline()
    return StableDiffusionPipeline(
        **demo.tiny_components(),
        tokenizer=_tokenizer(),
        scheduler=PNDMScheduler.from_config(demo.SD1_SCHEDULER),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


@contextlib.contextmanager
def serve_pipelines(pipes: dict[str, Any], tag: str = "") -> Iterator[dict[str, str]]:
    """Let Engine.run load in-memory pipelines: each gets a folder reference the engine resolves to it.

    The folders are named alike in every process (under SDSTUDIO_HOME), so a second start sees the same model.
    """
    import sdstudio.core.models as models

    refs = {}
    for name in pipes:
        folder = ensure_home() / "bench-models" / f"{tag}{name}"
        folder.mkdir(parents=True, exist_ok=True)
        refs[name] = str(folder)
    by_location = {str(Path(ref).resolve()): pipes[name] for name, ref in refs.items()}
    original = models.load_pipeline

    def load(entry: Any, **kwargs: Any) -> Any:
        if entry.location in by_location:
            return by_location[entry.location]
        return original(entry, **kwargs)

    models.load_pipeline = load
    try:
        yield refs
    finally:
        models.load_pipeline = original
