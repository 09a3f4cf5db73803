"""LoRA / LyCORIS files: tensors grouped per target layer, metadata, family and A1111's hash."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sdstudio.core.errors import ModelError
from sdstudio.core.jsontypes import JsonObject
from sdstudio.core.models.entries import Family

if TYPE_CHECKING:
    import torch

    from sdstudio.core.lora.adapters import Fields

# suffix written in a file -> the field name used here (longest first, so ".lora.down.weight" is tried before
# ".down.weight"); kohya/A1111, LyCORIS (LoCon, LoHa, LoKr, full diff, DoRA), diffusers and peft spellings
SUFFIXES: tuple[tuple[str, str], ...] = tuple(
    sorted(
        {
            ".lora_down.weight": "down",
            ".lora_up.weight": "up",
            ".lora_mid.weight": "mid",
            ".lora_A.weight": "down",
            ".lora_B.weight": "up",
            ".lora.down.weight": "down",
            ".lora.up.weight": "up",
            ".lora_linear_layer.down.weight": "down",
            ".lora_linear_layer.up.weight": "up",
            "_lora.down.weight": "down",
            "_lora.up.weight": "up",
            ".alpha": "alpha",
            ".hada_w1_a": "hada_w1_a",
            ".hada_w1_b": "hada_w1_b",
            ".hada_w2_a": "hada_w2_a",
            ".hada_w2_b": "hada_w2_b",
            ".hada_t1": "hada_t1",
            ".hada_t2": "hada_t2",
            ".lokr_w1": "lokr_w1",
            ".lokr_w2": "lokr_w2",
            ".lokr_w1_a": "lokr_w1_a",
            ".lokr_w1_b": "lokr_w1_b",
            ".lokr_w2_a": "lokr_w2_a",
            ".lokr_w2_b": "lokr_w2_b",
            ".lokr_t2": "lokr_t2",
            ".diff": "diff",
            ".diff_b": "diff_b",
            ".dora_scale": "dora_scale",
        }.items(),
        key=lambda kv: -len(kv[0]),
    )
)
# the processor-style spelling of old diffusers files: "...attn1.processor.to_q_lora.down.weight"
_PROCESSOR = re.compile(r"\.processor\.(to_q|to_k|to_v|to_out)$")
_PROCESSOR_TARGET = {"to_q": "to_q", "to_k": "to_k", "to_v": "to_v", "to_out": "to_out.0"}
# keys some trainers add beside the layers: embeddings trained with the LoRA ("pivotal tuning"), ignored here
_IGNORED = re.compile(r"^(bundle_emb\.|emb_params|clip_[lg]$)")


@dataclass
class LoraFile:
    """One LoRA file: per layer name as written in the file (suffix removed), its tensors by field name."""

    path: Path
    groups: dict[str, Fields]
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def alias(self) -> str:
        """A1111's alias: the training output name kept in the metadata, else the file name."""
        return str(self.metadata.get("ss_output_name") or "").strip() or self.name


def split_key(key: str) -> tuple[str, str] | None:
    """(layer name, field) of a tensor key; None when the suffix is none of the known ones."""
    for suffix, name in SUFFIXES:
        if key.endswith(suffix):
            layer = key[: -len(suffix)]
            if m := _PROCESSOR.search(layer):  # old diffusers: attn1.processor.to_q_lora -> attn1.to_q
                layer = layer[: m.start()] + "." + _PROCESSOR_TARGET[m.group(1)]
            return layer, name
    return None


def _read_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """All tensors of a .safetensors file (or a pickle through torch's weights-only loader), and metadata."""
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt", device="cpu") as f:
                meta = dict(f.metadata() or {})
                return {k: f.get_tensor(k) for k in f.keys()}, meta
        import torch

        data = torch.load(str(path), map_location="cpu", weights_only=True)
        if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
            data = data["state_dict"]
        if not isinstance(data, dict):
            raise ValueError("no tensor dictionary inside")
        return {k: v for k, v in data.items() if hasattr(v, "shape")}, {}
    except OSError as e:
        raise ModelError(f"{path}: cannot read the LoRA ({e.strerror or e})") from None
    except Exception as e:  # safetensors and torch raise many types for damaged files
        why = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise ModelError(f"{path}: not a readable LoRA file, or damaged ({why})") from None


def read_lora(path: str | Path) -> LoraFile:
    """Read and group a LoRA file; ModelError names the file for damage or keys of an unknown layout."""
    path = Path(path)
    tensors, meta = _read_tensors(path)
    # 1. every key must be a known field of some layer
    groups: dict[str, Fields] = {}
    unknown: list[str] = []
    for key, tensor in tensors.items():
        if _IGNORED.match(key):
            continue
        parts = split_key(key)
        if parts is None:
            unknown.append(key)
            continue
        groups.setdefault(parts[0], {})[parts[1]] = tensor
    if unknown:
        raise ModelError(
            f"{path}: unknown LoRA key layout ({len(unknown)} keys such as {unknown[0]!r}; "
            "expected kohya/A1111, diffusers/peft or LyCORIS LoCon/LoHa/LoKr/full/DoRA keys)"
        )
    # 2. every layer must carry a complete adapter
    for layer, fields in groups.items():
        if not _complete(fields):
            raise ModelError(
                f"{path}: layer {layer!r} is incomplete (has {', '.join(sorted(fields))}); the file is damaged "
                "or of an unknown layout"
            )
    if not groups:
        raise ModelError(f"{path}: holds no LoRA layers")
    return LoraFile(path, groups, meta)


def _complete(fields: Fields) -> bool:
    if "down" in fields or "up" in fields:
        return "down" in fields and "up" in fields
    if "hada_w1_a" in fields:
        return all(f in fields for f in ("hada_w1_b", "hada_w2_a", "hada_w2_b"))
    if any(f.startswith("lokr_") for f in fields):
        w1 = "lokr_w1" in fields or ("lokr_w1_a" in fields and "lokr_w1_b" in fields)
        w2 = "lokr_w2" in fields or ("lokr_w2_a" in fields and "lokr_w2_b" in fields)
        return w1 and w2
    return "diff" in fields or "diff_b" in fields


# -- what a file is, from its header alone -----------------------------------------------------------------
_BASE_VERSIONS = (("sdxl", Family.sdxl), ("sd_v2", Family.sd2), ("sd_v1", Family.sd1))
_ARCHITECTURES = (("stable-diffusion-xl", Family.sdxl), ("stable-diffusion-v2", Family.sd2))


def family_from_header(header: JsonObject) -> Family:
    """SD 1.x, 2.x or SDXL from the training metadata, else from key names and the cross-attention width."""
    meta = header.get("__metadata__") or {}
    base = str(meta.get("ss_base_model_version", "")).lower()
    for prefix, family in _BASE_VERSIONS:
        if base.startswith(prefix):
            return family
    arch = str(meta.get("modelspec.architecture", "")).lower()
    for prefix, family in _ARCHITECTURES:
        if arch.startswith(prefix):
            return family
    if arch.startswith("stable-diffusion-v1"):
        return Family.sd1
    keys = [k for k in header if k != "__metadata__"]
    if any(k.startswith(("lora_te1_", "lora_te2_", "text_encoder_2.")) for k in keys):
        return Family.sdxl
    widths = {768: Family.sd1, 1024: Family.sd2, 2048: Family.sdxl}
    for key in keys:  # the cross-attention key projection's input is the text encoder's width
        if "attn2" in key and "to_k" in key and key.endswith(("down.weight", "lora_A.weight")):
            shape = (header.get(key) or {}).get("shape") or []
            if len(shape) == 2 and shape[1] in widths:
                return widths[shape[1]]
    return Family.unknown


def autov3(path: Path) -> str:
    """A1111's LoRA hash ("AutoV3", kohya's): sha256 of the tensor data after the safetensors header."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        f.seek(8 + n)
        while chunk := f.read(4 * 2**20):
            digest.update(chunk)
    return digest.hexdigest()
