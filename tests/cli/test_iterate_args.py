"""`generate` options for variations and hires fix become the Request's fields (parsed in-process)."""

from __future__ import annotations

import argparse

import pytest

from sdstudio.cli import generate
from sdstudio.core.request import RequestError
from sdstudio.core.settings import Settings


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    generate.register(parser.add_subparsers())
    return parser.parse_args(["generate", "p", "-o", "x.png", *argv])


def test_variation_and_hires_options_fill_the_request() -> None:
    req = generate.build_request(
        _args(
            "--subseed",
            "7",
            "--subseed-strength",
            "0.3",
            "--seed-resize-from",
            "512x768",
            "--hires",
            "--hr-scale",
            "1.5",
            "--hr-upscaler",
            "Lanczos",
            "--hr-steps",
            "12",
            "--strength",
            "0.4",
        ),
        Settings(),
    )
    assert (req.subseed, req.subseed_strength, req.seed_resize_from_w, req.seed_resize_from_h) == (
        7,
        0.3,
        512,
        768,
    )
    assert (req.enable_hr, req.hr_scale, req.hr_upscaler, req.hr_second_pass_steps, req.strength) == (
        True,
        1.5,
        "Lanczos",
        12,
        0.4,
    )


def test_hires_options_without_hires_are_refused() -> None:
    with pytest.raises(RequestError, match="need --hires"):
        generate.build_request(_args("--hr-scale", "3"), Settings())


def test_bad_strength_is_named() -> None:
    with pytest.raises(RequestError, match="subseed_strength"):
        generate.build_request(_args("--subseed-strength", "2"), Settings())


def test_outpaint_makes_an_inpaint_request_on_the_bigger_canvas(tmp_path) -> None:
    from PIL import Image

    from sdstudio.core.request import Mode

    init = tmp_path / "in.png"
    Image.new("RGB", (96, 64), "teal").save(init)
    req = generate.build_request(
        _args("--init", str(init), "--outpaint", "16,0,16,8", "--strength", "0.9"), Settings()
    )
    assert req.mode is Mode.inpaint and (req.width, req.height) == (128, 72)
    assert (req.mask.width, req.init_image.width) == (128, 128)
    with pytest.raises(RequestError, match="needs --init"):
        generate.build_request(_args("--outpaint", "0,0,64,0"), Settings())
    with pytest.raises(RequestError, match="four pixel counts"):
        generate.build_request(_args("--init", str(init), "--outpaint", "64"), Settings())
