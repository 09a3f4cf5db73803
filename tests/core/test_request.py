from __future__ import annotations

import io

import pytest
from PIL import Image

from sdstudio.core.request import InpaintArea, InputImage, Mode, Request, RequestError
from sdstudio.core.samplers import SAMPLERS


def _img(w: int = 64, h: int = 64, color: tuple[int, int, int] = (10, 20, 30)) -> InputImage:
    return InputImage.from_pil(Image.new("RGB", (w, h), color))


def test_round_trip_is_exact_with_images() -> None:
    r = Request(
        prompt="a (cat:1.2)",
        negative_prompt="blurry",
        mode=Mode.inpaint,
        steps=7,
        cfg_scale=5.5,
        width=128,
        height=96,
        seed=42,
        batch_size=2,
        batch_count=3,
        sampler="Euler a",
        strength=0.4,
        init_image=_img(),
        mask=_img(color=(255, 255, 255)),
        mask_blur=2,
        inpaint_area=InpaintArea.only_masked,
        inpaint_padding=16,
        clip_skip=2,
        model="demo",
        styles=("hands",),
    )
    d = r.to_dict()
    assert Request.from_dict(d) == r
    import json

    assert Request.from_dict(json.loads(json.dumps(d))) == r


def test_hash_only_images_resolve_through_callback() -> None:
    init = _img()
    r = Request(mode=Mode.img2img, init_image=init)
    d = r.to_dict(images="sha256")
    assert "png" not in d["init_image"] and d["init_image"]["sha256"] == init.sha256
    assert Request.from_dict(d, resolve_image={init.sha256: init}.get) == r


def test_unknown_keys_are_ignored() -> None:
    assert Request.from_dict({"prompt": "x", "whatever": 1}).prompt == "x"


@pytest.mark.parametrize(
    ("changes", "field", "hint"),
    [
        ({"width": 100}, "width", "multiple of 8; use 96 or 104"),
        ({"height": 30}, "height", "64 to 4096"),
        ({"steps": 0}, "steps", "1 to 150"),
        ({"steps": 151}, "steps", "1 to 150"),
        ({"cfg_scale": -1.0}, "cfg_scale", "0 to 30"),
        ({"seed": -2}, "seed", "-1 (random)"),
        ({"batch_size": 0}, "batch_size", "1 to 16"),
        ({"batch_count": 0}, "batch_count", "1 to"),
        ({"sampler": "Euler b"}, "sampler", "known: Euler a, Euler"),
        ({"strength": 1.5}, "strength", "0 to 1"),
        ({"mask_blur": -1}, "mask_blur", "0 to 64"),
        ({"clip_skip": 0}, "clip_skip", "1 to 12"),
        ({"mode": Mode.img2img}, "init_image", "needs an init image"),
        ({"mode": Mode.inpaint, "init_image": _img()}, "mask", "needs a mask"),
        ({"mode": Mode.inpaint, "init_image": _img(), "mask": _img(32, 32)}, "mask", "same size"),
        ({"init_image": _img()}, "mode", "txt2img takes no init image"),
        ({"mode": Mode.img2img, "init_image": _img(), "mask": _img()}, "mask", "use inpaint"),
        ({"mode": Mode.img2img, "init_image": _img(), "steps": 1}, "strength", "use at least 2 steps"),
        ({"mode": Mode.img2img, "init_image": _img(), "strength": 0.0}, "strength", "strength above 0"),
    ],
)
def test_validation_names_field_and_fix(changes: dict, field: str, hint: str) -> None:
    with pytest.raises(RequestError) as err:
        Request(prompt="x", **changes).validate()
    assert err.value.field == field
    assert hint in str(err.value)


def test_unknown_sampler_lists_every_known_one() -> None:
    with pytest.raises(RequestError) as err:
        Request(sampler="nope").validate()
    assert all(name in str(err.value) for name in SAMPLERS)


def test_corrupt_image_is_a_clear_error(tmp_path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(RequestError) as err:
        InputImage.from_file(bad, "init")
    assert err.value.field == "init" and "not a readable image" in str(err.value)
    with pytest.raises(RequestError, match="cannot read"):
        InputImage.from_file(tmp_path / "missing.png", "init")


def test_input_image_from_base64_and_data_uri() -> None:
    img = _img()
    assert InputImage.from_base64(img.to_base64()) == img
    assert InputImage.from_base64("data:image/png;base64," + img.to_base64()) == img
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="JPEG")
    assert InputImage.from_bytes(buf.getvalue()).width == 8


@pytest.mark.parametrize(
    "picture, size",
    [
        ((512, 512), (512, 512)),
        ((768, 512), (768, 512)),
        ((300, 200), (296, 200)),  # down to multiples of 8
        ((4000, 3000), (1024, 768)),  # long side capped, aspect kept
        ((3000, 4000), (768, 1024)),
        ((5000, 100), (1024, 64)),  # never under 64
        ((40, 40), (64, 64)),
    ],
)
def test_size_for_picture_keeps_the_aspect(picture: tuple[int, int], size: tuple[int, int]) -> None:
    from sdstudio.core.request import size_for_picture

    assert size_for_picture(*picture) == size
    assert Request(prompt="x", width=size[0], height=size[1]).validate()
