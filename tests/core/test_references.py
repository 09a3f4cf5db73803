"""The reference strip's rules without a window: names, kinds, tags naming references, pose from reference,
and the references surviving autosave and Reuse (the schema round trip)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from sdstudio.core import references, schema
from sdstudio.core.control.tags import parse_image_tags, units_from_tags
from sdstudio.core.control.unit import ControlUnit
from sdstudio.core.request import InpaintArea, InputImage, Request, RequestError
from sdstudio.core.studio import StudioModel


def picture(color: tuple[int, int, int] = (200, 30, 30), size: int = 48) -> InputImage:
    img = Image.new("RGB", (size, size), color)
    for x in range(size // 4, size // 2):  # a bar: canny finds its edges
        for y in range(size):
            img.putpixel((x, y), (255, 255, 255))
    return InputImage.from_pil(img)


def test_added_references_get_fresh_names_an_available_kind_and_edit_by_field() -> None:
    units = references.added((), picture(), "hand.png")
    units = references.added(units, picture((0, 0, 200)), "hand.png")
    assert [u.name for u in units] == ["hand.png", "hand-2.png"]
    kind = references.default_kind()
    assert references.available(kind) and all(references.kind_of(u) == kind for u in units)
    units = references.edited(units, 1, kind="lineart", weight=0.6, guidance_end=0.8, model="cn-lineart")
    assert (units[1].module, units[1].weight, units[1].guidance_end) == ("lineart", 0.6, 0.8)
    units = references.edited(units, 1, kind="scribble")  # another kind: the old kind's model goes
    assert (references.kind_of(units[1]), units[1].model) == ("scribble", "")
    assert references.edited(units, 1, name="hand.png")[1].name == "hand-2.png"  # names stay unique
    with pytest.raises(KeyError):
        references.edited(units, 0, image=None)
    assert references.removed(units, 0) == units[1:]
    unavailable = [k for k in references.KINDS if not references.available(k)]
    for kind in unavailable:  # kinds others are still adding are refused with a message, not a crash
        with pytest.raises(RequestError, match="not available"):
            references.edited(units, 0, kind=kind)


def test_a_tag_names_the_reference_under_the_cursor() -> None:
    units = references.added(references.added((), picture(), "hand.png"), picture(), "face.png")
    prompt = "a portrait {image:face:1:canny}, {image} and {image:elsewhere.png}"
    at = prompt.index("face")
    tag = references.tag_at(prompt, at)
    assert tag is not None and references.target(units, tag) == 1
    assert references.tag_at(prompt, 3) is None  # in "portrait"
    first = references.tag_at(prompt, prompt.index("{image}") + 2)
    assert first is not None and references.target(units, first) == 0  # {image}: the attached one
    off = references.edited(units, 0, enabled=False)
    assert references.target(off, first) == 1  # ... the first one switched on
    other = references.tag_at(prompt, prompt.index("elsewhere"))
    assert other is not None and references.target(units, other) is None


def test_the_engine_takes_a_tag_naming_a_strip_reference_as_that_reference(tmp_path: Path) -> None:
    units = references.added((), picture(), "hand.png")
    _, tags = parse_image_tags("fix it {image:hand} {image:hand.png:1}")
    assert units_from_tags(tags, units, tmp_path) == ()  # no file read: the attached unit runs as it is
    _, contradicting = parse_image_tags("{image:hand:0.5}")
    with pytest.raises(RequestError, match="weight 1"):
        units_from_tags(contradicting, units, tmp_path)
    _, missing = parse_image_tags("{image:foot}")
    with pytest.raises(RequestError, match="not found"):
        units_from_tags(missing, units, tmp_path)


def test_pose_from_reference_needs_a_mask_then_adds_a_pose_unit_and_inpaints_only_masked() -> None:
    studio = StudioModel(Request(inpaint_area=InpaintArea.whole))
    messages: list[str] = []
    studio.message.connect(messages.append)
    with pytest.raises(RequestError, match="paint a mask"):
        references.pose_from_reference(studio, picture(), "photo.png")
    assert studio.get("controls") == ()
    studio.set_canvas((64, 64), has_mask=True)
    index = references.pose_from_reference(studio, picture(), "photo.png")
    unit = studio.get("controls")[index]
    assert references.kind_of(unit) == "pose" and unit.module == "openpose" and unit.image == picture()
    assert studio.get("inpaint_area") is InpaintArea.only_masked and "{image:photo}" in messages[-1]


def test_references_round_trip_through_the_serializer_and_reuse() -> None:
    units = references.edited(references.added((), picture(), "hand.png"), 0, weight=0.7, guidance_start=0.1)
    studio = StudioModel(Request(prompt="a hand {image:hand}", controls=units))
    text = schema.dumps(studio.parameters, images="base64")
    again = StudioModel()
    again.reuse(schema.loads(text)[0])
    assert again.parameters == studio.parameters and again.get("controls")[0].image == picture()
    stored = {u.image.sha256: u.image for u in units if u.image is not None}
    by_hash = schema.loads(schema.dumps(studio.parameters), resolve_image=stored.get)[0]
    assert by_hash.controls == units  # hashes only, resolved from a store (the gallery, the autosave)
    assert ControlUnit.from_dict(units[0].to_dict()) == units[0]


def test_preview_is_the_preprocessed_picture() -> None:
    unit = references.added((), picture(), "bar.png", "canny")[0]
    made = references.preview(unit)
    assert made is not None and made.getextrema()[0] == (0, 255)  # edges found
    assert references.preview(ControlUnit()) is None
    assert (
        references.preview(ControlUnit(image=unit.image, module="none")) is None
    )  # no preprocessor: the picture is used as it is
