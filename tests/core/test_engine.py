"""The engine runs the real pipeline on the tiny demo model and matches plain diffusers."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter

from sdstudio.core import demo
from sdstudio.core.engine import Engine
from sdstudio.core.errors import Cancelled, ModelError, OutOfMemory
from sdstudio.core.inpaint import crop_box, prepare_mask
from sdstudio.core.models import ModelLibrary
from sdstudio.core.request import InpaintArea, InputImage, Mode, Request
from sdstudio.core.samplers import SAMPLERS
from sdstudio.core.settings import Settings

W = H = 64


@pytest.fixture(scope="module")
def engine(cpu_engine: Engine) -> Engine:
    return cpu_engine


def _plain(cls_name: str, inpaint_model: bool = False):
    import diffusers

    pipe = getattr(diffusers, cls_name).from_pretrained(
        str(demo.demo_path(inpaint=inpaint_model)), safety_checker=None
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB")).astype(np.int16)


def _init_image() -> Image.Image:
    img = Image.new("RGB", (W, H), (200, 60, 40))
    ImageDraw.Draw(img).rectangle((10, 10, 40, 50), fill=(20, 160, 220))
    return img


def _mask(size: tuple[int, int] = (W, H), box: tuple[int, int, int, int] = (20, 20, 44, 44)) -> Image.Image:
    m = Image.new("L", size, 0)
    ImageDraw.Draw(m).ellipse(box, fill=255)
    return m


def _gen(seed: int) -> list[torch.Generator]:
    return [torch.Generator("cpu").manual_seed(seed)]


def test_txt2img_matches_plain_diffusers(engine: Engine, demo_home: Path) -> None:
    req = Request(
        prompt="a cat", negative_prompt="blurry", steps=4, width=W, height=H, seed=123, sampler="Euler a"
    )
    ours = engine.run(req).images[0].image
    pipe = _plain("StableDiffusionPipeline")
    pipe.scheduler = SAMPLERS["Euler a"].build(pipe.scheduler.config)
    ref = pipe(
        "a cat",
        negative_prompt="blurry",
        num_inference_steps=4,
        guidance_scale=7.0,
        width=W,
        height=H,
        generator=_gen(123),
    ).images[0]
    assert np.abs(_arr(ours) - _arr(ref)).max() <= 1


def test_img2img_matches_plain_diffusers(engine: Engine, demo_home: Path) -> None:
    init = _init_image()
    req = Request(
        prompt="a dog",
        mode=Mode.img2img,
        init_image=InputImage.from_pil(init),
        strength=0.6,
        steps=5,
        width=W,
        height=H,
        seed=7,
        sampler="DPM++ 2M Karras",
    )
    ours = engine.run(req).images[0].image
    pipe = _plain("StableDiffusionImg2ImgPipeline")
    pipe.scheduler = SAMPLERS["DPM++ 2M Karras"].build(pipe.scheduler.config)
    ref = pipe(
        "a dog", image=init, strength=0.6, num_inference_steps=5, guidance_scale=7.0, generator=_gen(7)
    ).images[0]
    assert np.abs(_arr(ours) - _arr(ref)).max() <= 1


@pytest.mark.parametrize("model", ["demo", "demo-inpaint"])
def test_inpaint_matches_plain_diffusers(engine: Engine, demo_home: Path, model: str) -> None:
    init, mask = _init_image(), _mask()
    req = Request(
        prompt="a hand",
        mode=Mode.inpaint,
        init_image=InputImage.from_pil(init),
        mask=InputImage.from_pil(mask),
        mask_blur=3,
        strength=0.9,
        steps=4,
        width=W,
        height=H,
        seed=5,
        sampler="Euler",
        model=model,
    )
    ours = engine.run(req).images[0].image
    pipe = _plain("StableDiffusionInpaintPipeline", inpaint_model=model == "demo-inpaint")
    pipe.scheduler = SAMPLERS["Euler"].build(pipe.scheduler.config)
    blurred = mask.filter(ImageFilter.GaussianBlur(3))
    raw = pipe(
        "a hand",
        image=init,
        mask_image=blurred,
        strength=0.9,
        num_inference_steps=4,
        guidance_scale=7.0,
        width=W,
        height=H,
        generator=_gen(5),
    ).images[0]
    ref = Image.composite(raw, init, blurred)  # A1111's overlay: unmasked pixels are the original's
    assert np.abs(_arr(ours) - _arr(ref)).max() <= 1
    outside = np.asarray(blurred) == 0
    assert (np.asarray(ours)[outside] == np.asarray(init)[outside]).all()


def test_same_request_gives_identical_bytes(engine: Engine) -> None:
    req = Request(prompt="same", steps=3, width=W, height=H, seed=99, sampler="DPM++ 2M SDE Karras")
    a, b = engine.run(req).images[0].image, engine.run(req).images[0].image
    assert a.tobytes() == b.tobytes()


def test_random_seed_is_resolved_and_batch_images_reproduce_alone(engine: Engine) -> None:
    res = engine.run(
        Request(prompt="batch", steps=3, width=W, height=H, seed=-1, batch_size=2, batch_count=2)
    )
    seeds = [g.seed for g in res.images]
    assert res.request.seed == seeds[0] >= 0 and seeds == [seeds[0] + i for i in range(4)]
    third = res.images[2]
    assert third.request.seed == seeds[2] and third.request.batch_size == third.request.batch_count == 1
    alone = engine.run(third.request).images[0].image
    assert np.abs(_arr(alone) - _arr(third.image)).max() <= 1


@pytest.mark.parametrize("k", [1, 3])
def test_cancel_at_step_k_stops_before_next_and_yields_nothing(engine: Engine, k: int) -> None:
    cancel, seen = threading.Event(), []

    def on_step(p) -> None:
        seen.append(p.step)
        if p.step == k:
            cancel.set()

    with pytest.raises(Cancelled):
        engine.run(Request(prompt="stop", steps=6, width=W, height=H, seed=1), on_step=on_step, cancel=cancel)
    assert seen == list(range(1, k + 1))


def test_cancel_while_the_model_loads_runs_no_step(demo_home: Path) -> None:
    cancel, seen = threading.Event(), []

    class PressCancelDuringLoad(Engine):  # the user presses Esc while the (real) model loads
        def _load(self, ref: str, *args: object):
            loaded = super()._load(ref, *args)
            cancel.set()
            return loaded

    eng = PressCancelDuringLoad(ModelLibrary(Settings.load()), device="cpu")
    with pytest.raises(Cancelled):
        eng.run(
            Request(prompt="stop", steps=6, width=W, height=H, seed=1), on_step=seen.append, cancel=cancel
        )
    assert seen == []
    assert len(eng.run(Request(prompt="next", steps=1, width=W, height=H, seed=1)).images) == 1
    eng.close()


def test_progress_reports_every_step_with_previews_at_most_ten_a_second(engine: Engine) -> None:
    seen = []
    engine.run(Request(prompt="p", steps=4, width=W, height=H, seed=1), on_step=seen.append)
    assert [p.step for p in seen] == [1, 2, 3, 4] and all(p.total == 4 for p in seen)
    shown = [p.preview for p in seen if p.preview is not None]
    assert seen[0].preview is not None and all(im.size == (W // 8, H // 8) for im in shown)
    assert len(shown) <= 1 + seen[-1].elapsed * 10 and all(p.preview_box is None for p in seen)
    assert seen[-1].eta == 0 and seen[0].elapsed > 0


def test_only_masked_leaves_pixels_outside_padded_box_identical(engine: Engine) -> None:
    init = Image.new("RGB", (160, 128), (30, 90, 150))
    ImageDraw.Draw(init).line((0, 0, 160, 128), fill=(250, 250, 0), width=5)
    mask = _mask((160, 128), (100, 70, 124, 94))
    req = Request(
        prompt="fix",
        mode=Mode.inpaint,
        init_image=InputImage.from_pil(init),
        mask=InputImage.from_pil(mask),
        inpaint_area=InpaintArea.only_masked,
        inpaint_padding=8,
        mask_blur=2,
        steps=3,
        width=W,
        height=H,
        seed=3,
    )
    seen = []
    out = engine.run(req, on_step=seen.append).images[0].image
    assert out.size == init.size
    box = crop_box(prepare_mask(mask, 2), 8, W, H)
    assert box is not None and all(v % 8 == 0 for v in box)
    assert seen and all(p.preview_box == tuple(box) for p in seen)  # the preview belongs over the box
    a, b = np.asarray(out), np.asarray(init)
    outside = np.ones(a.shape[:2], bool)
    outside[box[1] : box[3], box[0] : box[2]] = False
    assert (a[outside] == b[outside]).all()
    assert (a[~outside] != b[~outside]).any()  # something was repainted inside


def _raise(error: BaseException) -> None:
    raise error


def _real_cpu_allocation_failure() -> None:
    torch.empty(2**46, dtype=torch.uint8)  # 64 TiB: the CPU allocator really refuses


@pytest.mark.parametrize(
    "fail",
    [
        lambda: (_ for _ in ()).throw(
            torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        ),
        lambda: _raise(RuntimeError("MPS backend out of memory (MPS allocated: 17.2 GB)")),
        lambda: _raise(MemoryError()),
        _real_cpu_allocation_failure,
    ],
    ids=["cuda", "mps", "python", "cpu-real"],
)
def test_oom_is_reported_with_advice_and_engine_stays_usable(engine: Engine, fail) -> None:
    def boom(p) -> None:
        if p.step == 2:
            fail()

    with pytest.raises(OutOfMemory, match="smaller size"):
        engine.run(Request(prompt="big", steps=3, width=W, height=H, seed=1), on_step=boom)
    assert len(engine.run(Request(prompt="after", steps=2, width=W, height=H, seed=1)).images) == 1


def test_missing_model_is_a_clear_error_and_engine_recovers(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        engine.run(Request(prompt="x", steps=1, width=W, height=H, model=str(tmp_path / "nope.safetensors")))
    assert engine.run(Request(prompt="x", steps=1, width=W, height=H, seed=1)).images


def test_modes_share_weights_through_from_pipe(engine: Engine) -> None:
    init = InputImage.from_pil(_init_image())
    engine.run(Request(prompt="a", mode=Mode.img2img, init_image=init, steps=2, width=W, height=H, seed=1))
    mask = InputImage.from_pil(_mask())
    engine.run(
        Request(prompt="a", mode=Mode.inpaint, init_image=init, mask=mask, steps=2, width=W, height=H, seed=1)
    )
    base = engine._loaded.pipe
    for kind in ("img2img", "inpaint"):
        derived = engine._loaded.derived[kind]
        assert derived is not base and derived.unet is base.unet and derived.vae is base.vae
        assert derived.text_encoder is base.text_encoder


def test_vae_tiling_option_is_applied(demo_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDSTUDIO_HOME", str(demo_home))
    eng = Engine(ModelLibrary(Settings.load()), device="cpu", vae_tiling=True)
    assert eng.run(Request(prompt="t", steps=1, width=W, height=H, seed=1)).images
    assert eng._loaded.pipe.vae.use_tiling
