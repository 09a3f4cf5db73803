"""Engine extension hooks on the real demo pipeline: order, what each hook may change, and clean unwinding."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from sdstudio.core.engine import BatchContext, Engine, Extension, RunContext, StepState, UNetCall
from sdstudio.core.errors import Cancelled, EngineError
from sdstudio.core.models import ModelLibrary
from sdstudio.core.request import InputImage, Mode, Request
from sdstudio.core.settings import Settings

W = H = 64


@pytest.fixture(scope="module")
def engine(cpu_engine: Engine) -> Engine:
    return cpu_engine


def _req(**kw: Any) -> Request:
    return Request(**{"prompt": "a cat", "steps": 3, "width": W, "height": H, "seed": 11, **kw})


def _arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB")).astype(np.int16)


def _init() -> InputImage:
    img = Image.new("RGB", (W, H), (200, 60, 40))
    ImageDraw.Draw(img).rectangle((10, 10, 40, 50), fill=(20, 160, 220))
    return InputImage.from_pil(img)


class Recorder(Extension):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def pipeline_prepared(self, ctx: RunContext) -> None:
        self.calls.append("pipeline_prepared")

    def before_encode(self, ctx: RunContext) -> None:
        assert ctx.conditioning is None
        self.calls.append("before_encode")

    def before_batch(self, ctx: RunContext, batch: BatchContext) -> None:
        assert ctx.conditioning is not None
        self.calls.append(f"before_batch {batch.index}/{batch.count} {batch.seeds}")

    def pre_unet(self, ctx: RunContext, call: UNetCall) -> None:
        self.calls.append(f"pre_unet {call.index} {tuple(call.sample.shape)}")

    def post_step(self, ctx: RunContext, step: StepState) -> None:
        self.calls.append(f"post_step {step.step}/{step.total}")

    def after_decode(self, ctx: RunContext, batch: BatchContext, images: list[Any]) -> list[Any]:
        self.calls.append(f"after_decode {len(images)}")
        return images

    def after_run(self, ctx: RunContext) -> None:
        self.calls.append("after_run")


def test_hooks_run_in_documented_order_and_change_nothing_by_themselves(engine: Engine) -> None:
    req = _req(batch_count=2)
    plain = engine.run(req)
    rec = Recorder()
    hooked = engine.run(req, extensions=[rec])
    steps = [
        f"pre_unet {i} (2, 4, 8, 8)" if j == 0 else f"post_step {i + 1}/3" for i in range(3) for j in (0, 1)
    ]
    assert rec.calls == [
        "pipeline_prepared",
        "before_encode",
        "before_batch 0/2 [11]",
        *steps,
        "after_decode 1",
        "before_batch 1/2 [12]",
        *steps,
        "after_decode 1",
        "after_run",
    ]
    for a, b in zip(plain.images, hooked.images, strict=True):
        assert a.image.tobytes() == b.image.tobytes()


def test_before_encode_changes_the_prompt_that_is_encoded(engine: Engine) -> None:
    class Rewrite(Extension):
        def before_encode(self, ctx: RunContext) -> None:
            ctx.prompt = "a dog"

    dog = engine.run(_req(prompt="a dog")).images[0].image
    rewritten = engine.run(_req(), extensions=[Rewrite()])
    assert rewritten.images[0].image.tobytes() == dog.tobytes()
    assert rewritten.request.prompt == "a cat"  # the record keeps what the artist wrote


def test_supplied_noise_is_the_initial_noise(engine: Engine) -> None:
    """txt2img: the seeds' own noise reproduces the plain run; other noise gives another picture."""
    from diffusers.utils.torch_utils import randn_tensor

    class Noise(Extension):
        def __init__(self, same: bool):
            self.same = same

        def before_batch(self, ctx: RunContext, batch: BatchContext) -> None:
            gens = batch.generators if self.same else [torch.Generator("cpu").manual_seed(999)]
            batch.noise = randn_tensor(batch.noise_shape, generator=gens)

    req = _req(batch_size=2)
    plain = [g.image for g in engine.run(req).images]
    same = [g.image for g in engine.run(req, extensions=[Noise(True)]).images]
    other = engine.run(_req(), extensions=[Noise(False)]).images[0].image
    assert [i.tobytes() for i in same] == [i.tobytes() for i in plain]
    assert np.abs(_arr(other) - _arr(plain[0])).max() > 10


@pytest.mark.parametrize("mode", [Mode.img2img, Mode.inpaint])
def test_supplied_noise_replaces_the_noise_added_to_the_init_picture(engine: Engine, mode: Mode) -> None:
    class Noise(Extension):
        def __init__(self, seed: int):
            self.seed = seed

        def before_batch(self, ctx: RunContext, batch: BatchContext) -> None:
            batch.noise = torch.randn(batch.noise_shape, generator=torch.Generator().manual_seed(self.seed))

    mask = Image.new("L", (W, H), 0)
    ImageDraw.Draw(mask).rectangle((8, 8, 56, 56), fill=255)
    req = _req(mode=mode, init_image=_init(), strength=0.7, sampler="Euler")
    if mode is Mode.inpaint:
        req = req.replace(mask=InputImage.from_pil(mask), mask_blur=0)
    plain = engine.run(req).images[0].image
    a = engine.run(req, extensions=[Noise(1)]).images[0].image
    again = engine.run(req, extensions=[Noise(1)]).images[0].image
    b = engine.run(req, extensions=[Noise(2)]).images[0].image
    assert a.tobytes() == again.tobytes()
    assert np.abs(_arr(a) - _arr(plain)).max() > 10 and np.abs(_arr(a) - _arr(b)).max() > 10


def test_noise_of_the_wrong_shape_is_a_clear_error(engine: Engine) -> None:
    class Bad(Extension):
        def before_batch(self, ctx: RunContext, batch: BatchContext) -> None:
            batch.noise = torch.zeros(1, 4, 3, 3)

    with pytest.raises(EngineError, match="initial noise: shape"):
        engine.run(_req(), extensions=[Bad()])


def test_pre_unet_sees_and_changes_the_unet_inputs(engine: Engine) -> None:
    """Giving the positive half the negative's embeddings equals a run whose prompt is the negative prompt."""

    class Negate(Extension):
        def pre_unet(self, ctx: RunContext, call: UNetCall) -> None:
            ehs = call.kwargs["encoder_hidden_states"]
            call.kwargs["encoder_hidden_states"] = torch.cat([ehs[:1], ehs[:1]])

    same = engine.run(_req(prompt="blurry", negative_prompt="blurry")).images[0].image
    negated = engine.run(_req(negative_prompt="blurry"), extensions=[Negate()]).images[0].image
    assert negated.tobytes() == same.tobytes()


def test_post_step_may_replace_the_latents(engine: Engine) -> None:
    """A run whose last latents are replaced by another run's decodes to that run's picture."""
    kept: list[torch.Tensor] = []

    class Keep(Extension):
        def post_step(self, ctx: RunContext, step: StepState) -> None:
            kept.append(step.tensors["latents"].clone())

    class Swap(Extension):
        def post_step(self, ctx: RunContext, step: StepState) -> None:
            if step.step == step.total:
                step.tensors["latents"] = kept[-1]

    dog = engine.run(_req(prompt="a dog"), extensions=[Keep()]).images[0].image
    swapped = engine.run(_req(), extensions=[Swap()]).images[0].image
    assert len(kept) == 3 and swapped.tobytes() == dog.tobytes()
    assert engine.run(_req()).images[0].image.tobytes() != dog.tobytes()


def test_after_decode_replaces_pictures_before_the_mode_composes_them(engine: Engine) -> None:
    class Flip(Extension):
        def after_decode(self, ctx: RunContext, batch: BatchContext, images: list[Any]) -> list[Any]:
            return [im.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for im in images]

    plain = engine.run(_req()).images[0].image
    flipped = engine.run(_req(), extensions=[Flip()]).images[0].image
    assert flipped.tobytes() == plain.transpose(Image.Transpose.FLIP_LEFT_RIGHT).tobytes()


def test_after_run_unwinds_in_reverse_order_on_cancel(engine: Engine) -> None:
    undone: list[str] = []
    cancel = threading.Event()

    class Patch(Extension):
        def __init__(self, name: str):
            self.name = name

        def after_run(self, ctx: RunContext) -> None:
            undone.append(self.name)

    class PressCancel(Extension):
        def post_step(self, ctx: RunContext, step: StepState) -> None:
            cancel.set()

    with pytest.raises(Cancelled):
        engine.run(_req(steps=4), cancel=cancel, extensions=[Patch("a"), PressCancel(), Patch("b")])
    assert undone == ["b", "a"]


def test_engine_factories_are_asked_per_request(demo_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDSTUDIO_HOME", str(demo_home))
    made: list[str] = []

    def factory(request: Request, library: Any) -> Extension | None:
        if "<flip>" not in request.prompt:
            return None
        made.append(request.prompt)
        return Recorder()

    eng = Engine(ModelLibrary(Settings.load()), device="cpu", extensions=[factory])
    eng.run(_req(steps=1))
    eng.run(_req(prompt="a cat <flip>", steps=1))
    assert made == ["a cat <flip>"]
    eng.close()
