"""The A1111 ControlNet extension's API over sdstudio's ControlNet units: `alwayson_scripts: {"controlnet":
{"args": [unit, ...]}}` with webuiapi's `ControlNetUnit` fields, `/controlnet/model_list` (`name [hash]`, A1111's
old short hash), `/controlnet/module_list`, `/controlnet/detect`. Units with an `ip-adapter_*` module are IP-Adapter
references, as in the extension. A unit's `mask` (or `mask_image`, `effective_region_mask`): the inpaint mask of
inpaint modules, else where the unit acts. Models resolve in the library only; a prompt's `{image:PATH}` (a file
on the server) is refused, and `{image:URL}` is fetched only when the server's settings allow network access for
the API."""

from __future__ import annotations

import base64
import dataclasses
import io
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sdstudio.api.convert import Limits, decode_image
from sdstudio.api.schemas import Txt2ImgBody
from sdstudio.core.control import ControlUnit, parse_image_tags, units_from_tags
from sdstudio.core.control.fetch import FetchPolicy, is_url
from sdstudio.core.control.ipadapter import IP_MODULES, is_ip_unit
from sdstudio.core.control.preprocess import MODEL_MODULES, module_names
from sdstudio.core.control.tags import named_unit
from sdstudio.core.control.unit import MODULE_DEFAULTS
from sdstudio.core.errors import ModelError
from sdstudio.core.request import Request, RequestError

DEFAULTS = {"processor_res": 512, "threshold_a": 100.0, "threshold_b": 200.0}  # what A1111 sends as -1


def _args(body: Txt2ImgBody) -> list[Any]:
    scripts = {str(k).lower(): v for k, v in (body.alwayson_scripts or {}).items()}
    found = scripts.get("controlnet")
    if found is None:
        return []
    args = found.get("args") if isinstance(found, dict) else None
    if not isinstance(args, list):
        raise RequestError("alwayson_scripts", 'controlnet takes {"args": [unit, ...]}')
    return args


def _unit(raw: Any, index: int, limits: Limits) -> ControlUnit | None:
    """One webuiapi ControlNetUnit dict as a unit (None: disabled)."""
    where = f"alwayson_scripts.controlnet.args[{index}]"
    if not isinstance(raw, dict):
        raise RequestError(where, "a unit is an object with ControlNetUnit fields")
    if not raw.get("enabled", True):
        return None
    picture = raw.get("image") or raw.get("input_image")
    mask = raw.get("mask") or raw.get("mask_image") or raw.get("effective_region_mask")
    if isinstance(picture, dict):  # older extension: {"image": b64, "mask": b64}
        picture, mask = picture.get("image"), mask or picture.get("mask")
    fields: dict[str, Any] = {
        k: raw[k]
        for k in (
            "module",
            "model",
            "weight",
            "guidance_start",
            "guidance_end",
            "pixel_perfect",
            "resize_mode",
            "control_mode",
            "ip_kind",  # sdstudio's: an IP-Adapter unit's layers (reference, style, composition)
            "hr_option",
        )
        if k in raw
    }
    try:
        for key, default in (DEFAULTS | MODULE_DEFAULTS.get(str(raw.get("module")), {})).items():
            value = raw.get(key, default)
            fields[key] = default if value is None or float(value) < 0 else value
        if (
            raw.get("guessmode") and "control_mode" not in raw
        ):  # webuiapi's old "ControlNet is more important"
            fields["control_mode"] = 2
        for key in ("module", "model"):
            if not isinstance(fields.get(key, ""), str):
                raise ValueError(f"{key} must be a string")
        unit = ControlUnit.from_dict(fields)
    except (TypeError, ValueError) as e:
        raise RequestError(where, str(e)) from None
    for name, value in (("image", picture), ("mask", mask)):
        if value is not None and not isinstance(value, str):
            raise RequestError(f"{where}.{name}", "send the picture as base64 text")
    image = decode_image(picture, f"{where}.image", limits) if picture else None
    mask_image = decode_image(mask, f"{where}.mask", limits) if mask else None
    return dataclasses.replace(unit, image=image, mask=mask_image)


def controls_of(body: Txt2ImgBody, limits: Limits) -> tuple[ControlUnit, ...]:
    """The body's enabled ControlNet units."""
    units = (_unit(raw, i, limits) for i, raw in enumerate(_args(body)))
    return tuple(u for u in units if u is not None)


def check(library: Any, request: Request) -> None:
    """Before queueing: no server file named by a prompt tag, URL references fetched (when the settings allow
    it for the API), every unit's ControlNet (or IP-Adapter and its image encoder) in the library and its
    preprocessor model there."""
    from sdstudio.core.control.annotators import find_annotator
    from sdstudio.core.control.extension import find_controlnet
    from sdstudio.core.control.ip_extension import ip_models

    _, tags = parse_image_tags(request.prompt)
    if any(
        t.source and not is_url(t.source) and named_unit(request.controls, t.source) is None for t in tags
    ):
        raise RequestError(
            "prompt", "{image:...} names a file on the server; send the picture as a ControlNet unit"
        )
    network = FetchPolicy.from_settings(library.settings, api=True)
    units = list(request.controls) + list(units_from_tags(tags, request.controls, network=network))
    for i, unit in enumerate(units):
        if is_ip_unit(unit):
            continue  # ApplyIpAdapter finds those below
        find_controlnet(library, unit, i)
        if unit.module in MODEL_MODULES:
            try:
                find_annotator(MODEL_MODULES[unit.module][0], library)
            except ModelError as e:
                raise RequestError(f"controls[{i}].module", str(e)) from None
    ip_models(library, request, [(i, u) for i, u in enumerate(units) if is_ip_unit(u)])


class DetectBody(BaseModel):
    """The A1111 ControlNet extension's /controlnet/detect body."""

    controlnet_module: str = "none"
    controlnet_input_images: list[str] = Field(default_factory=list)
    controlnet_masks: list[str] | None = None
    controlnet_processor_res: int = 512
    controlnet_threshold_a: float = 64
    controlnet_threshold_b: float = 64
    low_vram: bool = False


class DetectResponse(BaseModel):
    images: list[str]
    info: str
    poses: list[dict[str, Any]] | None = None  # openpose: each picture's people as OpenPose JSON (as A1111's)


def detect(library: Any, body: DetectBody, limits: Limits) -> DetectResponse:
    """Each input picture through the module's preprocessor at processor_res: base64 PNG maps, as A1111's."""
    from sdstudio.core.control.maps import annotators_for
    from sdstudio.core.control.preprocess import preprocess

    # 1. the module and its parameters (A1111 sends -1 for "the module's default")
    if body.controlnet_module not in module_names():
        raise RequestError(
            "controlnet_module",
            f"unknown preprocessor {body.controlnet_module!r}; use one of /controlnet/module_list",
        )
    if not body.controlnet_input_images:
        raise RequestError("controlnet_input_images", "no picture sent; send a list of base64 pictures")
    if len(body.controlnet_input_images) > limits.max_images:
        raise RequestError("controlnet_input_images", f"at most {limits.max_images} pictures at once")
    values = {
        "processor_res": body.controlnet_processor_res,
        "threshold_a": body.controlnet_threshold_a,
        "threshold_b": body.controlnet_threshold_b,
    }
    fields = {k: DEFAULTS[k] if v is None or v < 0 else v for k, v in values.items()}
    try:
        unit = ControlUnit(module=body.controlnet_module, **fields).validate(0)
    except RequestError as e:
        raise RequestError("controlnet_" + e.field.split(".")[-1], e.message) from None
    # 2. every picture decoded before any model runs
    pictures = [
        decode_image(text, f"controlnet_input_images[{i}]", limits)
        for i, text in enumerate(body.controlnet_input_images)
    ]
    annotators = None
    if unit.module in MODEL_MODULES:
        from sdstudio.core.control.annotators import find_annotator

        try:
            find_annotator(MODEL_MODULES[unit.module][0], library)
        except ModelError as e:
            raise RequestError("controlnet_module", str(e)) from None
        annotators = annotators_for(library)
    # 3. the maps, as base64 PNGs (openpose: and the people found, as OpenPose JSON)
    images, poses = [], []
    for picture in pictures:
        image = picture.to_pil().convert("RGB")
        if unit.module == "openpose":
            out, pose = _openpose(image, unit, annotators)
            poses.append(pose)
        else:
            out = preprocess(image, unit, image.size, annotators)
        buf = io.BytesIO()
        out.save(buf, format="PNG")
        images.append(base64.b64encode(buf.getvalue()).decode("ascii"))
    return DetectResponse(images=images, info="Success", poses=poses if unit.module == "openpose" else None)


def _openpose(image: Any, unit: ControlUnit, annotators: Any) -> tuple[Any, dict[str, Any]]:
    """The openpose map and its people (pixel coordinates of the map, confidence 1 or 0 per point)."""
    from PIL import Image

    from sdstudio.core.control.pose import estimate_people
    from sdstudio.core.control.preprocess import work_picture
    from sdstudio.core.control.skeleton import draw_openpose, openpose_json

    work = work_picture(image, unit, image.size)
    people = [p.points() for p in estimate_people(work, annotators)]
    return Image.fromarray(draw_openpose(work.size, people)), openpose_json(work.size, people)


def controlnet_router(library: Any, limits: Limits) -> APIRouter:
    router = APIRouter()

    @router.get("/controlnet/model_list")
    def model_list() -> dict[str, list[str]]:
        from sdstudio.core.control.loading import listed_name
        from sdstudio.core.models import Kind

        entries = library.entries(Kind.controlnet) + library.entries(Kind.ip_adapter)  # as A1111 lists them
        return {"model_list": [listed_name(e) for e in entries]}

    @router.get("/controlnet/module_list")
    def module_list() -> dict[str, list[str]]:
        return {"module_list": [*module_names(), *IP_MODULES]}

    @router.post("/controlnet/detect", response_model=DetectResponse, response_model_exclude_none=True)
    def detect_route(body: DetectBody) -> DetectResponse:  # a thread of the pool: models run off the loop
        return detect(library, body, limits)

    return router
