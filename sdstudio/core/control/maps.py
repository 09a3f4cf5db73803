"""A unit's control map for whoever shows it (the window's reference strip, /controlnet/detect): the same map
the engine feeds the ControlNet, from the same preprocessor models and disk cache."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sdstudio.core.request import RequestError

if TYPE_CHECKING:
    from PIL.Image import Image

    from sdstudio.core.control.annotators import Annotators
    from sdstudio.core.control.unit import ControlUnit
    from sdstudio.core.protocols import Library
    from sdstudio.core.request import InputImage


def annotators_for(library: Library, device: str | None = None) -> Annotators:
    """The library's preprocessor models on `device` (None: the settings' device, else CUDA, MPS or CPU)."""
    from sdstudio.core.control.annotators import Annotators

    if device is None:
        from sdstudio.core.engine.model import pick_device

        device = pick_device(library.settings.device or None)
    return Annotators(library, device)


def control_map_for(
    unit: ControlUnit,
    size: tuple[int, int],
    library: Library,
    device: str | None = None,
    *,
    init: InputImage | None = None,
    fitted: bool = True,
) -> Image:
    """The RGB PIL map of `unit` for a (width, height) picture: fitted to `size` by the unit's resize mode
    (what the ControlNet sees), or with fitted=False the preprocessor's own output. The unit's picture, else
    `init` (the canvas picture). May load a preprocessor model: call it off the GUI thread.
    Raises RequestError (no picture, bad unit) or ModelError (a missing preprocessor model, naming where)."""
    from sdstudio.core.control.preprocess import INPAINT_MODULES, fit, preprocess, shown

    unit.validate(0)
    picture = unit.image or init
    if picture is None:
        raise RequestError(
            "controls[0].image", "no reference picture; give one or put a picture on the canvas"
        )
    annotators = annotators_for(library, device)
    image = picture.to_pil()
    if unit.module in INPAINT_MODULES and unit.mask is not None:  # the repainted pixels as alpha
        image = image.convert("RGB")
        image.putalpha(unit.mask.to_pil().convert("L").resize(image.size))
    out = preprocess(image, unit, size, annotators)
    return shown(fit(out, size, unit.resize_mode) if fitted else out)
