"""The A1111 ControlNet extension's API over sdstudio's ControlNet units: `alwayson_scripts: {"controlnet":
{"args": [unit, ...]}}` with webuiapi's `ControlNetUnit` fields, `/controlnet/model_list`, `/controlnet/module_list`.
Models resolve in the library only; a prompt's `{image:PATH}` (a file on the server) is refused."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter

from sdstudio.api.convert import Limits, decode_image
from sdstudio.api.schemas import Txt2ImgBody
from sdstudio.core.control import MODULES, ControlUnit, parse_image_tags
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
    if raw.get("mask") not in (None, ""):
        raise RequestError(f"{where}.mask", "per-unit masks are not supported yet; leave mask empty")
    picture = raw.get("image") or raw.get("input_image")
    if isinstance(picture, dict):  # older extension: {"image": b64, "mask": b64}
        picture = picture.get("image")
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
        )
        if k in raw
    }
    try:
        for key, default in DEFAULTS.items():
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
    if picture is not None and not isinstance(picture, str):
        raise RequestError(f"{where}.image", "send the picture as base64 text")
    image = decode_image(picture, f"{where}.image", limits) if picture else None
    return dataclasses.replace(unit, image=image)


def controls_of(body: Txt2ImgBody, limits: Limits) -> tuple[ControlUnit, ...]:
    """The body's enabled ControlNet units."""
    units = (_unit(raw, i, limits) for i, raw in enumerate(_args(body)))
    return tuple(u for u in units if u is not None)


def check(library: Any, request: Request) -> None:
    """Before queueing: no server file named by a prompt tag, and every unit's ControlNet in the library."""
    from sdstudio.core.control.extension import find_controlnet

    _, tags = parse_image_tags(request.prompt)
    if any(t.source for t in tags):
        raise RequestError(
            "prompt", "{image:...} names a file on the server; send the picture as a ControlNet unit"
        )
    for i, unit in enumerate(request.controls):
        find_controlnet(library, unit, i)


def controlnet_router(library: Any) -> APIRouter:
    router = APIRouter()

    @router.get("/controlnet/model_list")
    def model_list() -> dict[str, list[str]]:
        from sdstudio.core.models import Kind

        entries = library.entries(Kind.controlnet)
        return {"model_list": [f"{e.name} [{e.sha256[:8]}]" if e.sha256 else e.name for e in entries]}

    @router.get("/controlnet/module_list")
    def module_list() -> dict[str, list[str]]:
        return {"module_list": list(MODULES)}

    return router
