"""A1111 payloads to sdstudio Requests, and Results back to A1111's response shapes.

Table-driven: OVERRIDES says how each A1111 option a client may set is checked and where it goes,
UNSUPPORTED what happens to a field sdstudio does not implement (a warning in `info`, or a 422).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sdstudio import __version__
from sdstudio.api.schemas import Img2ImgBody, Txt2ImgBody
from sdstudio.core.request import InpaintArea, InputImage, Mode, Request, RequestError, Result, open_image
from sdstudio.core.samplers import DEFAULT_SAMPLER, SAMPLERS, find_sampler


@dataclass
class Limits:
    max_body_bytes: int = 64 * 2**20
    max_image_pixels: int = 4096 * 4096
    max_output_pixels: int = 2048 * 2048
    max_steps: int = 150
    max_images: int = 16
    max_plot_cells: int = 100  # X/Y/Z plot and prompt matrix cells per request
    max_frames: int = 10_000  # frames of one animation (/deforum_api)


@dataclass(frozen=True)
class Option:
    """An A1111 option a client may set (override_settings or POST /options): its type and range."""

    kind: type | tuple[type, ...]
    check: Callable[[Any], bool] = lambda v: True
    expect: str = ""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


OPTIONS: dict[str, Option] = {
    "sd_model_checkpoint": Option(str, expect="a model title from /sdapi/v1/sd-models"),
    "sd_checkpoint_hash": Option((str, type(None))),
    "CLIP_stop_at_last_layers": Option(int, lambda v: _is_int(v) and 1 <= v <= 12, "a whole number 1 to 12"),
    "sd_vae": Option(str, expect="a VAE name, or Automatic"),
    "samples_format": Option(str, expect="a file type such as png"),
    "save_images_add_number": Option(bool, expect="true or false"),
    "outdir_samples": Option(str, expect="a folder"),
    "enable_pnginfo": Option(bool, expect="true or false"),
    "sd_checkpoint_cache": Option(int, _is_int, "a whole number"),
    "eta_noise_seed_delta": Option(int, _is_int, "a whole number"),
    "sdstudio_speed": Option(str, lambda v: v in ("standard", "fast"), "standard or fast"),
}
# Options that change what a job does; any other option sent in override_settings is reported as not applied.
APPLIED = {"sd_model_checkpoint", "CLIP_stop_at_last_layers", "sd_vae", "sdstudio_speed"}


def check_option(key: str, value: Any, where: str) -> None:
    """RequestError naming `where.key` when a known option has the wrong type or range."""
    option = OPTIONS.get(key)
    if option is None:
        return
    if not isinstance(value, option.kind) or (option.kind is int and isinstance(value, bool)):
        raise RequestError(f"{where}.{key}", f"must be {option.expect or option.kind}, not {value!r:.60}")
    if not option.check(value):
        raise RequestError(f"{where}.{key}", f"must be {option.expect}, not {value!r:.60}")


def _set(v: Any) -> bool:
    return bool(v)


def _other_scripts(v: Any) -> list[str]:
    """The always-on scripts named besides ControlNet (which runs: api.controlnet)."""
    return [str(k) for k in v if str(k).lower() != "controlnet"] if isinstance(v, dict) else []


# field -> (is it in use?, refuse with 422?, what to tell the client)
UNSUPPORTED: dict[str, tuple[Callable[[Any], bool], bool, str]] = {
    "restore_faces": (_set, False, "face restoration is not available; faces are as generated"),
    "tiling": (_set, False, "tiling is not available; the picture does not tile"),
    "alwayson_scripts": (_other_scripts, False, "scripts are not run here: {value}"),
}


def decode_image(data: str, what: str, limits: Limits) -> InputImage:
    """Raw base64 or a data URI as an input image."""
    return InputImage.from_bytes(decode_bytes(data, what, limits), what)


def decode_bytes(data: str, what: str, limits: Limits) -> bytes:
    """Raw base64 or a data URI to the file's bytes; the pixel count is checked from the header before decoding."""
    if not isinstance(data, str) or not data:
        raise RequestError(what, "empty image")
    if data.startswith("data:"):
        data = data.split(",", 1)[-1]
    try:
        raw = base64.b64decode(data, validate=False)
    except (ValueError, TypeError):
        raise RequestError(what, "invalid base64") from None
    open_image(raw, what, limits.max_image_pixels).close()  # ImageTooLarge (413) or RequestError (422)
    return raw


# A1111 body fields that are Request fields of the same name and meaning
SAME_FIELDS = (
    "subseed",
    "subseed_strength",
    "seed_resize_from_w",
    "seed_resize_from_h",
    "enable_hr",
    "hr_scale",
    "hr_resize_x",
    "hr_resize_y",
    "hr_second_pass_steps",
)
# (field, default where the body gives None)
DEFAULTED_FIELDS = (("hr_upscaler", "Latent"),)


def _same_fields(body: Txt2ImgBody) -> dict[str, Any]:
    fields = {name: getattr(body, name) for name in SAME_FIELDS}
    fields |= {name: getattr(body, name) or default for name, default in DEFAULTED_FIELDS}
    if body.enable_hr and not isinstance(body, Img2ImgBody) and body.denoising_strength is not None:
        fields["strength"] = body.denoising_strength  # the hires pass's denoising
    return fields


def output_size(req: Request) -> tuple[int, int]:
    """The size of the pictures a request makes (hires fix: the second pass's)."""
    if req.enable_hr:
        from sdstudio.core.hires import hires_plan

        return hires_plan(req.width, req.height, req.hr_scale, req.hr_resize_x, req.hr_resize_y).size
    return req.width, req.height


def _sampler(body: Txt2ImgBody) -> str:
    name = body.sampler_name or body.sampler_index or DEFAULT_SAMPLER
    try:
        found = find_sampler(name, body.scheduler)
    except ValueError as e:
        raise RequestError("scheduler", str(e)) from None
    if found is None:
        raise RequestError("sampler_name", f"unknown sampler {name!r}; known: {', '.join(SAMPLERS)}")
    return found.name


def _styles(body: Txt2ImgBody) -> tuple[str, ...]:
    if not body.styles:
        return ()
    from sdstudio.core.prompt import all_styles

    try:
        known = all_styles()
    except ValueError as e:
        raise RequestError("styles", f"the styles file cannot be read ({e})") from None
    unknown = [s for s in body.styles if s not in known]
    if unknown:
        raise RequestError("styles", f"unknown style {unknown[0]!r}; known: {', '.join(known)}")
    return tuple(body.styles)


def warnings_for(body: Txt2ImgBody) -> list[str]:
    """What the client asked for that this server does not do (a 422 for what it must not pretend)."""
    out = []
    for name, (in_use, refuse, text) in UNSUPPORTED.items():
        value = getattr(body, name, None)
        used = in_use(value)
        if used:
            message = text.format(value=", ".join(used) if isinstance(used, list) else value)
            if refuse:
                raise RequestError(name, message)
            out.append(f"{name}: {message}")
    for key in (body.override_settings or {}).keys() - APPLIED:
        out.append(f"override_settings.{key}: not applied by this server")
    return sorted(out)


def to_request(
    body: Txt2ImgBody, model: str, limits: Limits, resolve: Callable[[str], str], vae: str = ""
) -> Request:
    """The Request for a body; `resolve` turns a client-named checkpoint into a library reference
    (ModelError when it is not in the library); `vae` is the server's sd_vae option (override_settings
    wins). Raises RequestError naming the field."""
    overrides = body.override_settings or {}
    for key, value in overrides.items():
        check_option(key, value, "override_settings")
    if body.width * body.height > limits.max_output_pixels:
        raise RequestError(
            "width",
            f"{body.width}x{body.height} is over this server's limit of {limits.max_output_pixels:,} pixels",
        )
    if body.steps > limits.max_steps:
        raise RequestError("steps", f"{body.steps} is over this server's limit of {limits.max_steps}")
    if body.batch_size * body.n_iter > limits.max_images:
        raise RequestError(
            "batch_size",
            f"{body.batch_size * body.n_iter} images is over this server's limit of {limits.max_images}",
        )
    ckpt = overrides.get("sd_model_checkpoint")
    req = Request(
        prompt=body.prompt,
        negative_prompt=body.negative_prompt,
        steps=body.steps,
        cfg_scale=body.cfg_scale,
        width=body.width,
        height=body.height,
        seed=body.seed,
        batch_size=body.batch_size,
        batch_count=body.n_iter,
        sampler=_sampler(body),
        clip_skip=body.clip_skip or overrides.get("CLIP_stop_at_last_layers") or 1,
        model=resolve(ckpt) if ckpt else model,
        styles=_styles(body),
        **_same_fields(body),
        speed=str(body.sdstudio_speed or overrides.get("sdstudio_speed") or "standard"),
        vae=str(overrides.get("sd_vae") or vae or ""),
    )
    if isinstance(body, Img2ImgBody):
        req = _img2img(body, req, limits)
    from sdstudio.api.controlnet import controls_of

    req = req.replace(controls=controls_of(body, limits)).validate()
    width, height = output_size(req)
    if width * height > limits.max_output_pixels:
        raise RequestError(
            "hr_scale",
            f"the hires size {width}x{height} is over this server's limit of {limits.max_output_pixels:,} pixels",
        )
    return req


def _img2img(body: Img2ImgBody, req: Request, limits: Limits) -> Request:
    from PIL import ImageOps

    if not body.init_images:
        raise RequestError("init_images", "img2img needs at least one init image")
    init = decode_image(body.init_images[0], "init_images", limits)
    changes: dict[str, Any] = {
        "mode": Mode.img2img,
        "init_image": init,
        "strength": body.denoising_strength if body.denoising_strength is not None else 0.75,
    }
    if body.mask:
        mask = decode_image(body.mask, "mask", limits)
        pil = mask.to_pil()
        if pil.mode in ("RGBA", "LA"):  # A1111: alpha of a painted mask
            pil = pil.getchannel("A") if pil.getchannel("A").getextrema() != (255, 255) else pil.convert("L")
        pil = pil.convert("L")
        if body.inpainting_mask_invert:
            pil = ImageOps.invert(pil)
        if pil.size != (init.width, init.height):
            pil = pil.resize((init.width, init.height))
        changes |= {
            "mode": Mode.inpaint,
            "mask": InputImage.from_pil(pil),
            "mask_blur": body.mask_blur
            if body.mask_blur is not None
            else (body.mask_blur_x if body.mask_blur_x is not None else 4),
            "inpaint_area": InpaintArea.only_masked if body.inpaint_full_res else InpaintArea.whole,
            "inpaint_padding": body.inpaint_full_res_padding,
        }
    return req.replace(**changes)


def png_b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def images_response(
    body: Txt2ImgBody, result: Result | None, request: Request, warnings: list[str] = ()
) -> dict[str, Any]:
    """A1111's {"images", "parameters", "info"} with the info JSON string other clients parse;
    `warnings` (what was not done, a failed save) ride along in info."""
    from sdstudio.core.gallery.metadata import hires_params, infotext, png_bytes

    gens = result.images if result else ()
    images = [png_b64(png_bytes(g, result)) for g in gens] if body.send_images and result else []
    r = result.request if result else request
    sampler = SAMPLERS[r.sampler]
    info = {
        "prompt": r.prompt,
        "all_prompts": [g.request.prompt for g in gens],
        "negative_prompt": r.negative_prompt,
        "all_negative_prompts": [g.request.negative_prompt for g in gens],
        "seed": r.seed,
        "all_seeds": [g.seed for g in gens],
        "subseed": r.subseed,
        "all_subseeds": [g.request.subseed for g in gens],
        "subseed_strength": r.subseed_strength,
        "width": r.width,
        "height": r.height,
        "sampler_name": sampler.base,
        "scheduler": sampler.schedule,
        "cfg_scale": r.cfg_scale,
        "steps": r.steps,
        "batch_size": r.batch_size,
        "restore_faces": False,
        "face_restoration_model": None,
        "sd_model_name": result.model_name if result else "",
        "sd_model_hash": result.model_hash if result else "",
        "sd_vae_name": None,
        "sd_vae_hash": None,
        "seed_resize_from_w": r.seed_resize_from_w if r.seed_resize_from_w > 0 else -1,
        "seed_resize_from_h": r.seed_resize_from_h if r.seed_resize_from_h > 0 else -1,
        "denoising_strength": r.strength if r.mode is not Mode.txt2img or r.enable_hr else None,
        "extra_generation_params": {k: v for k, v in hires_params(r).items() if v is not None},
        "index_of_first_image": 0,
        "infotexts": [infotext(g, result) for g in gens] if result else [],
        "styles": list(r.styles),
        "job_timestamp": time.strftime("%Y%m%d%H%M%S"),
        "clip_skip": r.clip_skip,
        "is_using_inpainting_conditioning": False,
        "version": f"sdstudio {__version__}",
        "peak_memory_gib": round(result.peak_memory / 2**30, 2) if result and result.peak_memory else None,
        "warnings": list(warnings),
    }
    parameters = body.model_dump()
    parameters.pop("init_images", None)
    parameters.pop("mask", None)
    return {"images": images, "parameters": parameters, "info": json.dumps(info)}
