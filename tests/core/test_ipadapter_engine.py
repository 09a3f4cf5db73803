"""IP-Adapter references in the engine: a tiny IP-Adapter and CLIP image encoder, found where A1111 keeps them,
give the same pictures as diffusers' own IP-Adapter loading (`load_ip_adapter` + `ip_adapter_image`) in txt2img,
img2img and inpaint, alone and beside a ControlNet; the UNet is bit-exact again after the job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from sdstudio.core import demo
from sdstudio.core.control import ControlUnit, control_map
from sdstudio.core.control.ipadapter import IpKind
from sdstudio.core.engine import Engine
from sdstudio.core.gallery import infotext
from sdstudio.core.models import ModelLibrary
from sdstudio.core.request import InputImage, Mode, Request
from sdstudio.core.samplers import SAMPLERS
from sdstudio.core.settings import Settings
from tests.core.ipadapter_fixtures import save_adapter, tiny_adapter, tiny_encoder, tiny_plus_adapter
from tests.core.test_control_engine import _tiny_controlnet

W = H = 64
CN = "models/ControlNet"
CLIP = "extensions/sd-webui-controlnet/annotator/downloads/clip_vision"


@pytest.fixture
def webui(tmp_path: Path, demo_home: Path) -> Path:
    """An A1111 root: the adapters in models/ControlNet (as A1111 keeps them), the encoder as its clip_h."""
    from diffusers import UNet2DConditionModel

    root = tmp_path / "stable-diffusion-webui"
    (root / "models" / "Stable-diffusion").mkdir(parents=True)
    unet = UNet2DConditionModel.from_pretrained(str(demo.demo_path() / "unet"))
    save_adapter(tiny_adapter(unet), root / CN / "ip-adapter_tiny.safetensors")
    tiny_encoder(root / CLIP / "clip_h")
    return root


def _reference() -> Image.Image:
    image = Image.new("RGB", (80, 60), "white")
    ImageDraw.Draw(image).ellipse((10, 10, 60, 50), fill=(200, 30, 30))
    return image


def _pixels(result: Any) -> np.ndarray:
    return np.asarray(result.images[0].image).astype(np.int16)


def _diffusers(
    root: Path, adapter: str, mode: Mode, scale: Any, controlnet: Any = None, **call: Any
) -> np.ndarray:
    """diffusers' pipeline for the mode with the adapter loaded by load_ip_adapter and the encoder registered."""
    import diffusers
    from transformers import CLIPVisionModelWithProjection

    encoder = CLIPVisionModelWithProjection.from_pretrained(str(root / CLIP / "clip_h"))
    name = {"txt2img": "", "img2img": "Img2Img", "inpaint": "Inpaint"}[mode.value]
    extra = {"controlnet": controlnet} if controlnet is not None else {}
    cls = getattr(diffusers, f"StableDiffusion{'ControlNet' if controlnet is not None else ''}{name}Pipeline")
    pipe = cls.from_pretrained(str(demo.demo_path()), safety_checker=None, image_encoder=encoder, **extra)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = SAMPLERS["Euler"].build(pipe.scheduler.config)
    pipe.load_ip_adapter(str(root / CN), subfolder="", weight_name=adapter, image_encoder_folder=None)
    pipe.set_ip_adapter_scale(scale)
    image = pipe(
        "a ball", num_inference_steps=3, guidance_scale=7.0, width=W, height=H,
        generator=[torch.Generator("cpu").manual_seed(4)], ip_adapter_image=_reference(), **call,
    ).images[0]  # fmt: skip
    return np.asarray(image).astype(np.int16)


def _unet_state(engine: Engine) -> dict[str, torch.Tensor]:
    unet = engine._loaded.pipe.unet  # type: ignore[union-attr]
    return {k: v.clone() for k, v in unet.state_dict().items()}


def test_reference_matches_diffusers_in_txt2img_img2img_inpaint_and_restores_the_unet(webui: Path) -> None:
    library = ModelLibrary(Settings(model_roots=[str(webui)]))
    engine = Engine(library, device="cpu")
    unit = ControlUnit(
        InputImage.from_pil(_reference()), "ip-adapter_clip_sd15", "ip-adapter_tiny", weight=0.8
    )
    base = Request(prompt="a ball", steps=3, width=W, height=H, seed=4, sampler="Euler")
    plain = _pixels(engine.run(base))
    before = _unet_state(engine)

    # 1. txt2img: diffusers' picture, recorded as the A1111 extension writes it
    result = engine.run(base.replace(controls=(unit,)))
    ours = _pixels(result)
    assert np.abs(ours - _diffusers(webui, "ip-adapter_tiny.safetensors", Mode.txt2img, 0.8)).max() <= 1
    assert np.abs(ours - plain).max() > 8  # the reference steers the picture
    line = infotext(result.images[0], result)
    assert 'ControlNet 0: "Module: ip-adapter_clip_sd15, Model: ip-adapter_tiny [' in line
    assert "Weight: 0.8" in line and "IP Kind" not in line

    # 2. img2img and inpaint (the engine pastes the unmasked area back, as A1111 does)
    init = Image.new("RGB", (W, H), (40, 90, 160))
    img2img = base.replace(
        mode=Mode.img2img, init_image=InputImage.from_pil(init), strength=0.7, controls=(unit,)
    )
    theirs = _diffusers(webui, "ip-adapter_tiny.safetensors", Mode.img2img, 0.8, image=init, strength=0.7)
    assert np.abs(_pixels(engine.run(img2img)) - theirs).max() <= 1
    mask = Image.new("L", (W, H), 0)
    ImageDraw.Draw(mask).rectangle((16, 16, 48, 48), fill=255)
    inpaint = img2img.replace(mode=Mode.inpaint, mask=InputImage.from_pil(mask), mask_blur=0, strength=1.0)
    ours = _pixels(engine.run(inpaint))
    theirs = _diffusers(webui, "ip-adapter_tiny.safetensors", Mode.inpaint, 0.8, image=init, mask_image=mask)
    inside = np.asarray(mask) > 127
    assert np.abs(ours - theirs)[inside].max() <= 1

    # 3. the next job without a reference is bit-identical: processors, projection and weights as before
    assert np.array_equal(_pixels(engine.run(base)), plain)
    unet = engine._loaded.pipe.unet  # type: ignore[union-attr]
    assert unet.encoder_hid_proj is None and unet.config.encoder_hid_dim_type is None
    after = _unet_state(engine)
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)


def test_composition_and_step_range_match_diffusers_layer_scales(webui: Path, tmp_path: Path) -> None:
    """The demo UNet has SD 1.x's mid block (composition's) and no up block 1 (style's): the step range ends
    the reference after two of three steps, as diffusers' scale set to 0 in a step callback does."""
    library = ModelLibrary(Settings(model_roots=[str(webui)]))
    engine = Engine(library, device="cpu")
    path = tmp_path / "ball.png"
    _reference().save(path)
    # the prompt's tag: the library's adapter for the model, its encoder picked by width
    unit = ControlUnit(
        InputImage.from_file(path),
        "ip-adapter-auto",
        weight=0.9,
        guidance_end=0.67,
        ip_kind=IpKind.composition,
    )
    base = Request(prompt="a ball", steps=3, width=W, height=H, seed=4, sampler="Euler")
    result = engine.run(base.replace(controls=(unit,)))
    assert "Module: ip-adapter-auto, Model: ip-adapter_tiny [" in infotext(result.images[0], result)
    assert "Guidance End: 0.67" in infotext(result.images[0], result) and "IP Kind: composition" in infotext(
        result.images[0], result
    )

    def stop(pipe: Any, index: int, timestep: Any, tensors: dict) -> dict:
        if index == 1:
            pipe.set_ip_adapter_scale(0.0)
        return tensors

    theirs = _diffusers(
        webui, "ip-adapter_tiny.safetensors", Mode.txt2img, {"mid": 0.9}, callback_on_step_end=stop
    )
    assert np.abs(_pixels(result) - theirs).max() <= 1
    tagged = engine.run(base.replace(prompt=f"a ball {{image:{path}:0.9:composition}}"))
    full_range = _diffusers(webui, "ip-adapter_tiny.safetensors", Mode.txt2img, {"mid": 0.9})
    assert np.abs(_pixels(tagged) - full_range).max() <= 1
    assert not np.array_equal(_pixels(tagged), _pixels(result))  # the step range mattered


def test_a_plus_adapter_beside_a_controlnet_matches_diffusers(webui: Path) -> None:
    from diffusers import ControlNetModel, UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(str(demo.demo_path() / "unet"))
    save_adapter(tiny_plus_adapter(unet), webui / CN / "ip-adapter-plus_tiny.bin")  # the official .bin layout
    _tiny_controlnet(unet, 1).save_pretrained(str(webui / CN / "tiny_sd15_canny"))
    library = ModelLibrary(Settings(model_roots=[str(webui)]))
    engine = Engine(library, device="cpu")
    ip = ControlUnit(
        InputImage.from_pil(_reference()), "ip-adapter_clip_h", "ip-adapter-plus_tiny", weight=0.7
    )
    box = Image.new("RGB", (W, H), "white")
    ImageDraw.Draw(box).rectangle((12, 12, 50, 50), outline="black", width=3)
    canny = ControlUnit(InputImage.from_pil(box), "canny", "tiny_sd15_canny", weight=0.6, processor_res=64)
    base = Request(prompt="a ball", steps=3, width=W, height=H, seed=4, sampler="Euler")
    result = engine.run(base.replace(controls=(canny, ip)))
    net = ControlNetModel.from_pretrained(str(webui / CN / "tiny_sd15_canny"))
    theirs = _diffusers(
        webui, "ip-adapter-plus_tiny.bin", Mode.txt2img, 0.7, controlnet=net,
        image=control_map(box, canny, (W, H)), controlnet_conditioning_scale=0.6,
    )  # fmt: skip
    assert np.abs(_pixels(result) - theirs).max() <= 1
    line = infotext(result.images[0], result)
    assert (
        'ControlNet 0: "Module: canny' in line
        and 'ControlNet 1: "Module: ip-adapter_clip_h, Model: ip' in line
    )


def test_sdxl_style_acts_on_up_block_0_attention_1_as_diffusers_instantstyle(
    tmp_path: Path, demo_home: Path
) -> None:
    import diffusers
    from transformers import CLIPVisionModelWithProjection

    folder = tmp_path / "tiny-sdxl"
    pipe = demo.tiny_sdxl_pipeline()
    pipe.save_pretrained(str(folder), safe_serialization=True)
    comfy = tmp_path / "ComfyUI"
    (comfy / "models" / "checkpoints").mkdir(parents=True)
    save_adapter(
        tiny_adapter(pipe.unet, seed=5), comfy / "models" / "ipadapter" / "ip-adapter_sdxl_tiny.safetensors"
    )
    encoder = tiny_encoder(comfy / "models" / "clip_vision" / "CLIP-ViT-bigG-tiny")
    engine = Engine(ModelLibrary(Settings(model_roots=[str(comfy)])), device="cpu")
    unit = ControlUnit(
        InputImage.from_pil(_reference()), "ip-adapter_clip_sdxl", weight=0.9, ip_kind=IpKind.style
    )
    base = Request(prompt="a ball", steps=3, width=W, height=H, seed=4, sampler="Euler", model=str(folder))
    ours = _pixels(engine.run(base.replace(controls=(unit,))))

    ref = diffusers.StableDiffusionXLPipeline.from_pretrained(
        str(folder), image_encoder=CLIPVisionModelWithProjection.from_pretrained(str(encoder))
    )
    ref.set_progress_bar_config(disable=True)
    ref.scheduler = SAMPLERS["Euler"].build(ref.scheduler.config)
    ref.load_ip_adapter(
        str(comfy / "models" / "ipadapter"), subfolder="", weight_name="ip-adapter_sdxl_tiny.safetensors",
        image_encoder_folder=None,
    )  # fmt: skip
    ref.set_ip_adapter_scale({"up": {"block_0": [0.0, 0.9]}})  # InstantStyle's style block on this UNet
    theirs = ref(
        "a ball", num_inference_steps=3, guidance_scale=7.0, width=W, height=H,
        generator=[torch.Generator("cpu").manual_seed(4)], ip_adapter_image=_reference(),
    ).images[0]  # fmt: skip
    assert np.abs(ours - np.asarray(theirs).astype(np.int16)).max() <= 1
    assert not np.array_equal(ours, _pixels(engine.run(base)))  # the style layers changed the picture
