"""Upscaling a picture to a size with a named upscaler (A1111's Extras and hires fix)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from sdstudio.core.upscale.registry import Upscaler

if TYPE_CHECKING:
    from PIL.Image import Image


MAX_MODEL_PASSES = 3  # as A1111: run the model again while the picture is still smaller than the target


def upscale_image(
    image: Image,
    width: int,
    height: int,
    upscaler: Upscaler,
    device: str = "cpu",
    tile: int = 256,
    on_tile: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> Image:
    """`image` (PIL) at width x height: a model upscales (in tiles, repeatedly while too small), then Lanczos
    brings it to the exact size; "Nearest" keeps hard pixels; "None" and "Lanczos" resize with Lanczos."""
    from PIL import Image

    image = image.convert("RGB")
    if upscaler.is_model:
        from sdstudio.core.upscale.model import load_upscaler, run_tiled

        model = load_upscaler(upscaler.path, device)
        for _ in range(MAX_MODEL_PASSES):
            if image.width >= width and image.height >= height:
                break
            image = run_tiled(model, image, tile, on_tile=on_tile, cancel=cancel)
    if image.size == (width, height):
        return image
    method = Image.Resampling.NEAREST if upscaler.name == "Nearest" else Image.Resampling.LANCZOS
    return image.resize((width, height), method)
