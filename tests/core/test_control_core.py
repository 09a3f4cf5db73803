"""Reference images, the Qt-free part: ControlNet units in the request, model-free preprocessors, `{image}` tags."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from sdstudio.core import schema
from sdstudio.core.control import (
    ControlMode,
    ControlUnit,
    ResizeMode,
    control_map,
    parse_image_tags,
    preprocess,
    units_from_tags,
)
from sdstudio.core.request import InputImage, Request, RequestError


def _drawing(size: tuple[int, int] = (96, 64)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).ellipse((20, 10, 70, 55), outline="black", width=3)
    return image


def test_units_round_trip_through_the_schema_with_enums_and_pictures() -> None:
    unit = ControlUnit(
        InputImage.from_pil(_drawing()), "canny", "tiny-canny", 0.7, 0.1, 0.8, ControlMode.controlnet,
        ResizeMode.resize_and_fill, 256, 50, 150, True,
    )  # fmt: skip
    request = Request(prompt="a cat", controls=(unit, ControlUnit(enabled=False)))
    back, _ = schema.loads(schema.dumps(request, images="base64"))
    assert back == request and back.controls[0].image == unit.image
    hashed = request.to_dict(images="sha256")["controls"][0]["image"]
    assert set(hashed) == {"sha256", "width", "height"}
    assert ControlUnit.from_dict({"control_mode": 2, "resize_mode": 0}).control_mode is ControlMode.controlnet
    assert ControlUnit.from_dict({"resize_mode": 0}).resize_mode is ResizeMode.just_resize


@pytest.mark.parametrize(
    ("unit", "field"),
    [
        (ControlUnit(module="depth_midas"), "controls[0].module"),
        (ControlUnit(weight=3.0), "controls[0].weight"),
        (ControlUnit(guidance_start=0.6, guidance_end=0.4), "controls[0].guidance_start"),
        (ControlUnit(threshold_a=300), "controls[0].threshold_a"),
    ],
)
def test_bad_units_are_refused_naming_the_field(unit: ControlUnit, field: str) -> None:
    with pytest.raises(RequestError) as e:
        Request(prompt="x", controls=(unit,)).validate()
    assert e.value.field == field


def test_canny_is_opencv_canny_at_processor_res_with_the_unit_thresholds() -> None:
    picture = _drawing((128, 128))
    unit = ControlUnit(module="canny", processor_res=128, threshold_a=60, threshold_b=180)
    ours = np.asarray(preprocess(picture, unit, (64, 64)))
    edges = cv2.Canny(np.asarray(picture), 60, 180)
    assert np.array_equal(ours[..., 0], edges) and np.array_equal(ours[..., 2], edges)
    assert 0 < (edges > 0).mean() < 0.2
    assert preprocess(picture, ControlUnit(module="canny", pixel_perfect=True), (64, 64)).size == (64, 64)


def test_scribble_makes_white_lines_on_black_and_maps_fit_by_resize_mode() -> None:
    lines = np.asarray(preprocess(_drawing(), ControlUnit(module="scribble", processor_res=64), (96, 64)))
    assert set(np.unique(lines)) == {0, 255} and (lines == 0).mean() > 0.8  # the white paper became black
    wide = Image.new("RGB", (200, 100), "white")
    assert control_map(wide, ControlUnit(resize_mode=ResizeMode.crop_and_resize), (64, 64)).getpixel((0, 32)) == (
        255, 255, 255,
    )  # fmt: skip
    filled = control_map(wide, ControlUnit(resize_mode=ResizeMode.resize_and_fill), (64, 64))
    assert filled.getpixel((32, 0)) == (0, 0, 0) and filled.getpixel((32, 32)) == (255, 255, 255)
    assert control_map(wide, ControlUnit(), (64, 64)).size == (64, 64)


def test_image_tags_are_removed_from_the_text_and_read_before_any_work(tmp_path: Path) -> None:
    _drawing().save(tmp_path / "hand.png")
    text, tags = parse_image_tags("a hand, {image:hand.png:0.8:canny}, detailed {image}")
    assert text == "a hand, detailed"
    assert [(t.source, t.weight, t.kind) for t in tags] == [("hand.png", 0.8, "canny"), ("", None, None)]
    attached = [ControlUnit(InputImage.from_pil(_drawing()), "scribble")]
    units = units_from_tags(tags, attached, tmp_path)
    assert len(units) == 1 and (units[0].module, units[0].weight) == ("canny", 0.8)
    assert units[0].image == InputImage.from_file(tmp_path / "hand.png")
    _, windows = parse_image_tags("{image:C:\\refs\\hand.png:lineart}")
    assert (windows[0].source, windows[0].kind) == ("C:\\refs\\hand.png", "lineart")

    with pytest.raises(RequestError, match="not found: .*missing.png"):
        units_from_tags(parse_image_tags("{image:missing.png:canny}")[1], [], tmp_path)
    (tmp_path / "broken.png").write_bytes(b"not a picture")
    with pytest.raises(RequestError, match="broken.png"):
        units_from_tags(parse_image_tags("{image:broken.png:canny}")[1], [], tmp_path)
    with pytest.raises(RequestError, match="none is attached"):
        units_from_tags(parse_image_tags("a {image}")[1], [], tmp_path)
    with pytest.raises(RequestError, match="network"):
        units_from_tags(parse_image_tags("{image:https://x.invalid/a.png:canny}")[1], [], tmp_path)
    (default,) = units_from_tags(parse_image_tags("{image:hand.png}")[1], [], tmp_path)
    assert default.module == "ip-adapter-auto" and default.ip_kind.value == "reference"  # the IP-Adapter kind


def test_the_gallery_keeps_references_by_content_hash_and_reuse_brings_them_back(tmp_path: Path) -> None:
    from sdstudio.core.gallery import GalleryStore
    from sdstudio.core.request import GeneratedImage, Result

    unit = ControlUnit(InputImage.from_pil(_drawing()), "canny", "tiny_sd15_canny", 0.6)
    request = Request(prompt="a cat", width=64, height=64, seed=5, controls=(unit,))
    store = GalleryStore(tmp_path / "outputs", tmp_path / "index.sqlite3")
    try:
        (record,) = store.add(Result(request, (GeneratedImage(Image.new("RGB", (64, 64)), 5, request),)))
        assert store.request_of(record) == request
    finally:
        store.close()


def test_only_masked_inpainting_cuts_the_same_box_out_of_the_full_size_map() -> None:
    from sdstudio.core.control.extension import unit_map

    source = Image.new("RGB", (128, 96), "grey")
    unit = ControlUnit(InputImage.from_pil(_drawing((128, 96))), "scribble", processor_res=96)
    request = Request(prompt="x", width=64, height=64)
    whole = unit_map(unit, request)
    assert whole.size == (64, 64)
    box = (60, 30, 124, 94)
    cut = unit_map(unit, request, source, box)
    full = control_map(unit.image.to_pil(), unit, (128, 96))
    assert np.array_equal(np.asarray(cut), np.asarray(full.crop(box)))  # the box is 64x64: no resize
    assert not np.array_equal(np.asarray(cut), np.asarray(whole))
