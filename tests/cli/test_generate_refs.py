"""`sdstudio generate --ref PATH[:weight[:kind]]` and `{image}` tags, as a real subprocess on the demo model."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw

from sdstudio.core import demo
from tests.cli.test_generate import _run
from tests.core.test_control_engine import _tiny_controlnet


def test_generate_with_a_reference_records_the_controlnet_and_refuses_missing_pictures(
    tmp_path: Path, sdstudio_home: Path, demo_home: Path
) -> None:
    from diffusers import UNet2DConditionModel

    root = tmp_path / "webui"
    (root / "models" / "Stable-diffusion").mkdir(parents=True)
    unet = UNet2DConditionModel.from_pretrained(str(demo.demo_path() / "unet"))
    _tiny_controlnet(unet, 1).save_pretrained(str(root / "models" / "ControlNet" / "tiny_sd15_canny"))
    (sdstudio_home / "config").mkdir(parents=True, exist_ok=True)
    (sdstudio_home / "config" / "settings.json").write_text(json.dumps({"model_roots": [str(root)]}))
    ref = tmp_path / "box.png"
    image = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(image).rectangle((12, 12, 50, 50), outline="black", width=3)
    image.save(ref)
    out = tmp_path / "box-out.png"
    args = ("--steps", "2", "--width", "64", "--height", "64", "--seed", "3", "-o", str(out))

    res = _run("generate", "a box {image}", "--ref", f"{ref}:0.7:canny", *args, home=sdstudio_home)
    assert res.returncode == 0, res.stderr
    with Image.open(out) as im:
        params = im.info["parameters"]
    assert 'ControlNet 0: "Module: canny, Model: tiny_sd15_canny [' in params and "Weight: 0.7" in params
    assert params.startswith("a box {image}\n")

    # the reference is kept by content hash: the picture replays identically and its lineage names it
    again = tmp_path / "again.png"
    res = _run("generate", "--from", str(out), "--verify", "-o", str(again), home=sdstudio_home)
    assert res.returncode == 0, res.stderr
    assert "identical" in res.stdout
    res = _run("lineage", str(out), home=sdstudio_home)
    assert res.returncode == 0, res.stderr
    from sdstudio.core.request import InputImage

    sha = InputImage.from_file(ref, "ref").sha256[:12]
    assert f"reference 0: canny (canny), weight 0.7, picture {sha}" in res.stdout

    missing = tmp_path / "nope.png"
    res = _run("generate", "a box", "--ref", f"{missing}:canny", *args, home=sdstudio_home)
    assert res.returncode != 0 and "reference picture not found" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    res = _run("generate", "a box {image}", *args, home=sdstudio_home)
    assert res.returncode != 0 and "none is attached" in res.stderr
