"""Replay's pure parts: what a recipe cannot honour, environment differences, pixel comparison."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image

from sdstudio.core.gallery.metadata import parse_infotext, request_from_params
from sdstudio.core.replay import compare, environment_changes, read_recipe, unhonoured_fields


def test_fields_the_studio_writes_back_are_honoured_and_the_rest_listed() -> None:
    text = (
        "a cat\nNegative prompt: blurry\nSteps: 12, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6, "
        "Seed: 3, Size: 640x512, Model hash: abcdef0123, Model: m, Clip skip: 2, "
        'ADetailer model: face_yolov8n.pt, ControlNet 0: "Module: canny, Model: x", Version: v1.10.1'
    )
    recorded = parse_infotext(text)
    assert unhonoured_fields(recorded, request_from_params(recorded)) == ("ADetailer model", "ControlNet 0")


def test_environment_changes_name_each_field_that_differs() -> None:
    recorded = {"device": "cuda", "dtype": "float16", "torch": "2.11.0", "diffusers": "0.42.1"}
    current = {"device": "cpu", "dtype": "float32", "torch": "2.11.0", "diffusers": "0.42.1"}
    assert environment_changes(recorded, current) == ["device: cuda → cpu", "dtype: float16 → float32"]
    assert environment_changes(recorded, recorded) == []


def test_compare_reports_max_and_mean_difference() -> None:
    a = Image.new("RGB", (4, 4), (10, 10, 10))
    b = a.copy()
    assert compare(a, b).describe() == "identical"
    b.putpixel((0, 0), (13, 10, 10))
    c = compare(a, b)
    assert (c.identical, c.max_difference) == (False, 3) and abs(c.mean_difference - 3 / 48) < 1e-9
    assert compare(a, Image.new("RGB", (4, 5))).describe() == "different size"


def test_our_pictures_record_the_environment(cpu_engine: Any, tmp_path: Path) -> None:
    from sdstudio.core.gallery.metadata import write_png
    from sdstudio.core.request import Request

    result = cpu_engine.run(Request(prompt="x", steps=1, width=64, height=64, seed=1))
    path = tmp_path / "x.png"
    write_png(path, result.images[0], result)
    with Image.open(path) as im:
        env = json.loads(im.text["sdstudio"])["environment"]
    assert env["device"] == "cpu" and env["dtype"] == "float32" and env["torch"] and env["diffusers"]
    recipe = read_recipe(path)
    assert recipe.environment == env and recipe.request.seed == 1 and recipe.unhonoured == ()


def test_a_recipe_binds_its_model_and_renamed_loras_by_hash(tmp_path: Path) -> None:
    from PIL.PngImagePlugin import PngInfo

    from sdstudio.core.lora import autov3
    from sdstudio.core.models import ModelLibrary
    from sdstudio.core.settings import Settings
    from tests.core.test_lora_records import _lora_file

    library = ModelLibrary(Settings())
    folder = library.settings.library_path() / "models" / "Lora"
    lora = _lora_file(folder, "renamed-here", 3)
    info = PngInfo()
    info.add_text(
        "parameters",
        "a cat <lora:catStyle:0.6>\nSteps: 3, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x64, "
        f'Model: Demo (random weights), Lora hashes: "catStyle: {autov3(lora)[:12]}", Version: v1.10.1',
    )
    Image.new("RGB", (64, 64)).save(tmp_path / "a.png", pnginfo=info)
    recipe = read_recipe(tmp_path / "a.png")
    assert recipe.unhonoured == ()  # the LoRA hashes are written back once the tag is applied
    request = recipe.bind(library)
    assert request.prompt == "a cat <lora:renamed-here:0.6>" and request.model == "Demo (random weights)"
