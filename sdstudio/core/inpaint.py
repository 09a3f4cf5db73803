"""Inpainting geometry: mask blur, the "only masked" crop box, and the feathered paste-back."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

GRID = 8  # latent grid in pixels


def prepare_mask(mask: Image, blur: int) -> Image:
    """Mask as 8-bit L, blurred (feathered) by `blur` pixels as A1111 does."""
    from PIL import ImageFilter

    if mask.mode in ("RGBA", "LA"):
        alpha = mask.getchannel("A")
        # A painted mask with transparency: opaque pixels are masked.
        mask = alpha if alpha.getextrema() != (255, 255) else mask.convert("L")
    mask = mask.convert("L")
    if blur > 0:
        mask = mask.filter(ImageFilter.GaussianBlur(blur))
    return mask


def crop_box(mask: Image, padding: int, target_w: int, target_h: int) -> tuple[int, int, int, int] | None:
    """Box around the mask, padded, grown to the target's aspect ratio and aligned to the latent grid.

    Returns (left, top, right, bottom) inside the image, or None when the mask is empty.
    """
    bbox = mask.point(lambda v: 255 if v > 0 else 0).getbbox()
    if bbox is None:
        return None
    w_img, h_img = mask.size
    x1, y1, x2, y2 = bbox
    x1, y1, x2, y2 = x1 - padding, y1 - padding, x2 + padding, y2 + padding
    # 1. grow the short side to the target aspect ratio
    ratio = target_w / target_h
    bw, bh = x2 - x1, y2 - y1
    if bw / bh < ratio:
        grow = round(bh * ratio) - bw
        x1, x2 = x1 - grow // 2, x2 + grow - grow // 2
    else:
        grow = round(bw / ratio) - bh
        y1, y2 = y1 - grow // 2, y2 + grow - grow // 2
    # 2. align outward to the latent grid
    x1, y1 = (x1 // GRID) * GRID, (y1 // GRID) * GRID
    x2, y2 = -(-x2 // GRID) * GRID, -(-y2 // GRID) * GRID
    # 3. shift inside the image, then clip what still overflows
    for lo, hi, size in ((0, 2, w_img), (1, 3, h_img)):
        box = [x1, y1, x2, y2]
        if box[hi] - box[lo] >= size:
            box[lo], box[hi] = 0, size
        elif box[lo] < 0:
            box[lo], box[hi] = 0, box[hi] - box[lo]
        elif box[hi] > size:
            box[lo], box[hi] = box[lo] - (box[hi] - size), size
        x1, y1, x2, y2 = box
    return x1, y1, x2, y2


def paste_back(
    original: Image, generated: Image, mask: Image, box: tuple[int, int, int, int] | None = None
) -> Image:
    """Blend `generated` (covering `box`, or the whole picture) into `original` through the feathered mask.

    Where the mask is 0 the result is bit-identical to the original.
    """
    from PIL import Image

    original = original.convert("RGB")
    if box is None:
        box = (0, 0, original.width, original.height)
    region = (box[2] - box[0], box[3] - box[1])
    if generated.size != region:
        generated = generated.resize(region, Image.Resampling.LANCZOS)
    out = original.copy()
    patch = Image.composite(generated.convert("RGB"), original.crop(box), mask.crop(box))
    out.paste(patch, box[:2])
    return out
