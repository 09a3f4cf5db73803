"""The reference strip's rules, Qt-free: the studio's `controls` (ControlNet / IP-Adapter units) as the artist
adds, names and edits them, which reference a prompt's `{image...}` tag names, and "pose from reference".

Functions over tuples of units (the value of the studio model's `controls` field); the window's strip is a
view bound to that field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from sdstudio.core.control.ipadapter import IpKind, is_ip_unit
from sdstudio.core.control.tags import (
    DEFAULT_KIND,
    KINDS,
    TAG,
    ImageTag,
    named_unit,
    parse_image_tags,
)
from sdstudio.core.control.tags import (
    kind_of as kind_of,  # the strip's cards ask it here
)
from sdstudio.core.control.unit import ControlUnit
from sdstudio.core.request import InpaintArea, InputImage, RequestError
from sdstudio.core.studio import StudioModel

if TYPE_CHECKING:
    from PIL.Image import Image
    from typing_extensions import Unpack

    from sdstudio.core.protocols import Library


POSE_KINDS = ("pose", "depth")  # what "pose from reference" adds, the first one this build can preprocess


class UnitEdits(TypedDict, total=False):
    """The fields of a reference's unit the strip edits."""

    weight: float
    guidance_start: float
    guidance_end: float
    model: str
    enabled: bool
    name: str


class ReferenceEdits(UnitEdits, total=False):
    """What the strip edits on a reference: its unit's fields, and its kind."""

    kind: str  # the reference's kind (with_kind), not a field of the unit


EDITABLE = tuple(UnitEdits.__annotations__)


def available(kind: str) -> bool:
    """Whether this build has the kind's preprocessor (kinds others are still adding map to None)."""
    return KINDS.get(kind) is not None


def with_kind(unit: ControlUnit, kind: str) -> ControlUnit:
    """The unit as a reference of another kind; the ControlNet model goes back to auto (it was the old kind's)."""
    module = KINDS.get(kind)
    if module is None:
        raise RequestError("controls", f"reference kind {kind!r} is not available in this build")
    if kind in IpKind.__members__:  # an IP-Adapter keeps its module and model across its kinds
        if is_ip_unit(unit):
            return dataclasses.replace(unit, ip_kind=IpKind(kind))
        return dataclasses.replace(unit, module=module, model="", ip_kind=IpKind(kind))
    if module == unit.module:
        return unit
    return dataclasses.replace(unit, module=module, model="", ip_kind=IpKind.reference)


def default_kind() -> str:
    """A new reference's kind: the tag's default when this build has it, else the first one it has."""
    if available(DEFAULT_KIND):
        return DEFAULT_KIND
    return next(k for k in KINDS if available(k))


def unique_name(units: Sequence[ControlUnit], wanted: str) -> str:
    """`wanted`, or `stem-2.png`, `stem-3.png`, ... when another reference already has that name."""
    taken = {u.name for u in units} | {Path(u.name).stem for u in units if u.name}
    if wanted not in taken and Path(wanted).stem not in taken:
        return wanted
    stem, suffix = Path(wanted).stem, Path(wanted).suffix
    n = 2
    while f"{stem}-{n}" in taken:
        n += 1
    return f"{stem}-{n}{suffix}"


def added(
    units: Sequence[ControlUnit], image: InputImage, name: str, kind: str | None = None
) -> tuple[ControlUnit, ...]:
    """The units with a new reference at the end (a fresh name, the default kind unless given)."""
    base = ControlUnit(image=image, name=unique_name(units, name or "reference.png"))
    return (*units, with_kind(base, kind or default_kind()))


def edited(
    units: Sequence[ControlUnit], index: int, **fields: Unpack[ReferenceEdits]
) -> tuple[ControlUnit, ...]:
    """The units with one reference's fields changed (`kind` too); unknown fields raise KeyError."""
    unknown = set(fields) - set(EDITABLE) - {"kind"}
    if unknown:
        raise KeyError(f"not editable in the strip: {', '.join(sorted(unknown))}")
    unit = units[index]
    if "kind" in fields:
        unit = with_kind(unit, fields.pop("kind"))
    if "name" in fields:
        others = [u for i, u in enumerate(units) if i != index]
        fields["name"] = unique_name(others, fields["name"])
    changes: UnitEdits = fields  # "kind" is taken out above
    out = list(units)
    out[index] = dataclasses.replace(unit, **changes)
    return tuple(out)


def removed(units: Sequence[ControlUnit], index: int) -> tuple[ControlUnit, ...]:
    return tuple(u for i, u in enumerate(units) if i != index)


def tag_at(prompt: str, position: int) -> ImageTag | None:
    """The `{image...}` tag the text position is in (or at either end of), else None."""
    for m in TAG.finditer(prompt):
        if m.start() <= position <= m.end():
            try:
                return parse_image_tags(m.group(0))[1][0]
            except RequestError:  # a malformed tag names nothing yet
                return None
    return None


def target(units: Sequence[ControlUnit], tag: ImageTag) -> int | None:
    """The reference a tag names: `{image}` the first enabled one, `{image:NAME}` the one so named."""
    if not tag.source:
        return next((i for i, u in enumerate(units) if u.enabled), None)
    return named_unit(units, tag.source)


def pose_from_reference(studio: StudioModel, image: InputImage, name: str) -> int:
    """The hand-fixing shortcut: with a picture and a mask on the canvas, add a pose (or depth) reference from
    a photo and inpaint only the masked part. Returns the new reference's index; RequestError says what is
    missing."""
    # 1. what it needs: a picture with a painted mask, and a preprocessor for pose or depth
    if studio.picture is None or not studio.has_mask:
        raise RequestError(
            "controls", "put the picture on the canvas and paint a mask over the part to fix (the hand) first"
        )
    kind = next((k for k in POSE_KINDS if available(k)), None)
    if kind is None:
        raise RequestError(
            "controls", "pose and depth references need their preprocessors, which this build does not have"
        )
    # 2. the reference, then only the masked part repainted at full resolution
    units = added(studio.parameters.controls, image, name, kind)
    studio.update(controls=units, inpaint_area=InpaintArea.only_masked)
    studio.message.emit(
        f"{units[-1].name}: a {kind} reference; inpainting only the masked part. Write {{image:"
        f"{Path(units[-1].name).stem}}} in the prompt to name it."
    )
    return len(units) - 1


def preview(unit: ControlUnit, library: Library | None = None) -> Image | None:
    """What the unit's preprocessor makes of its picture (a PIL picture, the preprocessor's own size), for the
    artist to see; None when the unit has no picture or no preprocessor (the picture is used as it is).
    Preprocessors with a model (depth, pose) need the `library`; call it off the GUI thread."""
    from sdstudio.core.control.preprocess import MODEL_MODULES, MODULES, preprocess

    if unit.image is None or (MODULES.get(unit.module) is None and unit.module not in MODEL_MODULES):
        return None
    size = (unit.image.width, unit.image.height)
    if unit.module not in MODEL_MODULES:  # no model: no library, no torch
        return preprocess(unit.image.to_pil(), unit, size)
    if library is None:
        raise RequestError("controls", f"the {unit.module} preprocessor needs the model library")
    from sdstudio.core.control.maps import control_map_for

    return control_map_for(unit, size, library, fitted=False)
