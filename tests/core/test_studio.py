"""The Qt-free studio model and the schema-versioned serializer."""

from __future__ import annotations

import dataclasses
import json

import pytest

from sdstudio.core import schema
from sdstudio.core.request import InpaintArea, InputImage, Mode, Request
from sdstudio.core.studio import PARAMETERS, StudioModel


def _events(studio: StudioModel) -> tuple[list[str], list[str]]:
    changed: list[str] = []
    messages: list[str] = []
    studio.changed.connect(changed.append)
    studio.message.connect(messages.append)
    return changed, messages


def test_parameters_are_the_request_fields_less_the_canvas_inputs() -> None:
    names = {f.name for f in dataclasses.fields(Request)}
    assert set(PARAMETERS) == names - {"mode", "init_image", "mask"}


def test_update_announces_only_real_changes() -> None:
    studio = StudioModel()
    changed, _ = _events(studio)
    studio.update(steps=20, cfg_scale=5.5, prompt="fox")  # steps is already 20
    assert changed == ["cfg_scale", "prompt"]
    assert studio.parameters.cfg_scale == 5.5 and studio.get("prompt") == "fox"
    with pytest.raises(KeyError):
        studio.set("init_image", None)  # the canvas decides it


def test_mode_follows_the_canvas_and_the_request_carries_its_inputs() -> None:
    studio = StudioModel(Request(prompt="x", width=64, height=64))
    assert studio.mode is Mode.txt2img
    studio.set_canvas((64, 64), has_mask=False)
    assert studio.mode is Mode.img2img
    studio.set_canvas((64, 64), has_mask=True)
    assert studio.mode is Mode.inpaint
    picture = InputImage(b"png", 64, 64)
    assert studio.request(picture, None).mode is Mode.img2img
    assert studio.request(None, picture).mode is Mode.txt2img  # a mask without a picture means nothing
    assert studio.request(picture, picture).validate().mask == picture


def test_a_new_picture_sets_its_aspect_and_reuse_keeps_the_pictures_size() -> None:
    studio = StudioModel()
    _, messages = _events(studio)
    studio.picture_replaced(384, 256)
    assert studio.size == (384, 256) and "follows the picture" in messages[-1]
    studio.reuse(Request(prompt="castle", width=256, height=256, seed=42))
    assert studio.size == (384, 256) and studio.get("prompt") == "castle" and studio.get("seed") == 42
    assert "stays 384×256" in messages[-1] and "256×256" in messages[-1]
    assert studio.size_note() == ""
    studio.update(width=256)  # the artist may still choose another shape: it is said
    assert "384×256" in studio.size_note() and "stretches" in studio.size_note()


def test_reuse_without_a_picture_takes_every_field_exactly() -> None:
    studio = StudioModel()
    wanted = Request(prompt="p", width=256, height=320, seed=7, inpaint_area=InpaintArea.only_masked)
    studio.reuse(wanted)
    assert studio.parameters == wanted


def test_a_models_native_square_replaces_the_last_ones_unless_chosen() -> None:
    studio = StudioModel()
    studio.model_chosen(512)
    studio.model_chosen(1024)
    assert studio.size == (1024, 1024)
    studio.update(width=640, height=448)
    studio.model_chosen(512)
    assert studio.size == (640, 448)


def test_schema_round_trip_keeps_extras_and_migrates_a_bare_request() -> None:
    request = Request(prompt="lighthouse", seed=9, styles=("hands",))
    text = schema.dumps(request, model_name="demo")
    assert json.loads(text)["version"] == schema.SCHEMA_VERSION
    assert schema.loads(text) == (request, {"model_name": "demo"})
    assert schema.load(request.to_dict())[0] == request  # version 0: an early autosave


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ({"version": 2, "request": {}}, "newer sdstudio (schema 2)"),
        ({"version": "x", "request": {}}, "not a number"),
        ({"version": 1}, "no request"),
        ({"version": 1, "request": {"mode": "sideways"}}, "cannot be read"),
        ([1, 2], "not a request document"),
    ],
)
def test_schema_refuses_what_it_cannot_read(document: object, says: str) -> None:
    with pytest.raises(schema.SchemaError, match=r".*") as e:
        schema.load(document)
    assert says in str(e.value)


def test_a_png_chunk_of_a_newer_schema_is_refused_and_the_a1111_text_read() -> None:
    import io

    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from sdstudio.core.gallery.metadata import CHUNK
    from sdstudio.core.gallery.reading import read_parameters

    info = PngInfo()
    info.add_text("parameters", "a fox\nSteps: 3, Sampler: Euler a, CFG scale: 6, Seed: 11, Size: 64x64")
    newer = schema.dump(Request(prompt="from the future", steps=9)) | {"version": schema.SCHEMA_VERSION + 1}
    info.add_text(CHUNK, json.dumps(newer))
    buf = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buf, format="PNG", pnginfo=info)
    params = read_parameters(buf.getvalue())
    assert params.tool != "sdstudio" and params.request is not None
    assert (params.request.prompt, params.request.steps, params.request.seed) == ("a fox", 3, 11)


def test_a_few_step_model_gets_its_sampler_steps_and_cfg_and_leaving_it_restores_the_defaults() -> None:
    from sdstudio.core.speed.fewstep import few_step_profile

    studio, said = StudioModel(), []
    studio.message.connect(said.append)
    studio.few_step_chosen(few_step_profile("sd_turbo.safetensors"))
    assert (studio.get("sampler"), studio.get("steps"), studio.get("cfg_scale")) == (
        "Euler a SGM Uniform",
        1,
        1.0,
    )
    assert "1 step, CFG 1" in said[-1]
    studio.few_step_chosen(None)  # an ordinary model: the defaults come back
    assert (studio.get("sampler"), studio.get("steps"), studio.get("cfg_scale")) == (
        "DPM++ 2M Karras",
        20,
        7.0,
    )
    studio.few_step_chosen(few_step_profile("sdxl_lightning_4step"))
    studio.set("steps", 6)  # the artist's own choice stays
    studio.few_step_chosen(None)
    assert studio.get("steps") == 6 and studio.get("sampler") == "Euler SGM Uniform"
