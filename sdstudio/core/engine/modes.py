"""Mode strategies: what each mode feeds the pipeline and how a raw output becomes the result.

A mode knows nothing of the denoise loop; features that act on every mode are extensions (see hooks.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from sdstudio.core.inpaint import crop_box, paste_back, prepare_mask
from sdstudio.core.jsontypes import Kwargs
from sdstudio.core.request import InpaintArea, Mode, Request, RequestError

if TYPE_CHECKING:
    from PIL.Image import Image

Box = tuple[int, int, int, int]


def _same(image: Image) -> Image:
    return image


@dataclass
class ModeInputs:
    """Pipeline keyword arguments for a mode, and how to turn one raw output picture into the result."""

    kwargs: Kwargs
    compose: Callable[[Image], Image] = _same
    preview_box: Box | None = None  # where the rendered picture lies in the result (only masked)
    source: Image | None = field(default=None, repr=False)  # the init picture at full size (None for txt2img)


class ModeStrategy(Protocol):
    """One generation mode: the pipeline kind it runs on and the inputs it gives it."""

    kind: str  # "txt2img", "img2img" or "inpaint": which pipeline (LoadedModel.pipeline) runs it

    def inputs(self, request: Request) -> ModeInputs: ...


def _size(request: Request) -> tuple[int, int]:
    return request.width, request.height


def _init(request: Request) -> Image:
    assert request.init_image is not None  # Request.validate() guarantees it outside txt2img
    return request.init_image.to_pil().convert("RGB")


def _fit(image: Image, size: tuple[int, int]) -> Image:
    from PIL import Image

    return image.resize(size, Image.Resampling.LANCZOS) if image.size != size else image


class Txt2Img:
    kind = "txt2img"

    def inputs(self, request: Request) -> ModeInputs:
        return ModeInputs({"width": request.width, "height": request.height})


class Img2Img:
    kind = "img2img"

    def inputs(self, request: Request) -> ModeInputs:
        init = _fit(_init(request), _size(request))
        return ModeInputs({"image": init, "strength": request.strength}, source=init)


class Inpaint:
    """Inpaint the whole picture: the result is the original with the mask's area repainted."""

    kind = "inpaint"

    def inputs(self, request: Request) -> ModeInputs:
        assert request.mask is not None
        init, size = _init(request), _size(request)
        mask = prepare_mask(request.mask.to_pil(), request.mask_blur)
        init, mask = _fit(init, size), _fit(mask, size)
        kwargs = {"image": init, "mask_image": mask, "strength": request.strength}
        return ModeInputs(
            {**kwargs, "width": size[0], "height": size[1]}, lambda im: paste_back(init, im, mask), None, init
        )


class OnlyMasked:
    """Inpaint only the masked area: a padded box around the mask is rendered at the request's size and
    pasted back into the full picture."""

    kind = "inpaint"

    def inputs(self, request: Request) -> ModeInputs:
        from PIL import Image

        assert request.mask is not None
        init, size = _init(request), _size(request)
        mask = prepare_mask(request.mask.to_pil(), request.mask_blur)
        box = crop_box(mask, request.inpaint_padding, request.width, request.height)
        if box is None:
            raise RequestError("mask", "the mask is empty; paint the area to inpaint")
        crop_img = init.crop(box).resize(size, Image.Resampling.LANCZOS)
        crop_mask = mask.crop(box).resize(size, Image.Resampling.LANCZOS)
        kwargs = {"image": crop_img, "mask_image": crop_mask, "strength": request.strength}
        return ModeInputs(
            {**kwargs, "width": size[0], "height": size[1]},
            lambda im: paste_back(init, im, mask, box),
            box,
            init,
        )


class FullMask:
    """txt2img or img2img on an inpainting model (9-channel UNet): the inpaint pipeline with all masked
    (txt2img starts from a grey picture at strength 1)."""

    kind = "inpaint"

    def __init__(self, mode: Mode):
        self.mode = mode

    def inputs(self, request: Request) -> ModeInputs:
        from PIL import Image

        size = _size(request)
        full = Image.new("L", size, 255)
        if self.mode is Mode.txt2img:
            image, strength = Image.new("RGB", size, (127, 127, 127)), 1.0
        else:
            image, strength = _fit(_init(request), size), request.strength
        kwargs = {"image": image, "mask_image": full, "strength": strength}
        return ModeInputs({**kwargs, "width": size[0], "height": size[1]}, source=image)


def select_mode(request: Request, inpaint_model: bool) -> ModeStrategy:
    """The strategy for the request's mode on a model (`inpaint_model`: a 9-channel inpainting UNet)."""
    if request.mode is Mode.inpaint:
        return OnlyMasked() if request.inpaint_area is InpaintArea.only_masked else Inpaint()
    if inpaint_model:
        return FullMask(request.mode)
    return Txt2Img() if request.mode is Mode.txt2img else Img2Img()
