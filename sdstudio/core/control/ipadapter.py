"""IP-Adapter references (issue 13), the Qt- and torch-free part: the A1111 ControlNet extension's IP-Adapter
modules, the kinds `reference` / `style` / `composition` and the attention layers each acts on (InvokeAI's and
Krita AI Diffusion's layer choices). The library look-ups are in ip_library.py, the files in ip_files.py."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

from sdstudio.core.request import RequestError

if TYPE_CHECKING:
    from sdstudio.core.control.unit import ControlUnit

# The A1111 ControlNet extension's IP-Adapter preprocessors -> the image encoder they name (clip_h: ViT-H/14,
# clip_g: ViT-bigG/14); sdstudio picks the library's encoder whose width fits the adapter either way.
IP_MODULES: dict[str, str] = {
    "ip-adapter_clip_sd15": "clip_h",
    "ip-adapter_clip_h": "clip_h",
    "ip-adapter_clip_sdxl_plus_vith": "clip_h",
    "ip-adapter_clip_sdxl": "clip_g",
    "ip-adapter_clip_g": "clip_g",
    "ip-adapter-auto": "",
}
# face modules need insightface face embeddings, which sdstudio does not compute: refused with a message
FACE_MODULES = ("ip-adapter_face_id", "ip-adapter_face_id_plus", "ip-adapter_pulid")
AUTO_MODULE = "ip-adapter-auto"  # what `{image:...:reference}` tags and --ref use


class IpKind(str, Enum):
    """Which attention layers an IP-Adapter unit acts on."""

    reference = "reference"  # all (the plain IP-Adapter)
    style = "style"
    composition = "composition"


# (SDXL?, kind) -> attention name prefixes that get the unit's weight; the others get 0 (InvokeAI's target blocks)
TARGETS: dict[tuple[bool, IpKind], tuple[str, ...]] = {
    (False, IpKind.style): ("up_blocks.1.",),
    (False, IpKind.composition): ("down_blocks.2.", "mid_block."),
    (True, IpKind.style): ("up_blocks.0.attentions.1.",),
    (True, IpKind.composition): ("down_blocks.2.attentions.1.",),
}


def is_ip_unit(unit: ControlUnit) -> bool:
    return unit.module in IP_MODULES or unit.module in FACE_MODULES


def layer_weight(name: str, kind: IpKind, xl: bool, weight: float) -> float:
    """The scale of one attention layer (its processor name) for a unit of `kind` and `weight`."""
    if kind is IpKind.reference:
        return weight
    return weight if name.startswith(TARGETS[(xl, kind)]) else 0.0


def step_active(index: int, total: int, start: float, end: float) -> bool:
    """Whether a unit acts at denoise step `index` of `total` (the same rule as diffusers' ControlNet ranges)."""
    return not (index / total < start or (index + 1) / total > end)


def check_module(unit: ControlUnit, where: str) -> None:
    if unit.module in FACE_MODULES:
        raise RequestError(
            f"{where}.module",
            f"{unit.module} needs insightface face embeddings, which sdstudio does not compute; use "
            "ip-adapter_clip_h (or ip-adapter_clip_sd15 / ip-adapter_clip_sdxl) with a plain, plus or "
            "plus-face IP-Adapter",
        )
