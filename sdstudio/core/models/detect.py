"""What a checkpoint is, from the safetensors header alone (key names and shapes, no weights read)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from sdstudio.core.errors import ModelError
from sdstudio.core.models.entries import Family, Kind

MAX_HEADER = 100 * 2**20
UNET_IN = "model.diffusion_model.input_blocks.0.0.weight"
SD1_TEXT = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
SD2_TEXT = "cond_stage_model.model.token_embedding.weight"
SDXL_TEXT_G = "conditioner.embedders.1.model.token_embedding.weight"
SDXL_REFINER_TEXT = "conditioner.embedders.0.model.token_embedding.weight"


def read_header(path: Path) -> dict[str, Any]:
    """The JSON header of a .safetensors file; ModelError names the file when it is not one."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) < 8:
                raise ModelError(f"{path}: not a safetensors model (file too short: {size} bytes)")
            (n,) = struct.unpack("<Q", raw)
            if n <= 1 or n > MAX_HEADER or 8 + n > size:
                raise ModelError(f"{path}: not a safetensors model, or truncated (header claims {n} bytes)")
            header = json.loads(f.read(n))
    except OSError as e:
        raise ModelError(f"{path}: cannot read ({e.strerror or e})") from None
    except (ValueError, UnicodeDecodeError):
        raise ModelError(f"{path}: not a safetensors model (unreadable header)") from None
    if not isinstance(header, dict):
        raise ModelError(f"{path}: not a safetensors model (bad header)")
    # the data must be all there: the last tensor's end offset must fit in the file
    ends = [
        v["data_offsets"][1]
        for k, v in header.items()
        if k != "__metadata__" and isinstance(v, dict) and "data_offsets" in v
    ]
    if ends and 8 + n + max(ends) > size:
        raise ModelError(
            f"{path}: truncated safetensors file ({size} bytes, expected {8 + n + max(ends)}); download it again"
        )
    return header


def _shape(header: dict[str, Any], key: str) -> list[int] | None:
    entry = header.get(key)
    return list(entry["shape"]) if isinstance(entry, dict) and "shape" in entry else None


def classify(header: dict[str, Any]) -> tuple[Kind, Family]:
    """Kind and family of a checkpoint from its key names and tensor shapes."""
    keys = [k for k in header if k != "__metadata__"]
    meta = header.get("__metadata__") or {}
    unet_in = _shape(header, UNET_IN)
    if unet_in is not None:
        inpaint = len(unet_in) > 1 and unet_in[1] == 9
        if SDXL_TEXT_G in header:
            return Kind.checkpoint, Family.sdxl_inpaint if inpaint else Family.sdxl
        if SDXL_REFINER_TEXT in header:
            return Kind.checkpoint, Family.sdxl_refiner
        if SD2_TEXT in header:
            if inpaint:
                return Kind.checkpoint, Family.sd2_inpaint
            return Kind.checkpoint, Family.sd2_v if _is_v_prediction(header, meta) else Family.sd2
        if SD1_TEXT in header or any(k.startswith("cond_stage_model.transformer.") for k in keys):
            return Kind.checkpoint, Family.sd1_inpaint if inpaint else Family.sd1
        return Kind.checkpoint, Family.unknown
    if any("lora_" in k or ".lora." in k or k.startswith("lora_") for k in keys) or any(
        k.endswith(".alpha") for k in keys
    ):
        return Kind.lora, Family.unknown
    if any(k.startswith(("encoder.down", "decoder.up", "first_stage_model.encoder")) for k in keys):
        return Kind.vae, Family.unknown
    if any(k in ("emb_params", "clip_l", "clip_g", "string_to_param.*") for k in keys) and len(keys) <= 4:
        return Kind.embedding, Family.unknown
    return Kind.checkpoint, Family.unknown


def _is_v_prediction(header: dict[str, Any], meta: dict[str, Any]) -> bool:
    if "v_pred" in header:
        return True
    pred = str(meta.get("modelspec.prediction_type", meta.get("prediction_type", ""))).lower()
    if pred:
        return pred.startswith("v")
    # SD 2.x-768 checkpoints are v-prediction, the 512 "base" ones epsilon; without a hint assume 768-v
    res = str(meta.get("modelspec.resolution", ""))
    return not res.startswith("512")


def detect_file(path: Path) -> tuple[Kind, Family]:
    """Classify a model file. Pickle formats are not opened here (family unknown until loaded)."""
    if path.suffix.lower() == ".safetensors":
        return classify(read_header(path))
    return Kind.checkpoint, Family.unknown
