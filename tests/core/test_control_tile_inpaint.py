"""The tile and inpaint kinds: `tile_resample` down-samples by threshold_a as A1111's, `inpaint_only` hands the
ControlNet the picture with its masked pixels at -1 (A1111's inpaint protocol, diffusers' make_inpaint_condition)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from sdstudio.core import demo
from sdstudio.core.control import ControlUnit, parse_image_tags, preprocess, units_from_tags
from sdstudio.core.control.inject import to_tensor
from sdstudio.core.control.maps import control_map_for
from sdstudio.core.control.preprocess import control_map
from sdstudio.core.control.unit import MODULE_DEFAULTS
from sdstudio.core.engine import Engine
from sdstudio.core.models import ModelLibrary
from sdstudio.core.request import InputImage, Mode, Request, RequestError
from sdstudio.core.samplers import SAMPLERS
from sdstudio.core.settings import Settings
from tests.core.test_control_engine import _tiny_controlnet


def _photo(size: tuple[int, int] = (96, 64)) -> Image.Image:
    rng = np.random.default_rng(3)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


@pytest.mark.parametrize(
    ("rate", "size"), [(1.0, (96, 64)), (1.05, (96, 64)), (2.0, (48, 32)), (3.0, (32, 21)), (8.0, (12, 8))]
)
def test_tile_resample_downsamples_by_threshold_a_with_area_interpolation(
    rate: float, size: tuple[int, int]
) -> None:
    photo = _photo()
    unit = ControlUnit(module="tile_resample", threshold_a=rate, processor_res=64)  # res is not used
    out = preprocess(photo, unit, (512, 512))
    assert out.size == size
    expected = (
        np.asarray(photo) if rate < 1.1 else cv2.resize(np.asarray(photo), size, interpolation=cv2.INTER_AREA)
    )
    assert np.array_equal(np.asarray(out), expected)
    assert control_map(photo, unit, (64, 64)).size == (64, 64)


@pytest.mark.parametrize("module", ["inpaint_only", "inpaint_global_harmonious"])
def test_inpaint_maps_carry_the_mask_and_the_control_net_sees_minus_one_there(module: str) -> None:
    photo = _photo((64, 64))
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((10, 20, 40, 50), fill=200)
    rgba = photo.copy()
    rgba.putalpha(mask)
    unit = ControlUnit(module=module, processor_res=512)
    out = preprocess(rgba, unit, (64, 64))
    assert out.mode == "RGBA" and out.size == (64, 64)  # at the picture's own size
    inside = np.asarray(mask) > 127
    assert np.array_equal(np.asarray(out)[..., 3] == 255, inside)

    tensor = to_tensor(out)[0].numpy()
    expected = np.asarray(photo, dtype=np.float32).transpose(2, 0, 1) / 255.0
    expected[:, inside] = -1.0
    assert np.array_equal(tensor, expected)
    # a picture with no mask: nothing is repainted; a half-size mask is fitted with the picture
    assert (to_tensor(preprocess(photo, unit, (64, 64))) >= 0).all()
    fitted = control_map(out, unit, (32, 32))
    assert fitted.mode == "RGBA" and set(np.unique(np.asarray(fitted)[..., 3])) <= {0, 255}

    # what the window and /controlnet/detect show: RGB, the repainted pixels black
    with_mask = ControlUnit(InputImage.from_pil(photo), module, mask=InputImage.from_pil(mask))
    preview = np.asarray(control_map_for(with_mask, (64, 64), ModelLibrary(Settings()), "cpu"))
    assert preview.shape == (64, 64, 3)
    assert (preview[inside] == 0).all() and np.array_equal(preview[~inside], np.asarray(photo)[~inside])


def test_tile_and_inpaint_kinds_in_prompt_tags(tmp_path: Path) -> None:
    path = tmp_path / "ref.png"
    _photo().save(path)
    _, tags = parse_image_tags(f"a room {{image:{path}:0.7:tile}} {{image:{path}:inpaint}}")
    tile, inpaint = units_from_tags(tags, [])
    assert (tile.module, tile.weight, tile.threshold_a) == ("tile_resample", 0.7, 1.0)
    assert MODULE_DEFAULTS["tile_resample"] == {"threshold_a": 1.0}
    assert inpaint.module == "inpaint_only"
    with pytest.raises(RequestError, match="inpaint_only repaints a masked area"):
        Engine(ModelLibrary(Settings()), device="cpu").run(Request(prompt="x", steps=1, controls=(inpaint,)))


def test_inpaint_units_take_the_jobs_mask_as_make_inpaint_condition_and_keep_their_picture_unmasked(
    tmp_path: Path, demo_home: Path
) -> None:
    import diffusers
    from diffusers import UNet2DConditionModel

    root = tmp_path / "webui"
    (root / "models" / "Stable-diffusion").mkdir(parents=True)
    unet = UNet2DConditionModel.from_pretrained(str(demo.demo_path() / "unet"))
    net = _tiny_controlnet(unet, 3)
    net.save_pretrained(str(root / "models" / "ControlNet" / "control_tiny_inpaint"))
    photo, init = _photo((64, 64)), Image.new("RGB", (64, 64), (120, 60, 30))
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((16, 16, 48, 48), fill=255)

    engine = Engine(ModelLibrary(Settings(model_roots=[str(root)])), device="cpu")
    request = Request(
        prompt="a box", steps=3, width=64, height=64, seed=4, sampler="Euler", mode=Mode.inpaint,
        init_image=InputImage.from_pil(init), mask=InputImage.from_pil(mask), mask_blur=0, strength=1.0,
        controls=(ControlUnit(InputImage.from_pil(photo), "inpaint_only"),),  # model: named like the module
    )  # fmt: skip
    ours = np.asarray(engine.run(request).images[0].image).astype(np.int16)

    condition = np.asarray(photo, dtype=np.float32) / 255.0
    condition[np.asarray(mask) > 127] = -1.0  # diffusers' make_inpaint_condition
    pipe = diffusers.StableDiffusionControlNetInpaintPipeline.from_pretrained(
        str(demo.demo_path()), controlnet=net, safety_checker=None
    )
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = SAMPLERS["Euler"].build(pipe.scheduler.config)
    theirs = pipe(
        "a box", image=init, mask_image=mask, strength=1.0, num_inference_steps=3, guidance_scale=7.0,
        control_image=torch.from_numpy(condition).permute(2, 0, 1)[None], width=64, height=64,
        controlnet_conditioning_scale=1.0,  # the inpaint pipeline defaults to 0.5
        generator=[torch.Generator("cpu").manual_seed(4)],
    ).images[0]  # fmt: skip
    inside = np.asarray(mask) > 127
    assert np.abs(ours - np.asarray(theirs).astype(np.int16))[inside].max() <= 1

    # 2. txt2img with the unit's own mask (A1111's outpainting recipe): its picture is kept outside the mask,
    # dilated and blurred by 7 pixels, as the extension's inpaint_only post-processing
    own = ControlUnit(InputImage.from_pil(photo), "inpaint_only", mask=InputImage.from_pil(mask))
    txt2img = Request(prompt="a box", steps=2, width=64, height=64, seed=4, sampler="Euler", controls=(own,))
    made = np.asarray(engine.run(txt2img).images[0].image).astype(np.int16)
    far = cv2.dilate(np.asarray(mask), np.ones((15, 15), np.uint8)) == 0
    assert np.abs(made - np.asarray(photo).astype(np.int16))[far].max() <= 1
    assert np.abs(made - np.asarray(photo).astype(np.int16))[inside].mean() > 20
