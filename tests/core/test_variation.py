"""Variation seeds equal A1111's formula (re-implemented here from its published rng.py) and run for real."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sdstudio.core import demo
from sdstudio.core.engine import Engine
from sdstudio.core.gallery.metadata import infotext, parse_infotext, request_from_params
from sdstudio.core.request import GeneratedImage, Request, RequestError, Result
from sdstudio.core.samplers import SAMPLERS
from sdstudio.core.variation import NoiseSeeds, batch_noise, batch_seeds

W = H = 64


# -- A1111's published code, written out as it stands (modules/rng.py, CPU RNG) -------------------------
def a1111_randn(seed, shape):
    torch.manual_seed(seed)
    return torch.randn(shape, device="cpu")


def a1111_slerp(val, low, high):
    low_norm = low / torch.norm(low, dim=1, keepdim=True)
    high_norm = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_norm * high_norm).sum(1)
    if dot.mean() > 0.9995:
        return low * val + high * (1 - val)
    omega = torch.acos(dot)
    so = torch.sin(omega)
    return (torch.sin((1.0 - val) * omega) / so).unsqueeze(1) * low + (torch.sin(val * omega) / so).unsqueeze(
        1
    ) * high


def a1111_first(shape, seeds, subseeds, subseed_strength, seed_resize_from_h, seed_resize_from_w):
    noise_shape = (
        shape
        if seed_resize_from_h <= 0 or seed_resize_from_w <= 0
        else (shape[0], seed_resize_from_h // 8, seed_resize_from_w // 8)
    )
    xs = []
    for i, seed in enumerate(seeds):
        subnoise = None
        if subseeds is not None and subseed_strength != 0:
            subseed = 0 if i >= len(subseeds) else subseeds[i]
            subnoise = a1111_randn(subseed, noise_shape)
        noise = a1111_randn(seed, noise_shape)
        if subnoise is not None:
            noise = a1111_slerp(subseed_strength, noise, subnoise)
        if noise_shape != shape:
            x = a1111_randn(seed, shape)
            dx = (shape[2] - noise_shape[2]) // 2
            dy = (shape[1] - noise_shape[1]) // 2
            w = noise_shape[2] if dx >= 0 else noise_shape[2] + 2 * dx
            h = noise_shape[1] if dy >= 0 else noise_shape[1] + 2 * dy
            tx = 0 if dx < 0 else dx
            ty = 0 if dy < 0 else dy
            dx = max(-dx, 0)
            dy = max(-dy, 0)
            x[:, ty : ty + h, tx : tx + w] = noise[:, dy : dy + h, dx : dx + w]
            noise = x
        xs.append(noise)
    return torch.stack(xs)


def a1111_all_seeds(seed, subseed, subseed_strength, n):
    return [int(seed) + (x if subseed_strength == 0 else 0) for x in range(n)], [
        int(subseed) + x for x in range(n)
    ]


# -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("strength", "resize"),
    [(0.0, (0, 0)), (0.3, (0, 0)), (1.0, (0, 0)), (0.5, (48, 80)), (0.25, (128, 32)), (0.0, (96, 96))],
)
def test_noise_equals_a1111_formula(strength: float, resize: tuple[int, int]) -> None:
    shape = (4, 8, 10)
    seeds, subseeds = batch_seeds(1234, 99, strength, 0, 3)
    assert (seeds, subseeds) == tuple(a1111_all_seeds(1234, 99, strength, 3))
    ours = batch_noise(shape, NoiseSeeds(tuple(seeds), tuple(subseeds), strength, resize))
    theirs = a1111_first(shape, seeds, subseeds, strength, resize[1], resize[0])
    assert torch.equal(ours, theirs)


def test_plain_noise_is_what_diffusers_draws_from_the_seed() -> None:
    from diffusers.utils.torch_utils import randn_tensor

    seeds = NoiseSeeds((5, 6), (0, 1))
    assert seeds.plain
    ours = batch_noise((4, 8, 8), seeds)
    theirs = randn_tensor((2, 4, 8, 8), generator=[torch.Generator("cpu").manual_seed(s) for s in (5, 6)])
    assert torch.equal(ours, theirs)


def test_later_batches_count_on() -> None:
    assert batch_seeds(10, 20, 0.0, 4, 2) == ([14, 15], [24, 25])
    assert batch_seeds(10, 20, 0.5, 4, 2) == ([10, 10], [24, 25])
    assert batch_seeds(2**32 - 1, 0, 0.0, 1, 1) == ([2**32], [1])  # A1111 counts on past 32 bits
    assert batch_seeds(2**64 - 1, 0, 0.0, 1, 1) == ([0], [1])  # and torch's generator wraps at 64


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"subseed_strength": 1.5}, "subseed_strength"),
        ({"subseed": -2}, "subseed"),
        ({"seed_resize_from_w": 32}, "seed_resize_from_w"),
    ],
)
def test_bad_variation_fields_are_named(changes: dict, field: str) -> None:
    with pytest.raises(RequestError) as e:
        Request(**changes).validate()
    assert e.value.field == field


def test_engine_variation_matches_diffusers_with_a1111_noise(cpu_engine: Engine, demo_home: Path) -> None:
    import diffusers

    req = Request(
        prompt="a cat",
        steps=3,
        width=W,
        height=H,
        seed=77,
        subseed=5,
        subseed_strength=0.4,
        batch_size=2,
        sampler="Euler",
    )
    result = cpu_engine.run(req)
    assert [g.seed for g in result.images] == [77, 77]
    assert [g.request.subseed for g in result.images] == [5, 6]

    pipe = diffusers.StableDiffusionPipeline.from_pretrained(str(demo.demo_path()), safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = SAMPLERS["Euler"].build(pipe.scheduler.config)
    latents = a1111_first((4, H // 8, W // 8), [77, 77], [5, 6], 0.4, 0, 0)
    ref = pipe("a cat", num_inference_steps=3, width=W, height=H, latents=latents, num_images_per_prompt=2)
    for got, want in zip(result.images, ref.images, strict=True):
        diff = np.abs(np.asarray(got.image, np.int16) - np.asarray(want, np.int16))
        assert diff.max() <= 2, diff.max()

    # each picture alone reproduces itself (its own subseed recorded)
    again = cpu_engine.run(result.images[1].request)
    assert np.array_equal(np.asarray(again.images[0].image), np.asarray(result.images[1].image))


def test_infotext_round_trip(cpu_engine: Engine) -> None:
    req = Request(
        prompt="x", seed=3, subseed=42, subseed_strength=0.35, seed_resize_from_w=512, seed_resize_from_h=768
    )
    gen = GeneratedImage(None, 3, req)
    text = infotext(gen, Result(req, (gen,)))
    assert "Variation seed: 42, Variation seed strength: 0.35, Seed resize from: 512x768" in text
    back = request_from_params(parse_infotext(text))
    assert (back.subseed, back.subseed_strength, back.seed_resize_from_w, back.seed_resize_from_h) == (
        42,
        0.35,
        512,
        768,
    )
    plain = infotext(GeneratedImage(None, 3, Request(seed=3)), Result(req, ()))
    assert "Variation" not in plain and "Seed resize" not in plain


def test_img2img_variation_matches_diffusers_with_a1111_noise_added(
    cpu_engine: Engine, demo_home: Path
) -> None:
    import diffusers
    from PIL import Image

    from sdstudio.core.request import InputImage, Mode

    picture = Image.new("RGB", (W, H), (180, 90, 30))
    req = Request(
        prompt="a cat", mode=Mode.img2img, init_image=InputImage.from_pil(picture), steps=4, strength=0.5,
        width=W, height=H, seed=1, subseed=2, subseed_strength=0.3, sampler="Euler",
    )  # fmt: skip
    ours = cpu_engine.run(req).images[0].image

    pipe = diffusers.StableDiffusionImg2ImgPipeline.from_pretrained(
        str(demo.demo_path()), safety_checker=None
    )
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = SAMPLERS["Euler"].build(pipe.scheduler.config)
    noise = a1111_first((4, H // 8, W // 8), [1], [2], 0.3, 0, 0)
    add_noise = type(pipe.scheduler).add_noise
    pipe.scheduler.add_noise = lambda original, _noise, t: add_noise(pipe.scheduler, original, noise, t)
    ref = pipe(
        "a cat",
        image=picture,
        strength=0.5,
        num_inference_steps=4,
        generator=[torch.Generator().manual_seed(1)],
    )
    diff = np.abs(np.asarray(ours, np.int16) - np.asarray(ref.images[0], np.int16))
    assert diff.max() <= 4 and diff.mean() < 0.5  # float noise of the random-weight model
    plain = cpu_engine.run(req.replace(subseed_strength=0.0)).images[0].image
    assert np.abs(np.asarray(plain, np.int16) - np.asarray(ref.images[0], np.int16)).mean() > 2
