"""What a checkpoint is, from the safetensors header alone (key names and shapes, no weights read)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from sdstudio.core.errors import ModelError
from sdstudio.core.jsontypes import JsonObject
from sdstudio.core.models.entries import Family, Kind

MAX_HEADER = 100 * 2**20
UNET_IN = "model.diffusion_model.input_blocks.0.0.weight"
SD1_TEXT = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
SD2_TEXT = "cond_stage_model.model.token_embedding.weight"
SDXL_TEXT_G = "conditioner.embedders.1.model.token_embedding.weight"
SDXL_REFINER_TEXT = "conditioner.embedders.0.model.token_embedding.weight"


def read_header(path: Path) -> JsonObject:
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


def _shape(header: JsonObject, key: str) -> list[int] | None:
    entry = header.get(key)
    return list(entry["shape"]) if isinstance(entry, dict) and "shape" in entry else None


def classify(header: JsonObject) -> tuple[Kind, Family]:
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
    kind = kind_of_keys(keys) or Kind.checkpoint
    if kind is Kind.ip_adapter:
        return kind, ip_adapter_family(header)
    return kind, controlnet_family(header) if kind is Kind.controlnet else Family.unknown


IP_CROSS_FAMILIES = {768: Family.sd1, 1024: Family.sd2, 2048: Family.sdxl}


def ip_adapter_family(header: JsonObject) -> Family:
    """An IP-Adapter's base family from its first key projection's input width (the UNet's cross-attention)."""
    shape = _shape(header, "ip_adapter.1.to_k_ip.weight")
    return IP_CROSS_FAMILIES.get(shape[-1], Family.unknown) if shape else Family.unknown


def controlnet_family(header: JsonObject) -> Family:
    """A ControlNet's family from its keys and shapes (original or diffusers names): the cross-attention
    width (768 SD 1.x, 1024 SD 2.x, 2048 SDXL) and SDXL's added embedding; unknown otherwise."""
    dims = {
        shape[1]
        for key in header
        if key.endswith("attn2.to_k.weight") and (shape := _shape(header, key)) and len(shape) == 2
    }
    if 2048 in dims or any(
        k.endswith(("label_emb.0.0.weight", "add_embedding.linear_1.weight")) for k in header
    ):
        return Family.sdxl
    return {768: Family.sd1, 1024: Family.sd2}.get(dims.pop() if len(dims) == 1 else 0, Family.unknown)


CONTROLNET_PREFIXES = (
    "control_model.",
    "controlnet_cond_embedding.",
    "controlnet_down_blocks.",
    "input_hint_block.",
)
UPSCALER_PREFIXES = ("conv_first.", "RRDB_trunk.", "params_ema.", "model.1.sub.", "layers.0.residual_group.")


def kind_of_keys(keys: list[str]) -> Kind | None:
    """The kind of a non-checkpoint model from its key names alone (None: not recognised)."""
    if any(k.startswith(CONTROLNET_PREFIXES) for k in keys):
        return Kind.controlnet
    if any(k.startswith("image_proj.") for k in keys) and any(k.startswith("ip_adapter.") for k in keys):
        return Kind.ip_adapter
    if {"image_proj", "ip_adapter"} <= set(keys) and any(k.endswith("to_k_ip.weight") for k in keys):
        return Kind.ip_adapter  # the official .bin's nested {"image_proj": {...}, "ip_adapter": {...}}
    if any("lora_" in k or ".lora." in k or k.startswith("lora_") for k in keys) or any(
        k.endswith(".alpha") for k in keys
    ):
        return Kind.lora
    if any(k.startswith(("encoder.layers.", "decoder.layers.")) for k in keys):
        return Kind.taesd
    if any(k.startswith(("encoder.down", "decoder.up", "first_stage_model.encoder")) for k in keys):
        return Kind.vae
    if any(k in ("emb_params", "clip_l", "clip_g", "string_to_param.*") for k in keys) and len(keys) <= 4:
        return Kind.embedding
    if any(k.startswith(UPSCALER_PREFIXES) for k in keys) or {"conv_up1.weight", "upconv1.weight"} & set(
        keys
    ):
        return Kind.upscaler
    if any(k.startswith("vision_model.embeddings.") for k in keys):
        return Kind.clip_vision
    return None


def _is_v_prediction(header: JsonObject, meta: JsonObject) -> bool:
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


def pickle_keys(path: Path) -> list[str]:
    """The state-dict key names of a zip-format torch pickle, read from its opcodes (nothing is unpickled)."""
    import pickletools
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            name = next((n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
            if name is None:
                return []
            ops = pickletools.genops(z.read(name))
            names = [
                str(arg) for op, arg, _ in ops if op.name in ("BINUNICODE", "SHORT_BINUNICODE", "UNICODE")
            ]
    except (OSError, zipfile.BadZipFile, ValueError):
        return []
    # a wrapping "state_dict" / "params_ema" key is itself a name: keep everything, prefixes match either way
    return names


def detect_kind(path: Path, suffix: str = "") -> tuple[Kind | None, Family]:
    """What a downloaded file is, from its header (safetensors) or its pickle's key names; None: not recognised.

    suffix: the file's real suffix where its name has none (hub cache blobs, partial downloads).
    """
    if (suffix or path.suffix).lower() == ".safetensors":
        header = read_header(path)
        keys = [k for k in header if k != "__metadata__"]
        if _shape(header, UNET_IN) is not None:
            return classify(header)
        kind = kind_of_keys(keys)
        if kind is Kind.controlnet:
            return kind, controlnet_family(header)
        return kind, ip_adapter_family(header) if kind is Kind.ip_adapter else Family.unknown
    keys = pickle_keys(path)
    if any(k.startswith("model.diffusion_model.") for k in keys):
        return Kind.checkpoint, Family.unknown
    if "params_ema" in keys or "params" in keys:
        return Kind.upscaler, Family.unknown
    if "string_to_param" in keys:
        return Kind.embedding, Family.unknown
    return kind_of_keys(keys), Family.unknown
