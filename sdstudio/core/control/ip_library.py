"""The model library's IP-Adapters and CLIP image encoders for a unit: found by name (`name [hash]` as A1111
lists them) or, for the prompt's tags, the first adapter made for the model; the encoder by the width it gives."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sdstudio.core.control.ip_files import AdapterSpec, encoder_dims
from sdstudio.core.control.ipadapter import IP_MODULES
from sdstudio.core.control.unit import ControlUnit
from sdstudio.core.errors import ModelError
from sdstudio.core.models.entries import Family, Kind, find_named
from sdstudio.core.request import RequestError

if TYPE_CHECKING:
    from sdstudio.core.models.entries import ModelEntry
    from sdstudio.core.protocols import Library


def find_ip_adapter(
    library: Library, unit: ControlUnit, index: int, family: Family | None = None
) -> ModelEntry:
    """The library's IP-Adapter for a unit: by name, `name [hash]` or file name; with none named, the first one
    made for the model's `family` (when known), plain before plus/face variants."""
    entries = library.entries(Kind.ip_adapter)
    known = ", ".join(e.name for e in entries[:12]) or (
        "none; put ip-adapter_*.safetensors in models/ControlNet (A1111) or models/ipadapter (ComfyUI)"
    )
    wanted = unit.model.strip()
    where = f"controls[{index}].model"
    if wanted in ("", "None", "none"):
        base = getattr(family, "base", "")
        fits = [e for e in entries if not base or e.family is Family.unknown or e.family.base == base]
        fits.sort(key=lambda e: any(w in e.name.lower() for w in ("plus", "face", "full")))
        if not fits:
            raise RequestError(where, f"no IP-Adapter in the library fits the model (known: {known})")
        return fits[0]
    found = find_named(entries, wanted)
    if found is None:
        raise RequestError(where, f"IP-Adapter not found: {wanted} (known: {known})")
    return found


def find_image_encoder(
    library: Library, adapter: ModelEntry, spec: AdapterSpec, unit: ControlUnit
) -> ModelEntry:
    """The library's CLIP image encoder whose width fits the adapter (plain: its image-embedding size, plus and
    full-face: its hidden size); the module's clip_h / clip_g and the names break ties."""
    entries = library.entries(Kind.clip_vision)
    fits = []
    for e in entries:
        try:
            hidden, projection = encoder_dims(Path(e.location))
        except ModelError:
            continue  # an unreadable encoder is listed with its note; it never fits
        if (projection if spec.needs == "embeds" else hidden) == spec.width:
            fits.append(e)
    if not fits:
        what = "image embeddings" if spec.needs == "embeds" else "hidden states"
        raise ModelError(
            f"IP-Adapter {adapter.name} needs a CLIP image encoder with {spec.width}-wide {what} "
            f"({_encoder_hint(spec)}), and the library has none: put it in models/clip_vision (ComfyUI), "
            "extensions/sd-webui-controlnet/annotator/downloads/clip_vision (A1111: clip_h.pth / clip_g.pth) "
            "or as a folder with config.json and model.safetensors"
        )
    hint = IP_MODULES.get(unit.module, "")
    names = {"clip_h": ("clip_h", "vit-h", "sd_image_encoder"), "clip_g": ("clip_g", "bigg", "sdxl_image")}
    fits.sort(key=lambda e: not any(n in str(e.location).lower() for n in names.get(hint, ())))
    return fits[0]


def _encoder_hint(spec: AdapterSpec) -> str:
    return {
        ("embeds", 1024): "ViT-H/14, A1111's clip_h",
        ("embeds", 1280): "ViT-bigG/14, A1111's clip_g",
        ("hidden", 1280): "ViT-H/14, A1111's clip_h",
        ("hidden", 1664): "ViT-bigG/14, A1111's clip_g",
    }.get((spec.needs, spec.width), "its CLIP vision model")
