"""The prompt's reference tags: `{image}` (the reference attached to the job) and
`{image:NAME_OR_PATH[:weight[:kind]]}` (e.g. `{image:hand.png:0.8:canny}`). Tags are removed from the text the
text encoder sees; each named picture becomes a ControlNet unit, read before any heavy work."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sdstudio.core.control.fetch import FetchPolicy, fetch_reference, is_url
from sdstudio.core.control.ipadapter import AUTO_MODULE, IpKind, is_ip_unit
from sdstudio.core.control.unit import MODULE_DEFAULTS, ControlUnit
from sdstudio.core.request import InputImage, RequestError

TAG = re.compile(r"\{image(?::([^{}]*))?\}")
# kind -> preprocessor of its ControlNet; kinds the issue names that need a model not built yet map to None
KINDS: dict[str, str | None] = {
    "canny": "canny",
    "lineart": "lineart",
    "scribble": "scribble",
    "reference": AUTO_MODULE,  # IP-Adapter: the library's adapter for the model, all layers
    "style": AUTO_MODULE,  # IP-Adapter on the style layers only (unit.ip_kind)
    "composition": AUTO_MODULE,  # IP-Adapter on the composition layers only
    "depth": "depth_anything",
    "pose": "openpose",
    "tile": "tile_resample",
    "inpaint": "inpaint_only",
}
DEFAULT_KIND = "reference"


@dataclass(frozen=True)
class ImageTag:
    """One `{image...}` tag: source "" is the job's attached reference."""

    text: str  # the tag as written
    source: str = ""
    weight: float | None = None
    kind: str | None = None


def parse_image_tags(prompt: str) -> tuple[str, list[ImageTag]]:
    """(the prompt without its tags, the tags in order). Malformed weights or kinds raise RequestError."""
    tags: list[ImageTag] = []
    for m in TAG.finditer(prompt):
        parts = (m.group(1) or "").split(":") if m.group(1) else []
        kind = weight = None
        if parts and parts[-1].strip().lower() in KINDS:
            kind = parts.pop().strip().lower()
        if len(parts) > 1 and re.fullmatch(r"\s*[0-9]*\.?[0-9]+\s*", parts[-1]):
            weight = float(parts.pop())
        source = ":".join(parts).strip()
        if m.group(1) is not None and not source:
            raise RequestError(
                "prompt", f"{m.group(0)} names no picture; write {{image:PATH[:weight[:kind]]}}"
            )
        if weight is not None and not 0.0 <= weight <= 2.0:
            raise RequestError("prompt", f"{m.group(0)}: weight {weight:g} is out of range; use 0 to 2")
        tags.append(ImageTag(m.group(0), source, weight, kind))
    text = re.sub(r"[ \t]*,?[ \t]*" + TAG.pattern, "", prompt) if tags else prompt
    text = re.sub(r"^[\s,]+", "", text)
    return text, tags


def _unit_for(kind: str, weight: float | None, image: InputImage | None, base: ControlUnit) -> ControlUnit:
    module = KINDS[kind]
    if module is None:
        usable = ", ".join(k for k, v in KINDS.items() if v)
        raise RequestError(
            "prompt", f"reference kind {kind!r} is not available yet; name a ControlNet kind: {usable}"
        )
    model = base.model if base.module == module else ""
    ip_kind = IpKind(kind) if kind in IpKind.__members__ else IpKind.reference
    unit = ControlUnit(image, module, model, weight if weight is not None else base.weight, ip_kind=ip_kind)
    return dataclasses.replace(unit, **MODULE_DEFAULTS.get(module, {}))


def kind_of(unit: ControlUnit) -> str:
    """The kind a unit belongs to: its IP-Adapter kind, or the kind of its preprocessor; a module no kind
    names (an API's "invert") is its own."""
    if is_ip_unit(unit):
        return unit.ip_kind.value
    for kind, module in KINDS.items():
        if module is not None and module == unit.module:
            return kind
    return unit.module


def units_from_tags(
    tags: Sequence[ImageTag],
    attached: Sequence[ControlUnit],
    base_dir: Path | None = None,
    network: FetchPolicy | None = None,
) -> tuple[ControlUnit, ...]:
    """The ControlNet units the tags name (`{image}` needs an attached unit, which runs as it is); a named
    picture is read now (a URL fetched when `network` allows it): missing or unreadable is one clear error."""
    out: list[ControlUnit] = []
    for tag in tags:
        if not tag.source:
            if not attached:
                raise RequestError(
                    "prompt", f"{tag.text} refers to the attached reference, but none is attached; "
                    "attach one (--ref PATH) or name a file: {image:PATH}",
                )  # fmt: skip
            continue  # the attached units run as they are
        index = named_unit(attached, tag.source)
        if index is not None:
            _check_named(tag, attached[index])
            continue  # an attached reference by its name: it runs as attached
        if is_url(tag.source):
            image = fetch_reference(tag.source, network or FetchPolicy(), f"prompt {tag.text}")
            out.append(_unit_for(tag.kind or DEFAULT_KIND, tag.weight, image, ControlUnit()))
            continue
        path = Path(tag.source).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise RequestError("prompt", f"{tag.text}: reference picture not found: {path}")
        image = InputImage.from_file(path, f"prompt {tag.text}")
        out.append(_unit_for(tag.kind or DEFAULT_KIND, tag.weight, image, ControlUnit()))
    return tuple(out)


def named_unit(units: Sequence[ControlUnit], source: str) -> int | None:
    """The index of the unit a tag's source names (its name, or the name less its extension), or None."""
    for i, unit in enumerate(units):
        if unit.name and source in (unit.name, Path(unit.name).stem):
            return i
    return None


def _check_named(tag: ImageTag, unit: ControlUnit) -> None:
    """A tag naming an attached reference may repeat its weight and kind, never contradict them."""
    if tag.weight is not None and tag.weight != unit.weight:
        raise RequestError(
            "prompt", f"{tag.text}: {unit.name} is attached with weight {unit.weight:g}; change it there "
            "or drop the weight from the tag",
        )  # fmt: skip
    if tag.kind is not None and tag.kind != kind_of(unit):
        raise RequestError(
            "prompt", f"{tag.text}: {unit.name} is attached as {unit.module}; change its kind there or drop "
            "the kind from the tag",
        )  # fmt: skip


def unit_from_ref(spec: str, base_dir: Path | None = None, network: FetchPolicy | None = None) -> ControlUnit:
    """A ControlNet unit from a `PATH_OR_URL[:weight[:kind]]` reference (the CLI's --ref), read now."""
    _, tags = parse_image_tags("{image:" + spec + "}")
    if len(tags) != 1 or not tags[0].source:
        raise RequestError("ref", f"{spec!r}: expected PATH[:weight[:kind]]")
    return units_from_tags(tags, [], base_dir, network)[0]
