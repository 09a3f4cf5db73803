"""Hires fix: A1111's target sizes, both passes run for real, parity with diffusers' two calls."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sdstudio.core import demo
from sdstudio.core.engine import Engine
from sdstudio.core.gallery.metadata import infotext, parse_infotext, request_from_params
from sdstudio.core.hires import hires_plan
from sdstudio.core.request import Mode, Request, RequestError
from sdstudio.core.samplers import SAMPLERS


@pytest.mark.parametrize(
    ("first", "scale", "resize", "size", "truncate"),
    [
        ((512, 512), 2.0, (0, 0), (1024, 1024), (0, 0)),
        ((512, 768), 1.5, (0, 0), (768, 1152), (0, 0)),
        ((520, 512), 1.3, (0, 0), (672, 664), (0, 0)),  # int(676) and int(665.6) floored to the latent grid
        ((512, 768), 2.0, (1024, 0), (1024, 1536), (0, 0)),
        ((512, 768), 2.0, (0, 1024), (680, 1024), (0, 0)),
        ((512, 512), 2.0, (1024, 768), (1024, 768), (0, 32)),  # fit the width, cut the height
        ((512, 512), 2.0, (768, 1024), (768, 1024), (32, 0)),
    ],
)
def test_target_size_as_a1111(first, scale, resize, size, truncate) -> None:
    plan = hires_plan(*first, scale, *resize)
    assert plan.size == size and plan.truncate == truncate


def test_crop_splits_the_cut_between_both_sides() -> None:
    plan = hires_plan(512, 512, 2.0, 1024, 776)  # 31 latent rows cut: 15 on top, 16 at the bottom
    assert plan.truncate == (0, 31) and plan.crop_box() == (0, 15, 128, 128 - 16)
    assert plan.size == (1024, 97 * 8)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"hr_scale": 0.5}, "hr_scale"),
        ({"hr_scale": 80.0}, "hr_scale"),
        ({"hr_second_pass_steps": -1}, "hr_second_pass_steps"),
        ({"strength": 0.01}, "strength"),
        ({"hr_upscaler": ""}, "hr_upscaler"),
    ],
)
def test_bad_hires_fields_are_named(changes: dict, field: str) -> None:
    with pytest.raises(RequestError) as e:
        Request(enable_hr=True, **changes).validate()
    assert e.value.field == field


def test_hires_is_txt2img_only() -> None:
    from PIL import Image

    from sdstudio.core.request import InputImage

    init = InputImage.from_pil(Image.new("RGB", (64, 64)))
    with pytest.raises(RequestError, match="txt2img"):
        Request(mode=Mode.img2img, init_image=init, enable_hr=True).validate()


def test_latent_hires_matches_two_diffusers_calls(cpu_engine: Engine, demo_home: Path) -> None:
    import diffusers

    req = Request(
        prompt="a cat",
        steps=3,
        width=64,
        height=64,
        seed=9,
        sampler="Euler",
        enable_hr=True,
        hr_scale=2.0,
        hr_upscaler="Latent",
        hr_second_pass_steps=4,
        strength=0.5,
    )
    phases: list[tuple[str, int, int]] = []
    result = cpu_engine.run(req, on_step=lambda p: phases.append((p.phase, p.step, p.total)))
    image = result.images[0].image
    assert image.size == (128, 128)
    assert [p for p in phases if p[0] == "sampling"] == [("sampling", i, 3) for i in (1, 2, 3)]
    assert [p for p in phases if p[0] == "hires"] == [("hires", i, 2) for i in (1, 2)]  # int(4 * 0.5)

    base = diffusers.StableDiffusionPipeline.from_pretrained(str(demo.demo_path()), safety_checker=None)
    base.set_progress_bar_config(disable=True)
    base.scheduler = SAMPLERS["Euler"].build(base.scheduler.config)
    latents = base(
        "a cat",
        num_inference_steps=3,
        width=64,
        height=64,
        output_type="latent",
        generator=[torch.Generator().manual_seed(9)],
    ).images
    latents = torch.nn.functional.interpolate(latents, size=(16, 16), mode="bilinear", antialias=False)
    img2img = diffusers.StableDiffusionImg2ImgPipeline.from_pipe(base)
    ref = img2img(
        "a cat",
        image=latents,
        strength=0.5,
        num_inference_steps=4,
        generator=[torch.Generator().manual_seed(9)],
    ).images[0]
    assert np.abs(np.asarray(image, np.int16) - np.asarray(ref, np.int16)).max() <= 2

    text = infotext(result.images[0], result)
    assert (
        "Denoising strength: 0.5" in text
        and "Hires upscale: 2, Hires steps: 4, Hires upscaler: Latent" in text
    )
    back = request_from_params(parse_infotext(text))
    assert (back.enable_hr, back.hr_scale, back.hr_second_pass_steps, back.hr_upscaler, back.strength) == (
        True,
        2.0,
        4,
        "Latent",
        0.5,
    )


def test_picture_upscaler_hires_with_resize(cpu_engine: Engine) -> None:
    req = Request(
        prompt="a dog",
        steps=2,
        width=64,
        height=64,
        seed=1,
        enable_hr=True,
        hr_resize_x=128,
        hr_resize_y=96,
        hr_upscaler="Lanczos",
        strength=0.6,
    )
    result = cpu_engine.run(req)
    assert result.images[0].image.size == (128, 96)
    assert "Hires resize: 128x96" in infotext(result.images[0], result)


def test_unknown_upscaler_is_a_clear_error(cpu_engine: Engine) -> None:
    req = Request(prompt="x", steps=2, width=64, height=64, enable_hr=True, hr_upscaler="4x-Missing")
    with pytest.raises(RequestError, match="unknown upscaler '4x-Missing'; known: None, Lanczos, Nearest"):
        cpu_engine.run(req)


def test_hires_with_variation_draws_a1111_noise_again_at_the_hires_size(
    cpu_engine: Engine, demo_home: Path
) -> None:
    import diffusers

    from tests.core.test_variation import a1111_first

    req = Request(
        prompt="a cat", steps=3, width=64, height=64, seed=9, subseed=4, subseed_strength=0.3, sampler="Euler",
        enable_hr=True, hr_scale=2.0, hr_second_pass_steps=4, strength=0.5,
    )  # fmt: skip
    image = cpu_engine.run(req).images[0].image

    base = diffusers.StableDiffusionPipeline.from_pretrained(str(demo.demo_path()), safety_checker=None)
    base.set_progress_bar_config(disable=True)
    base.scheduler = SAMPLERS["Euler"].build(base.scheduler.config)
    first = a1111_first((4, 8, 8), [9], [4], 0.3, 0, 0)
    latents = base(
        "a cat", num_inference_steps=3, width=64, height=64, output_type="latent", latents=first
    ).images
    latents = torch.nn.functional.interpolate(latents, size=(16, 16), mode="bilinear", antialias=False)
    img2img = diffusers.StableDiffusionImg2ImgPipeline.from_pipe(base)
    second = a1111_first((4, 16, 16), [9], [4], 0.3, 0, 0)
    add_noise = type(img2img.scheduler).add_noise
    img2img.scheduler.add_noise = lambda original, _noise, t: add_noise(
        img2img.scheduler, original, second, t
    )
    ref = img2img(
        "a cat",
        image=latents,
        strength=0.5,
        num_inference_steps=4,
        generator=[torch.Generator().manual_seed(9)],
    ).images[0]
    diff = np.abs(np.asarray(image, np.int16) - np.asarray(ref, np.int16))
    assert diff.max() <= 4 and diff.mean() < 0.5
