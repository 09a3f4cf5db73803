"""A ControlNet unit: one reference picture, how it is preprocessed and how strongly it steers the picture.

Field names and values follow the A1111 ControlNet extension's API (webuiapi's `ControlNetUnit`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from sdstudio.core.control.ipadapter import FACE_MODULES, IP_MODULES, IpKind, check_module
from sdstudio.core.jsontypes import JsonObject
from sdstudio.core.request import InputImage, RequestError, fields_to_dict

_E = TypeVar("_E", bound=Enum)


class ControlMode(str, Enum):
    """A1111's control modes (the API also sends them as 0, 1, 2)."""

    balanced = "Balanced"
    prompt = "My prompt is more important"
    controlnet = "ControlNet is more important"


class ResizeMode(str, Enum):
    """How the reference is fitted to the picture's size (the API also sends 0, 1, 2)."""

    just_resize = "Just Resize"
    crop_and_resize = "Crop and Resize"
    resize_and_fill = "Resize and Fill"


class HiresOption(str, Enum):
    """Which passes of a hires fix job the unit acts in (A1111's `hr_option`)."""

    both = "Both"
    low_res_only = "Low res only"
    high_res_only = "High res only"


# A1111's slider defaults where a module reads its thresholds otherwise (tile_resample: down-sampling rate 1)
MODULE_DEFAULTS: dict[str, JsonObject] = {"tile_resample": {"threshold_a": 1.0}}


@dataclass(frozen=True)
class ControlUnit:
    """One ControlNet unit of a request."""

    image: InputImage | None = None  # the reference picture (None: the job's init image)
    module: str = (
        "none"  # preprocessor (preprocess.module_names()) or IP-Adapter module (ipadapter.IP_MODULES)
    )
    model: str = ""  # a ControlNet / IP-Adapter of the library: name or "name [hash]"; "" picks one
    weight: float = 1.0  # controlnet_conditioning_scale; an IP-Adapter's scale
    guidance_start: float = 0.0  # fraction of the steps where the unit starts acting
    guidance_end: float = 1.0
    control_mode: ControlMode = ControlMode.balanced
    resize_mode: ResizeMode = ResizeMode.crop_and_resize
    processor_res: int = 512  # the short side the preprocessor works at
    threshold_a: float = (
        100.0  # canny: low threshold; scribble/lineart/threshold: the level; tile: down-sampling
    )
    threshold_b: float = 200.0  # canny: high threshold
    pixel_perfect: bool = False  # the preprocessor works at the picture's own resolution
    enabled: bool = True
    name: str = ""  # how the prompt's `{image:NAME}` names this reference (the window's reference strip)
    ip_kind: IpKind = IpKind.reference  # IP-Adapter units: all layers, or the style / composition ones
    # inpaint modules: the pixels to repaint (default: the job's mask); other modules: where the unit acts
    mask: InputImage | None = None
    hr_option: HiresOption = HiresOption.both

    def validate(self, index: int) -> ControlUnit:
        """Check the unit's fields; RequestError names the field as `controls[i].field`."""
        from sdstudio.core.control.preprocess import module_names

        where = f"controls[{index}]"
        check_module(self, where)
        known = [*module_names(), *IP_MODULES]
        if self.module not in known and self.module not in FACE_MODULES:
            raise RequestError(
                f"{where}.module", f"unknown preprocessor {self.module!r}; use {', '.join(known)}"
            )
        if not isinstance(self.ip_kind, IpKind):
            raise RequestError(f"{where}.ip_kind", f"use {', '.join(k.value for k in IpKind)}")
        if not 0.0 <= float(self.weight) <= 2.0:
            raise RequestError(f"{where}.weight", f"{self.weight} is out of range; use 0 to 2")
        if not 0.0 <= float(self.guidance_start) < float(self.guidance_end) <= 1.0:
            raise RequestError(
                f"{where}.guidance_start",
                f"start {self.guidance_start} and end {self.guidance_end} must satisfy 0 <= start < end <= 1",
            )
        if not isinstance(self.processor_res, int) or not 64 <= self.processor_res <= 4096:
            raise RequestError(
                f"{where}.processor_res", f"{self.processor_res} is out of range; use 64 to 4096"
            )
        for name in ("threshold_a", "threshold_b"):
            if not 0.0 <= float(getattr(self, name)) <= 255.0:
                raise RequestError(f"{where}.{name}", f"{getattr(self, name)} is out of range; use 0 to 255")
        return self

    # -- serialisation (Request.to_dict / from_dict call these) ---------------------------------------
    def to_dict(self, images: str = "base64") -> JsonObject:
        return fields_to_dict(self, images)

    @classmethod
    def from_dict(
        cls, data: JsonObject, resolve_image: Callable[[str], InputImage | None] | None = None
    ) -> ControlUnit:
        """Inverse of to_dict; unknown keys are ignored; enums also as A1111's numbers 0, 1, 2."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs: JsonObject = {}
        for key, value in data.items():
            if key not in names:
                continue
            if key in ("image", "mask"):
                value = InputImage.from_json(value, "controls.image", resolve_image)
            elif key == "control_mode":
                value = _enum(ControlMode, value)
            elif key == "resize_mode":
                value = _enum(ResizeMode, value)
            elif key == "ip_kind":
                value = IpKind(value)
            elif key == "hr_option":
                value = _enum(HiresOption, value)
            elif key in ("weight", "guidance_start", "guidance_end", "threshold_a", "threshold_b"):
                value = float(value)
            elif key in ("pixel_perfect", "enabled"):
                value = bool(value)
            elif key == "processor_res":
                value = int(value)
            kwargs[key] = value
        return cls(**kwargs)


def _enum(kind: type[_E], value: object) -> _E:
    """The member `value` names, or A1111's number for it (its position)."""
    if isinstance(value, int) and not isinstance(value, bool):
        members = list(kind)
        if not 0 <= value < len(members):
            raise ValueError(f"{kind.__name__} {value} is out of range; use 0 to {len(members) - 1}")
        return members[value]
    return kind(value)


def controls_from_list(
    value: Iterable[ControlUnit | JsonObject] | None,
    resolve_image: Callable[[str], InputImage | None] | None = None,
) -> tuple[ControlUnit, ...]:
    """Request.controls from its serialised list."""
    return tuple(
        u if isinstance(u, ControlUnit) else ControlUnit.from_dict(u, resolve_image) for u in value or ()
    )
