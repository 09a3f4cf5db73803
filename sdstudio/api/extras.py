"""A1111's upscaling endpoints: /sdapi/v1/upscalers, /latent-upscale-modes and /extra-single-image."""

from __future__ import annotations

import dataclasses
import io
import threading
from typing import Any

from fastapi import FastAPI
from pydantic import ConfigDict, create_model

from sdstudio.api import convert
from sdstudio.core.hires import LATENT_MODES
from sdstudio.core.upscale import all_upscalers
from sdstudio.core.upscale.extras import ExtrasUpscale, extras_upscale

# A1111's body: the ExtrasUpscale fields (same names and defaults) and the picture; face restoration is ignored
ExtrasSingleImageBody = create_model(  # type: ignore[call-overload]
    "ExtrasSingleImageBody",
    __config__=ConfigDict(extra="ignore"),
    image=(str, ""),
    **{f.name: (type(f.default), f.default) for f in dataclasses.fields(ExtrasUpscale)},
)


def register(app: FastAPI, guard: list[Any], library: Any, limits: convert.Limits) -> None:
    """Add the upscaling routes to `app` (one upscale at a time, beside the generation queue)."""
    busy = threading.Lock()

    @app.get("/sdapi/v1/upscalers", dependencies=guard)
    def upscalers() -> list[dict[str, Any]]:
        return [
            {
                "name": u.name,
                "model_name": u.path.rsplit("/", 1)[-1] if u.path else None,
                "model_path": u.path or None,
                "model_url": None,
                "scale": u.scale,
            }
            for u in all_upscalers(library)
        ]

    @app.get("/sdapi/v1/latent-upscale-modes", dependencies=guard)
    def latent_upscale_modes() -> list[dict[str, Any]]:
        return [{"name": name} for name in LATENT_MODES]

    @app.post("/sdapi/v1/extra-single-image", dependencies=guard)
    def extra_single_image(body: ExtrasSingleImageBody) -> dict[str, Any]:  # type: ignore[valid-type]
        from sdstudio.core.engine import pick_device

        picture = convert.decode_image(body.image, "image", limits).to_pil()
        settings = ExtrasUpscale(**{f.name: getattr(body, f.name) for f in dataclasses.fields(ExtrasUpscale)})
        settings.validate(picture.width, picture.height, limits.max_output_pixels)
        with busy:
            out = extras_upscale(picture, settings, library, pick_device())
        buf = io.BytesIO()
        out.save(buf, format="PNG")
        return {
            "html_info": f"<p>{out.width}x{out.height}, {settings.upscaler_1}</p>",
            "image": convert.png_b64(buf.getvalue()),
        }
