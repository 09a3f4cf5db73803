"""ControlNet in the engine: a tiny ControlNet built from the demo UNet, found in the library's ControlNet folder,
gives the same picture as diffusers' ControlNet pipelines; wrong families and missing models are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from sdstudio.core import demo
from sdstudio.core.control import ControlMode, ControlUnit, control_map
from sdstudio.core.engine import Engine
from sdstudio.core.errors import ModelError
from sdstudio.core.gallery import infotext
from sdstudio.core.models import ModelLibrary
from sdstudio.core.request import InputImage, Mode, Request, RequestError
from sdstudio.core.samplers import SAMPLERS
from sdstudio.core.settings import Settings
from tests.core.control_fixtures import tiny_controlnet as _tiny_controlnet

W = H = 64


@pytest.fixture
def webui(tmp_path: Path, demo_home: Path) -> Path:
    from diffusers import UNet2DConditionModel

    root = tmp_path / "stable-diffusion-webui"
    (root / "models" / "Stable-diffusion").mkdir(parents=True)
    unet = UNet2DConditionModel.from_pretrained(str(demo.demo_path() / "unet"))
    _tiny_controlnet(unet, 1).save_pretrained(str(root / "models" / "ControlNet" / "tiny_sd15_canny"))
    return root


def _reference() -> Image.Image:
    image = Image.new("RGB", (96, 80), "white")
    ImageDraw.Draw(image).rectangle((20, 15, 70, 60), outline="black", width=4)
    return image


def _diffusers(root: Path, unit: ControlUnit, mode: Mode, **call: object) -> np.ndarray:
    import diffusers

    net = diffusers.ControlNetModel.from_pretrained(str(root / "models" / "ControlNet" / "tiny_sd15_canny"))
    name = {"txt2img": "", "img2img": "Img2Img", "inpaint": "Inpaint"}[mode.value]
    cls = getattr(diffusers, f"StableDiffusionControlNet{name}Pipeline")
    pipe = cls.from_pretrained(str(demo.demo_path()), controlnet=net, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = SAMPLERS["Euler"].build(pipe.scheduler.config)
    cmap = control_map(unit.image.to_pil(), unit, (W, H))
    key = "image" if mode is Mode.txt2img else "control_image"
    image = pipe(
        "a box",
        num_inference_steps=3,
        guidance_scale=7.0,
        width=W,
        height=H,
        generator=[torch.Generator("cpu").manual_seed(4)],
        controlnet_conditioning_scale=unit.weight,
        control_guidance_start=unit.guidance_start,
        control_guidance_end=unit.guidance_end,
        guess_mode=unit.control_mode is ControlMode.controlnet,
        **{key: cmap},
        **call,
    ).images[0]
    return np.asarray(image).astype(np.int16)


def test_txt2img_with_a_canny_unit_matches_diffusers_controlnet_pipeline(webui: Path) -> None:
    library = ModelLibrary(Settings(model_roots=[str(webui)]))
    engine = Engine(library, device="cpu")
    unit = ControlUnit(
        InputImage.from_pil(_reference()), "canny", weight=0.8, guidance_end=0.9, processor_res=64
    )
    base = Request(prompt="a box", steps=3, width=W, height=H, seed=4, sampler="Euler")
    result = engine.run(base.replace(controls=(unit,)))
    ours = np.asarray(result.images[0].image).astype(np.int16)
    plain = np.asarray(engine.run(base).images[0].image).astype(np.int16)
    assert np.abs(ours - _diffusers(webui, unit, Mode.txt2img)).max() <= 1
    assert np.abs(ours - plain).max() > 8  # the unit steers the picture

    # the same unit named by a prompt tag (the tag never reaches the text encoder) and in guess mode
    path = webui / "box.png"
    _reference().save(path)
    tagged = engine.run(base.replace(prompt=f"a box {{image:{path}:0.8:canny}}"))
    assert tagged.images[0].request.prompt.endswith(":canny}")
    from_tag = ControlUnit(InputImage.from_file(path), "canny", weight=0.8)  # defaults: processor_res 512
    tag_image = np.asarray(tagged.images[0].image).astype(np.int16)
    assert np.abs(tag_image - _diffusers(webui, from_tag, Mode.txt2img)).max() <= 1
    line = infotext(result.images[0], result)
    assert 'ControlNet 0: "Module: canny, Model: tiny_sd15_canny' in line and "Weight: 0.8" in line


def test_img2img_and_inpaint_match_diffusers(webui: Path) -> None:
    library = ModelLibrary(Settings(model_roots=[str(webui)]))
    engine = Engine(library, device="cpu")
    unit = ControlUnit(InputImage.from_pil(_reference()), "canny", processor_res=64)
    init = Image.new("RGB", (W, H), (120, 60, 30))
    mask = Image.new("L", (W, H), 0)
    ImageDraw.Draw(mask).rectangle((16, 16, 48, 48), fill=255)
    base = Request(prompt="a box", steps=3, width=W, height=H, seed=4, sampler="Euler", controls=(unit,))
    img2img = base.replace(mode=Mode.img2img, init_image=InputImage.from_pil(init), strength=0.7)
    ours = np.asarray(engine.run(img2img).images[0].image).astype(np.int16)
    assert np.abs(ours - _diffusers(webui, unit, Mode.img2img, image=init, strength=0.7)).max() <= 1

    # inpaint (whole picture; the engine pastes the unmasked area back, as A1111 does)
    inpaint = img2img.replace(mode=Mode.inpaint, mask=InputImage.from_pil(mask), mask_blur=0, strength=1.0)
    ours = np.asarray(engine.run(inpaint).images[0].image).astype(np.int16)
    theirs = _diffusers(webui, unit, Mode.inpaint, image=init, mask_image=mask, strength=1.0)
    inside = np.asarray(mask) > 127
    assert np.abs(ours - theirs)[inside].max() <= 1
    assert np.array_equal(ours[~inside], np.asarray(init).astype(np.int16)[~inside])

    # "ControlNet is more important": diffusers' guess mode
    strong = ControlUnit(unit.image, "canny", processor_res=64, control_mode=ControlMode.controlnet)
    ours = np.asarray(engine.run(base.replace(controls=(strong,))).images[0].image).astype(np.int16)
    assert np.abs(ours - _diffusers(webui, strong, Mode.txt2img)).max() <= 1


def test_missing_models_and_wrong_families_are_one_clear_error(webui: Path) -> None:
    library = ModelLibrary(Settings(model_roots=[str(webui)]))
    engine = Engine(library, device="cpu")
    picture = InputImage.from_pil(_reference())
    base = Request(prompt="a box", steps=1, width=W, height=H, seed=4)
    with pytest.raises(RequestError, match="ControlNet not found: nope .*tiny_sd15_canny"):
        engine.run(base.replace(controls=(ControlUnit(picture, "canny", "nope"),)))
    with pytest.raises(RequestError, match=r"controls\[0\].model: name a ControlNet"):
        engine.run(base.replace(controls=(ControlUnit(picture, "lineart"),)))

    from diffusers import UNet2DConditionModel

    config = UNet2DConditionModel.load_config(str(demo.demo_path() / "unet"))
    xl_like = UNet2DConditionModel.from_config({**config, "cross_attention_dim": 48})
    wrong = webui / "models" / "ControlNet" / "tiny_sd2_canny"
    _tiny_controlnet(xl_like, 2).save_pretrained(str(wrong))
    library.refresh()
    with pytest.raises(ModelError, match="tiny_sd2_canny is for cross-attention 48 but the model"):
        engine.run(base.replace(controls=(ControlUnit(picture, "canny", "tiny_sd2_canny"),)))
