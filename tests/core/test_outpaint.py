"""Outpainting: a bigger canvas, the border filled and inpainted; the original outside the blend band stays."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sdstudio.core.engine import Engine
from sdstudio.core.outpaint import Outpaint, extend, outpaint_request
from sdstudio.core.request import Mode, Request, RequestError


def _picture() -> Image.Image:
    img = Image.new("RGB", (64, 64), (200, 60, 40))
    ImageDraw.Draw(img).rectangle((10, 10, 40, 50), fill=(20, 160, 220))
    return img


def test_canvas_fill_and_mask_geometry() -> None:
    plan = Outpaint(left=16, top=0, right=20, bottom=8, blend=8)
    canvas, mask = extend(_picture(), plan, seed=1)
    assert canvas.size == (104, 72)  # 64+16+20 = 100 grows to the latent grid
    arr, m = np.asarray(canvas), np.asarray(mask)
    assert np.array_equal(arr[0:64, 16:80], np.asarray(_picture()))  # the original in place
    assert m[:, :16].min() == 255 and m[:, 80:].min() == 255 and m[64:, :].min() == 255  # new border painted
    assert m[0:56, 24:72].max() == 0  # the original kept except the blend band
    assert m[0:56, 16:24].min() == 255  # the band along the left edge repainted
    assert m[0:8, 24:72].max() == 0  # the top was not extended: no band there
    left_fill = arr[20:40, 0:8].astype(int).mean(axis=(0, 1))
    assert abs(left_fill[0] - 200) < 40  # edge colour carried outwards (red side)
    noisy, _ = extend(_picture(), Outpaint(right=32, fill="noise"), seed=1)
    assert np.asarray(noisy)[:, 64:].std() > 50


@pytest.mark.parametrize(
    ("plan", "text"),
    [
        (Outpaint(), "at least one side"),
        (Outpaint(left=-8), "at least one side"),
        (Outpaint(right=8, fill="mirror"), "unknown fill"),
        (Outpaint(right=5000), "keep each side up to"),
    ],
)
def test_bad_plans_are_explained(plan: Outpaint, text: str) -> None:
    with pytest.raises(RequestError, match=text):
        extend(_picture(), plan)


def test_parse() -> None:
    assert Outpaint.parse("0, 8,128,0").sides() == (0, 8, 128, 0)
    with pytest.raises(RequestError, match="four pixel counts"):
        Outpaint.parse("10,20")


def test_outpaint_runs_and_keeps_the_original_outside_the_band(cpu_engine: Engine) -> None:
    plan = Outpaint(right=32, bottom=16, blend=8)
    req = outpaint_request(
        Request(prompt="a wall", steps=3, seed=5, strength=1.0, mask_blur=2), _picture(), plan
    )
    assert req.mode is Mode.inpaint and (req.width, req.height) == (96, 80)
    out = np.asarray(cpu_engine.run(req).images[0].image.convert("RGB")).astype(int)
    original = np.asarray(_picture()).astype(int)
    keep = 64 - plan.blend - 3 * 2  # the band plus the mask blur's reach
    assert np.array_equal(out[:keep, :keep], original[:keep, :keep])
    assert np.abs(out[:64, 64 + 8 :] - np.asarray(req.init_image.to_pil())[:64, 72:]).mean() > 1  # painted
    assert not np.array_equal(out[:64, 56:64], original[:, 56:64])  # the band itself was blended
