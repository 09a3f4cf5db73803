"""Outpainting: the picture on a larger canvas, the new border filled (edge colours stretched out and blurred,
with noise; or plain noise, as A1111's "fill" and "latent noise"), and an inpaint request whose mask covers
the border plus a band of the original, so the seam is repainted and blended while the rest stays as it was."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sdstudio.core.request import MAX_SIDE, InpaintArea, InputImage, Mode, Request, RequestError

if TYPE_CHECKING:
    from PIL.Image import Image

GRID = 8
FILLS = ("fill", "noise")


@dataclass(frozen=True)
class Outpaint:
    """How far to extend each side, in pixels; right and bottom grow to keep the size on the latent grid."""

    left: int = 0
    top: int = 0
    right: int = 0
    bottom: int = 0
    fill: str = "fill"  # "fill": edge colours stretched out and blurred, with noise; "noise": noise only
    blend: int = 32  # pixels of the original repainted along each new edge, so the seam blends

    @classmethod
    def parse(cls, text: str, *, fill: str = "fill", blend: int = 32) -> Outpaint:
        """`"left,top,right,bottom"` in pixels (the CLI's --outpaint)."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 4 or not all(p.isdigit() for p in parts):
            raise RequestError(
                "outpaint", f"{text!r}: give four pixel counts, left,top,right,bottom (e.g. 0,0,256,0)"
            )
        left, top, right, bottom = (int(p) for p in parts)
        return cls(left, top, right, bottom, fill, blend)

    def sides(self) -> tuple[int, int, int, int]:
        return self.left, self.top, self.right, self.bottom

    def canvas(self, width: int, height: int) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
        """The new canvas size (multiples of 8) and where the original lies on it."""
        w, h = width + self.left + self.right, height + self.top + self.bottom
        w, h = -(-w // GRID) * GRID, -(-h // GRID) * GRID
        return (w, h), (self.left, self.top, self.left + width, self.top + height)

    def validate(self, width: int, height: int) -> None:
        if any(v < 0 for v in self.sides()) or not any(self.sides()):
            raise RequestError("outpaint", "extend at least one side by a positive number of pixels")
        if self.fill not in FILLS:
            raise RequestError("outpaint", f"unknown fill {self.fill!r}; use {' or '.join(FILLS)}")
        if not 0 <= self.blend <= 256:
            raise RequestError("outpaint", f"blend {self.blend} is out of range; use 0 to 256 pixels")
        (w, h), _ = self.canvas(width, height)
        if max(w, h) > MAX_SIDE:
            raise RequestError(
                "outpaint", f"the extended picture would be {w}x{h}; keep each side up to {MAX_SIDE}"
            )


def extend(image: Image, plan: Outpaint, seed: int = 0) -> tuple[Image, Image]:
    """The picture on its new canvas with the border filled, and the mask (white: to paint) over the border
    and `plan.blend` pixels of the original along each extended side."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    rgb = image.convert("RGB")
    plan.validate(rgb.width, rgb.height)
    (w, h), (x0, y0, x1, y1) = plan.canvas(rgb.width, rgb.height)
    rng = np.random.default_rng(seed)
    pixels = np.asarray(rgb)
    pad = ((y0, h - y1), (x0, w - x1), (0, 0))
    if plan.fill == "noise":
        filled = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    else:  # edge colours stretched outwards, blurred so no streaks remain, then noise for the sampler
        stretched = Image.fromarray(np.pad(pixels, pad, mode="edge"))
        blurred = np.asarray(
            stretched.filter(ImageFilter.GaussianBlur(max(8, max(plan.sides()) // 4))), np.int16
        )
        filled = np.clip(blurred + rng.normal(0, 24, blurred.shape), 0, 255).astype(np.uint8)
    canvas = Image.fromarray(filled, "RGB")
    canvas.paste(rgb, (x0, y0))
    mask = Image.new("L", (w, h), 255)
    keep = (
        x0 + (plan.blend if plan.left else 0),
        y0 + (plan.blend if plan.top else 0),
        x1 - (plan.blend if plan.right or w > x1 else 0),
        y1 - (plan.blend if plan.bottom or h > y1 else 0),
    )
    if keep[0] < keep[2] and keep[1] < keep[3]:
        ImageDraw.Draw(mask).rectangle((keep[0], keep[1], keep[2] - 1, keep[3] - 1), fill=0)
    return canvas, mask


def outpaint_request(base: Request, image: Image, plan: Outpaint) -> Request:
    """An inpaint request painting the extended border of `image` at the new canvas's size."""
    canvas, mask = extend(image, plan, max(base.seed, 0))
    return base.replace(
        mode=Mode.inpaint,
        init_image=InputImage.from_pil(canvas),
        mask=InputImage.from_pil(mask),
        width=canvas.width,
        height=canvas.height,
        inpaint_area=InpaintArea.whole,
    ).validate()
