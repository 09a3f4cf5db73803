"""IP-Adapter and CLIP image-encoder files: what an adapter needs (read from the safetensors header or the
pickle's tensor shapes), its weights as diffusers' loader takes them, and the image encoder as a transformers
CLIPVisionModelWithProjection (a folder with config.json, or a single file whose config follows its shapes)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sdstudio.core.errors import ModelError
from sdstudio.core.jsontypes import JsonObject
from sdstudio.core.models.detect import read_header
from sdstudio.core.models.scan import DEFAULT_WEIGHT_NAMES

if TYPE_CHECKING:
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection


@dataclass(frozen=True)
class AdapterSpec:
    """What an IP-Adapter file is made for."""

    variant: str  # "plain", "plus", "full face" or "face id"
    cross_dim: int  # the UNet's cross-attention width it was trained for (768 SD 1.x, 2048 SDXL)
    layers: int  # cross-attention layers it has keys for (16 SD 1.x, 70 SDXL)
    needs: str  # "embeds": the encoder's image embeddings; "hidden": its penultimate hidden states
    width: int  # their width


def _shapes(path: Path) -> dict[str, list[int]]:
    """Tensor name -> shape, nested pickle dicts flattened with dots."""
    if path.suffix.lower() == ".safetensors":
        header = read_header(path)
        return {k: list(v["shape"]) for k, v in header.items() if isinstance(v, dict) and "shape" in v}
    return {k: list(v.shape) for k, v in _flat(_torch_load(path)).items()}


def _torch_load(path: Path) -> dict[str, object]:
    """A pickled state dict (tensors, possibly nested in dicts), read without running its code."""
    import pickle

    import torch

    try:
        try:
            data = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # legacy (non-zip) pickles cannot be memory-mapped
            data = torch.load(str(path), map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, KeyError, EOFError, pickle.UnpicklingError) as e:
        raise ModelError(f"{path}: cannot read it ({str(e).splitlines()[0][:160]})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: not a model state dict")
    return data


def _flat(data: dict[str, object], prefix: str = "") -> dict[str, torch.Tensor]:
    """The tensors of a nested state dict under dotted names."""
    out: dict[str, torch.Tensor] = {}
    for k, v in data.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        elif hasattr(v, "shape"):
            out[f"{prefix}{k}"] = v
    return out


def _stamp(path: Path) -> tuple[str, int, int]:
    try:
        st = path.stat()
    except OSError as e:
        raise ModelError(f"{path}: cannot read ({e.strerror or e})") from None
    return str(path), st.st_size, st.st_mtime_ns


def adapter_spec(path: Path) -> AdapterSpec:
    """An IP-Adapter file's needs, from its key names and shapes (no weights read for safetensors)."""
    return _adapter_spec(_stamp(path))


@lru_cache(maxsize=64)
def _adapter_spec(stamp: tuple[str, int, int]) -> AdapterSpec:
    path = Path(stamp[0])
    shapes = _shapes(path)
    proj = {k.removeprefix("image_proj."): s for k, s in shapes.items() if k.startswith("image_proj.")}
    ip = {k.removeprefix("ip_adapter."): s for k, s in shapes.items() if k.startswith("ip_adapter.")}
    keys = sorted((k for k in ip if k.endswith(".to_k_ip.weight")), key=lambda k: int(k.split(".")[0]))
    if not proj or not keys:
        raise ModelError(f"{path}: not an IP-Adapter (no image_proj / ip_adapter weights)")
    cross, layers = ip[keys[0]][-1], len(keys)
    if "proj.weight" in proj:
        return AdapterSpec("plain", cross, layers, "embeds", proj["proj.weight"][-1])
    if "proj.3.weight" in proj:
        return AdapterSpec("full face", cross, layers, "hidden", proj["proj.0.weight"][-1])
    if "proj_in.weight" in proj and not any(".to_k_lora." in k for k in ip):
        return AdapterSpec("plus", cross, layers, "hidden", proj["proj_in.weight"][-1])
    return AdapterSpec("face id", cross, layers, "embeds", 512)


def read_adapter(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    """The adapter's weights as diffusers' loader takes them: {"image_proj": {...}, "ip_adapter": {...}}."""
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        flat = load_file(str(path))
    else:
        flat = _flat(_torch_load(path))
    out: dict[str, dict[str, torch.Tensor]] = {"image_proj": {}, "ip_adapter": {}}
    for key, value in flat.items():
        part, _, rest = key.partition(".")
        if part in out:
            out[part][rest] = value
    return out


# CLIP vision towers by width: (attention heads, activation); OpenAI's ViT-L/B use quick_gelu, OpenCLIP's gelu
KNOWN_TOWERS = {768: (12, "quick_gelu"), 1024: (16, "quick_gelu"), 1280: (16, "gelu"), 1664: (16, "gelu")}


def _config_file(path: Path) -> Path | None:
    """config.json of a transformers folder whose weights `path` is (the library lists the weight file)."""
    folder = path if path.is_dir() else path.parent
    named = path.is_dir() or path.stem in DEFAULT_WEIGHT_NAMES
    return folder / "config.json" if named and (folder / "config.json").is_file() else None


def _vision_config(data: JsonObject) -> JsonObject:
    vision = dict(data.get("vision_config") or data)
    if "projection_dim" in data:
        vision.setdefault("projection_dim", data["projection_dim"])
    return vision


def encoder_dims(path: Path) -> tuple[int, int]:
    """(hidden size, image-embedding size) of a CLIP image encoder file or folder."""
    return _encoder_dims(_stamp(path))


@lru_cache(maxsize=64)
def _encoder_dims(stamp: tuple[str, int, int]) -> tuple[int, int]:
    path = Path(stamp[0])
    config = _config_file(path)
    if config is not None:
        try:
            vision = _vision_config(json.loads(config.read_text()))
            return int(vision["hidden_size"]), int(vision.get("projection_dim", 512))
        except (OSError, ValueError, KeyError, TypeError):
            raise ModelError(f"{config}: not a CLIP vision config") from None
    shapes = _shapes(path)
    cls, proj = shapes.get("vision_model.embeddings.class_embedding"), shapes.get("visual_projection.weight")
    if not cls or not proj:
        raise ModelError(
            f"{path}: not a CLIP image encoder in transformers' layout (vision_model.*, visual_projection)"
        )
    return cls[0], proj[0]


def _inferred_config(state: dict[str, torch.Tensor], path: Path) -> CLIPVisionConfig:
    """A CLIPVisionConfig following a single file's tensor shapes."""
    from transformers import CLIPVisionConfig

    hidden = int(state["vision_model.embeddings.class_embedding"].shape[0])
    if hidden not in KNOWN_TOWERS:
        raise ModelError(
            f"{path}: a {hidden}-wide CLIP vision model has no known config; put it in a folder with its "
            "config.json (as transformers saves it)"
        )
    heads, act = KNOWN_TOWERS[hidden]
    patch = state["vision_model.embeddings.patch_embedding.weight"]
    positions = int(state["vision_model.embeddings.position_embedding.weight"].shape[0])
    layers = 1 + max(int(k.split(".")[3]) for k in state if k.startswith("vision_model.encoder.layers."))
    return CLIPVisionConfig(
        hidden_size=hidden,
        intermediate_size=int(state["vision_model.encoder.layers.0.mlp.fc1.weight"].shape[0]),
        projection_dim=int(state["visual_projection.weight"].shape[0]),
        num_hidden_layers=layers,
        num_attention_heads=heads,
        patch_size=int(patch.shape[-1]),
        image_size=round((positions - 1) ** 0.5) * int(patch.shape[-1]),
        hidden_act=act,
    )


def load_image_encoder(
    path: Path, device: torch.device | str, dtype: torch.dtype
) -> CLIPVisionModelWithProjection:
    """A CLIPVisionModelWithProjection from the library's file or folder, on `device` in `dtype`."""
    from transformers import CLIPVisionModelWithProjection

    config = _config_file(path)
    try:
        if config is not None:
            model = CLIPVisionModelWithProjection.from_pretrained(
                str(config.parent), dtype=dtype, local_files_only=True
            )
        else:
            if path.suffix.lower() == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(str(path))
            else:
                state = _flat(_torch_load(path))
            model = CLIPVisionModelWithProjection(_inferred_config(state, path))
            missing, _ = model.load_state_dict(state, strict=False)
            if [k for k in missing if not k.endswith("position_ids")]:
                raise ModelError(
                    f"{path}: not a complete CLIP image encoder ({len(missing)} tensors missing)"
                )
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        raise ModelError(
            f"image encoder {path.name}: cannot load it ({str(e).splitlines()[0][:200]})"
        ) from None
    return model.to(device=device, dtype=dtype).eval()
