"""`sdstudio upscale` in-process: the size, the parameters carried over with A1111's postprocess note."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from sdstudio.cli import main


def test_upscale_by_and_to_keeping_parameters(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "in.png"
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat\nSteps: 20, Seed: 1")
    Image.new("RGB", (40, 30), "orange").save(src, pnginfo=info)
    assert main(["upscale", str(src), "-o", str(tmp_path / "big.png"), "--scale", "2"]) == 0
    with Image.open(tmp_path / "big.png") as out:
        assert out.size == (80, 60)
        assert out.info["parameters"].endswith(
            "Seed: 1, Postprocess upscale by: 2, Postprocess upscaler: Lanczos"
        )
    assert (
        main(["upscale", str(src), "-o", str(tmp_path / "sq"), "--size", "64x64", "--upscaler", "Nearest"])
        == 0
    )
    assert Image.open(tmp_path / "sq.png").size == (64, 64)
    assert main(["upscale", str(src), "-o", str(tmp_path / "x.png"), "--upscaler", "4x-Missing"]) == 2
    assert "unknown upscaler '4x-Missing'" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
