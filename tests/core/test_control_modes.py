"""Control modes as the A1111 extension has them, units of different modes in one job, per-unit region masks
and ControlNet in the hires fix's second pass, against diffusers' ControlNet pipelines with the residual scales
applied by hand (a forward hook on the ControlNet)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from sdstudio.core import demo
from sdstudio.core.control import ControlMode, ControlUnit, control_map
from sdstudio.core.control.unit import HiresOption
from sdstudio.core.engine import Engine
from sdstudio.core.models import ModelLibrary
from sdstudio.core.request import InputImage, Request
from sdstudio.core.samplers import SAMPLERS
from sdstudio.core.settings import Settings
from tests.core.test_control_engine import _reference, _tiny_controlnet

W = H = 64
NETS = ("tiny_a_canny", "tiny_b_canny")


@pytest.fixture
def webui(tmp_path: Path, demo_home: Path) -> Path:
    from diffusers import UNet2DConditionModel

    root = tmp_path / "webui"
    (root / "models" / "Stable-diffusion").mkdir(parents=True)
    unet = UNet2DConditionModel.from_pretrained(str(demo.demo_path() / "unet"))
    for seed, name in enumerate(NETS, 1):
        _tiny_controlnet(unet, seed).save_pretrained(str(root / "models" / "ControlNet" / name))
    return root


Scale = Callable[[list[torch.Tensor], torch.Tensor], tuple[list[torch.Tensor], torch.Tensor]]


def _soft(down: list[torch.Tensor], mid: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """A1111's "My prompt is more important": residual i times 0.825 ** (12 - i)."""
    scales = [0.825 ** float(12 - i) for i in range(len(down) + 1)]
    return [d * s for d, s in zip(down, scales[:-1], strict=True)], mid * scales[-1]


def _region(mask: Image.Image) -> Scale:
    m = torch.from_numpy(np.asarray(mask, dtype=np.float32) / 255.0)[None, None]

    def apply(down: list[torch.Tensor], mid: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        def at(x: torch.Tensor) -> torch.Tensor:
            return x * torch.nn.functional.interpolate(m, size=tuple(x.shape[-2:]), mode="bilinear")

        return [at(d) for d in down], at(mid)

    return apply


def _diffusers(root: Path, units: list[ControlUnit], scales: list[Scale | None]) -> np.ndarray:
    """diffusers' ControlNet pipeline (Multi for several units) with each net's residuals rescaled by a hook."""
    import diffusers

    nets = [
        diffusers.ControlNetModel.from_pretrained(str(root / "models" / "ControlNet" / u.model))
        for u in units
    ]
    for net, scale in zip(nets, scales, strict=True):
        if scale is not None:

            def hook(_m: Any, _a: Any, _k: Any, out: Any, scale: Scale = scale) -> Any:
                down, mid = scale(list(out[0]), out[1])
                return down, mid

            net.register_forward_hook(hook, with_kwargs=True)
    pipe = diffusers.StableDiffusionControlNetPipeline.from_pretrained(
        str(demo.demo_path()), controlnet=nets[0] if len(nets) == 1 else nets, safety_checker=None
    )
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = SAMPLERS["Euler"].build(pipe.scheduler.config)
    maps = [control_map(u.image.to_pil(), u, (W, H)) for u in units]
    one = len(units) == 1
    image = pipe(
        "a box",
        num_inference_steps=3,
        guidance_scale=7.0,
        width=W,
        height=H,
        generator=[torch.Generator("cpu").manual_seed(4)],
        image=maps[0] if one else maps,
        controlnet_conditioning_scale=units[0].weight if one else [u.weight for u in units],
        control_guidance_start=units[0].guidance_start if one else [u.guidance_start for u in units],
        control_guidance_end=units[0].guidance_end if one else [u.guidance_end for u in units],
    ).images[0]
    return np.asarray(image).astype(np.int16)


def _ours(engine: Engine, *units: ControlUnit, **fields: Any) -> np.ndarray:
    base = Request(prompt="a box", steps=3, width=W, height=H, seed=4, sampler="Euler")
    result = engine.run(base.replace(controls=units, **fields))
    return np.asarray(result.images[0].image).astype(np.int16)


def test_prompt_more_important_mixed_modes_and_masks_match_hand_scaled_diffusers(webui: Path) -> None:
    engine = Engine(ModelLibrary(Settings(model_roots=[str(webui)])), device="cpu")
    picture = InputImage.from_pil(_reference())
    balanced = ControlUnit(picture, "canny", NETS[0], weight=0.9, processor_res=64)
    prompt = ControlUnit(
        picture, "canny", NETS[0], weight=0.9, processor_res=64, control_mode=ControlMode.prompt
    )

    # 1. "My prompt is more important": soft injection on both halves of the CFG batch
    soft = _ours(engine, prompt)
    plain = _ours(engine, balanced)
    assert np.abs(soft - plain).max() > 8
    assert np.abs(soft - _diffusers(webui, [prompt], [_soft])).max() <= 1

    # 2. two units of different modes in one job: each scaled its own way, then added
    second = ControlUnit(picture, "canny", NETS[1], weight=0.6, guidance_end=0.7, processor_res=64)
    mixed = _ours(engine, second, prompt)
    assert np.abs(mixed - _diffusers(webui, [second, prompt], [None, _soft])).max() <= 1

    # 3. a unit's mask limits where it acts (bilinear at each residual's size, as A1111's region masks)
    mask = Image.new("L", (W, H), 0)
    ImageDraw.Draw(mask).rectangle((0, 0, W // 2 - 1, H - 1), fill=255)
    masked = ControlUnit(
        picture, "canny", NETS[0], weight=0.9, processor_res=64, mask=InputImage.from_pil(mask)
    )
    ours = _ours(engine, masked)
    assert np.abs(ours - _diffusers(webui, [masked], [_region(mask)])).max() <= 1
    assert np.abs(ours - plain).max() > 8


def test_hires_fix_runs_the_units_in_the_second_pass(webui: Path) -> None:
    engine = Engine(ModelLibrary(Settings(model_roots=[str(webui)])), device="cpu")
    picture = InputImage.from_pil(_reference())
    hires = {"enable_hr": True, "hr_scale": 1.25, "hr_second_pass_steps": 4, "strength": 0.75, "steps": 2}
    # the picture as the map ("none"): A1111 softens canny units in the hires pass, too little to see here
    both = ControlUnit(picture, "none", NETS[0])
    low = ControlUnit(picture, "none", NETS[0], hr_option=HiresOption.low_res_only)
    with_both, low_only = (_ours(engine, unit, **hires) for unit in (both, low))
    assert with_both.shape == low_only.shape == (80, 80, 3)
    assert np.abs(with_both - low_only).max() > 8  # the second pass sees the control map at 80x80


def test_sdxl_guess_mode_matches_diffusers_with_the_added_embeddings_halved(
    tmp_path: Path, demo_home: Path
) -> None:
    import diffusers

    folder = tmp_path / "tiny-sdxl"
    pipe = demo.tiny_sdxl_pipeline()
    pipe.save_pretrained(str(folder), safe_serialization=True)
    comfy = tmp_path / "ComfyUI"
    (comfy / "models" / "checkpoints").mkdir(parents=True)
    net = _tiny_controlnet(pipe.unet, 7)
    net.save_pretrained(str(comfy / "models" / "controlnet" / "tiny_xl_canny"))
    engine = Engine(ModelLibrary(Settings(model_roots=[str(comfy)])), device="cpu")
    unit = ControlUnit(
        InputImage.from_pil(_reference()), "canny", "tiny_xl_canny", weight=0.8, processor_res=64,
        control_mode=ControlMode.controlnet,
    )  # fmt: skip
    base = Request(prompt="a box", steps=3, width=W, height=H, seed=4, sampler="Euler", model=str(folder))
    ours = np.asarray(engine.run(base.replace(controls=(unit,))).images[0].image).astype(np.int16)

    ref = diffusers.StableDiffusionXLControlNetPipeline.from_pretrained(str(folder), controlnet=net)
    ref.set_progress_bar_config(disable=True)
    ref.scheduler = SAMPLERS["Euler"].build(ref.scheduler.config)
    theirs = ref(
        "a box", num_inference_steps=3, guidance_scale=7.0, width=W, height=H, guess_mode=True,
        image=control_map(unit.image.to_pil(), unit, (W, H)), controlnet_conditioning_scale=0.8,
        generator=[torch.Generator("cpu").manual_seed(4)],
    ).images[0]  # fmt: skip
    assert np.abs(ours - np.asarray(theirs).astype(np.int16)).max() <= 1
