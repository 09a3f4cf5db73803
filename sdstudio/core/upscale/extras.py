"""A1111's Extras upscale: by a factor or to a size (optionally cropped), with a second upscaler blended in."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sdstudio.core.request import MAX_SIDE, RequestError
from sdstudio.core.upscale.registry import find_upscaler
from sdstudio.core.upscale.run import upscale_image

if TYPE_CHECKING:
    from PIL.Image import Image

    from sdstudio.core.protocols import Library


@dataclass(frozen=True)
class ExtrasUpscale:
    """The Extras tab's upscale settings, A1111's names and meanings."""

    upscaler_1: str = "None"
    upscaler_2: str = "None"
    extras_upscaler_2_visibility: float = 0.0
    resize_mode: int = 0  # 0: by upscaling_resize; 1: to upscaling_resize_w x upscaling_resize_h
    upscaling_resize: float = 2.0
    upscaling_resize_w: int = 512
    upscaling_resize_h: int = 512
    upscaling_crop: bool = True

    def target(self, width: int, height: int) -> tuple[tuple[int, int], tuple[int, int] | None]:
        """The upscaled size, and the size it is centre-cropped to (None: no crop)."""
        if self.resize_mode == 1:
            by = max(self.upscaling_resize_w / width, self.upscaling_resize_h / height)
            crop = (self.upscaling_resize_w, self.upscaling_resize_h) if self.upscaling_crop else None
        else:
            by, crop = self.upscaling_resize, None
        return (round(width * by), round(height * by)), crop

    def validate(self, width: int, height: int, max_pixels: int = MAX_SIDE * MAX_SIDE) -> None:
        if self.resize_mode not in (0, 1):
            raise RequestError("resize_mode", f"{self.resize_mode} is not 0 (scale by) or 1 (scale to)")
        if self.resize_mode == 0 and not 1.0 <= self.upscaling_resize <= 8.0:
            raise RequestError("upscaling_resize", f"{self.upscaling_resize} is out of range; use 1 to 8")
        if self.resize_mode == 1 and min(self.upscaling_resize_w, self.upscaling_resize_h) < 1:
            raise RequestError("upscaling_resize_w", "give a width and a height of at least 1 pixel")
        if not 0.0 <= self.extras_upscaler_2_visibility <= 1.0:
            raise RequestError("extras_upscaler_2_visibility", "out of range; use 0 to 1")
        (w, h), crop = self.target(width, height)
        w, h = crop or (w, h)
        if w * h > max_pixels or max(w, h) > 4 * MAX_SIDE:
            raise RequestError("upscaling_resize", f"{w}x{h} is over the limit of {max_pixels:,} pixels")


def extras_upscale(
    image: Image,
    settings: ExtrasUpscale,
    library: Library,
    device: str = "cpu",
    on_tile: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> Image:
    """`image` (PIL) upscaled as A1111's Extras tab does it."""
    from PIL import Image

    first = find_upscaler(settings.upscaler_1, library, "upscaler_1")
    second = find_upscaler(settings.upscaler_2, library, "upscaler_2")
    settings.validate(image.width, image.height)
    size, crop = settings.target(image.width, image.height)
    out = upscale_image(image, *size, first, device, on_tile=on_tile, cancel=cancel)
    if second.name != "None" and settings.extras_upscaler_2_visibility > 0:
        other = upscale_image(image, *size, second, device, on_tile=on_tile, cancel=cancel)
        out = Image.blend(out, other, settings.extras_upscaler_2_visibility)
    if crop is not None and out.size != crop:
        left, top = (out.width - crop[0]) // 2, (out.height - crop[1]) // 2
        out = out.crop((left, top, left + crop[0], top + crop[1]))
    return out
