"""Preprocessors, as the A1111 ControlNet extension's: the control map a unit feeds its ControlNet.

Without a model: canny: OpenCV's Canny edge detector with the unit's low/high thresholds (threshold_a/threshold_b)
at processor_res; scribble/lineart: a drawing as white lines on black (dark-on-light drawings are inverted),
binarised at threshold_a; invert: the picture inverted; threshold: binarised at threshold_a; none: as is;
tile_resample: the picture down-sampled by threshold_a (OpenCV area interpolation; below 1.1 as is);
inpaint_only / inpaint_global_harmonious: the picture with its mask as alpha (the ControlNet sees the masked
pixels as -1, inject.py). Tile and inpaint work on the picture at its own size, as A1111's.
With a preprocessor model (annotators.py; maps cached on disk): depth_anything (depth.py), openpose (pose.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image

    from sdstudio.core.control.annotators import Annotators
    from sdstudio.core.control.unit import ControlUnit, ResizeMode


def _rgb(image: Image) -> np.ndarray:
    import numpy as np

    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _canny(image: Image, unit: ControlUnit) -> np.ndarray:
    import cv2

    return cv2.Canny(_rgb(image), int(unit.threshold_a), int(unit.threshold_b))


def _lines(image: Image, unit: ControlUnit) -> np.ndarray:
    import numpy as np

    grey = np.asarray(image.convert("L"), dtype=np.uint8)
    if grey.mean() > 127:  # dark lines on a light background: ControlNets expect white lines on black
        grey = 255 - grey
    return np.where(grey > int(unit.threshold_a), 255, 0).astype(np.uint8)


def _invert(image: Image, unit: ControlUnit) -> np.ndarray:
    return 255 - _rgb(image)


def _threshold(image: Image, unit: ControlUnit) -> np.ndarray:
    import numpy as np

    grey = np.asarray(image.convert("L"), dtype=np.uint8)
    return np.where(grey > int(unit.threshold_a), 255, 0).astype(np.uint8)


def _tile_resample(image: Image, unit: ControlUnit) -> np.ndarray:
    import cv2

    rgb = _rgb(image)
    if unit.threshold_a < 1.1:
        return rgb
    h, w = rgb.shape[:2]
    size = (max(1, int(w / unit.threshold_a)), max(1, int(h / unit.threshold_a)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _inpaint(image: Image, unit: ControlUnit) -> np.ndarray:
    """RGBA: the picture and its mask, alpha 255 where it is repainted (an RGB picture: nowhere)."""
    import numpy as np

    rgba = np.zeros((image.height, image.width, 4), dtype=np.uint8)
    rgba[..., :3] = _rgb(image)
    if image.mode == "RGBA":
        rgba[..., 3] = np.where(np.asarray(image.getchannel("A")) > 127, 255, 0)
    return rgba


INPAINT_MODULES = ("inpaint_only", "inpaint_global_harmonious")
OWN_SIZE = ("tile_resample", *INPAINT_MODULES)  # work on the picture as given, not at processor_res

# module name -> the map from the picture at processor_res (None: the picture as is)
MODULES: dict[str, Callable[[Image, ControlUnit], np.ndarray] | None] = {
    "none": None,
    "canny": _canny,
    "scribble": _lines,
    "lineart": _lines,
    "invert": _invert,
    "threshold": _threshold,
    "tile_resample": _tile_resample,
    "inpaint_only": _inpaint,
    "inpaint_global_harmonious": _inpaint,
}


def _depth(image: Image, unit: ControlUnit, annotators: Annotators) -> np.ndarray:
    from sdstudio.core.control.depth import depth_map

    return depth_map(image, unit, annotators)


def _openpose(image: Image, unit: ControlUnit, annotators: Annotators) -> np.ndarray:
    from sdstudio.core.control.pose import openpose_map

    return openpose_map(image, unit, annotators)


# module name -> (the kind of preprocessor model it needs, the map from the picture at processor_res)
MODEL_MODULES: dict[str, tuple[str, Callable[[Image, ControlUnit, Annotators], np.ndarray]]] = {
    "depth_anything": ("depth", _depth),
    "openpose": ("pose", _openpose),
}
# what a ControlNet for a module is called (a module's ControlNet is found by this word in its name)
MODEL_WORDS: dict[str, str] = {"depth_anything": "depth"}


def module_names() -> list[str]:
    """Every preprocessor a unit may name, as /controlnet/module_list lists them."""
    return [*MODULES, *MODEL_MODULES]


def work_picture(image: Image, unit: ControlUnit, size: tuple[int, int]) -> Image:
    """The picture a preprocessor works on: its short side at processor_res (pixel perfect: at the short side
    of the generation `size`)."""
    from PIL import Image

    short = min(size) if unit.pixel_perfect else unit.processor_res
    scale = short / min(image.size)
    if scale == 1.0:
        return image
    work = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(work, Image.Resampling.BICUBIC if scale > 1 else Image.Resampling.BOX)


def preprocess(
    image: Image, unit: ControlUnit, size: tuple[int, int], annotators: Annotators | None = None
) -> Image:
    """The unit's preprocessor applied to a PIL picture: an RGB PIL map (at processor_res, or for pixel
    perfect at the short side of `size`, the picture's width and height); RGBA for the inpaint modules, whose
    picture carries its mask as alpha. Modules with a model need `annotators` (the library's preprocessor
    models); their maps come from its disk cache when there."""
    from PIL import Image

    run = MODULES.get(unit.module)
    if unit.module in OWN_SIZE:
        assert run is not None
        out = Image.fromarray(run(image, unit))
        return out if out.mode == "RGBA" else out.convert("RGB")
    image = image.convert("RGB")
    if run is None and unit.module not in MODEL_MODULES:
        return image
    image = work_picture(image, unit, size)
    if run is not None:
        return Image.fromarray(run(image, unit)).convert("RGB")
    if annotators is None:
        raise ValueError(f"the {unit.module} preprocessor needs the library's preprocessor models")
    kind, with_model = MODEL_MODULES[unit.module]
    return annotators.run_cached(kind, unit.module, image, lambda: with_model(image, unit, annotators))


def shown(image: Image) -> Image:
    """A map as an RGB picture: an inpaint map's repainted pixels black (its ControlNet sees -1 there)."""
    from PIL import Image

    if image.mode != "RGBA":
        return image
    black = Image.new("RGB", image.size, (0, 0, 0))
    return Image.composite(black, image.convert("RGB"), image.getchannel("A"))


def fit(image: Image, size: tuple[int, int], mode: ResizeMode) -> Image:
    """A map fitted to (width, height) by A1111's resize mode: stretch, cover and crop, or fit and pad black.
    An RGBA map's alpha (an inpaint mask) stays binary."""
    from PIL import Image

    from sdstudio.core.control.unit import ResizeMode

    if image.size == size:
        return image
    if image.mode == "RGBA":
        rgb, alpha = fit(image.convert("RGB"), size, mode), fit(image.getchannel("A"), size, mode)
        rgb.putalpha(alpha.point(lambda v: 255 if v > 127 else 0))
        return rgb
    if mode is ResizeMode.just_resize:
        return image.resize(size, Image.Resampling.LANCZOS)
    w, h = size
    cover = mode is ResizeMode.crop_and_resize
    scale = (max if cover else min)(w / image.width, h / image.height)
    scaled = image.resize(
        (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.LANCZOS
    )
    if cover:
        left, top = (scaled.width - w) // 2, (scaled.height - h) // 2
        return scaled.crop((left, top, left + w, top + h))
    canvas = Image.new(image.mode, size, 0)
    canvas.paste(scaled, ((w - scaled.width) // 2, (h - scaled.height) // 2))
    return canvas


def control_map(
    image: Image, unit: ControlUnit, size: tuple[int, int], annotators: Annotators | None = None
) -> Image:
    """What the unit's ControlNet sees: the preprocessed picture fitted to the generation size."""
    return fit(preprocess(image, unit, size, annotators), size, unit.resize_mode)
