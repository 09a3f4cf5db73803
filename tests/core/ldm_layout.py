"""Test helper: write a diffusers pipeline's weights in the original single-file (LDM/CompVis) key layout."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

# header keys that tell the families apart
UNET_IN = "model.diffusion_model.input_blocks.0.0.weight"
SD1_TEXT = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
SD2_TEXT = "cond_stage_model.model.token_embedding.weight"
XL_G = "conditioner.embedders.1.model.token_embedding.weight"
XL_L = "conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight"

_RESNET_UNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_UNET_TOP = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}


def unet_to_ldm(sd: dict[str, Any], layers_per_block: int) -> dict[str, Any]:
    has_up_attn = {int(m.group(1)) for k in sd if (m := re.match(r"up_blocks\.(\d+)\.attentions", k))}
    return {"model.diffusion_model." + _unet_key(k, layers_per_block, has_up_attn): v for k, v in sd.items()}


def _unet_key(key: str, n: int, has_up_attn: set[int]) -> str:
    """A diffusers UNet key under the original (LDM) name, `model.diffusion_model.` left out."""
    new = None
    for src, dst in _UNET_TOP.items():
        if key.startswith(src + "."):
            new = dst + key[len(src) :]
    if m := re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        new = f"input_blocks.{1 + i * (n + 1) + j}.{0 if kind == 'resnets' else 1}.{_resnet(rest) if kind == 'resnets' else rest}"
    elif m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key):
        new = f"input_blocks.{1 + int(m[1]) * (n + 1) + n}.0.op.{m[2]}"
    elif m := re.match(r"mid_block\.resnets\.(\d+)\.(.*)", key):
        new = f"middle_block.{2 * int(m[1])}.{_resnet(m[2])}"
    elif m := re.match(r"mid_block\.attentions\.0\.(.*)", key):
        new = f"middle_block.1.{m[1]}"
    elif m := re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        new = f"output_blocks.{i * (n + 1) + j}.{0 if kind == 'resnets' else 1}.{_resnet(rest) if kind == 'resnets' else rest}"
    elif m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", key):
        i = int(m[1])
        new = f"output_blocks.{i * (n + 1) + n}.{2 if i in has_up_attn else 1}.conv.{m[2]}"
    if new is None:
        raise KeyError(f"unmapped UNet key {key}")
    return new


_CONTROL_TOP = {  # a ControlNet's own parts; the rest is named as in the UNet it copies
    "controlnet_cond_embedding.conv_in": "input_hint_block.0",
    "controlnet_cond_embedding.conv_out": "input_hint_block.14",
    "controlnet_mid_block": "middle_block_out.0",
}


def controlnet_to_ldm(sd: dict[str, Any], layers_per_block: int) -> dict[str, Any]:
    """A diffusers ControlNet's weights as the original ControlNet files hold them (`control_model....`)."""
    out = {}
    for key, value in sd.items():
        new = next(
            (dst + key[len(src) :] for src, dst in _CONTROL_TOP.items() if key.startswith(src + ".")), None
        )
        if m := re.fullmatch(r"controlnet_cond_embedding\.blocks\.(\d+)\.(.+)", key):
            new = f"input_hint_block.{2 * (int(m[1]) + 1)}.{m[2]}"
        elif m := re.fullmatch(r"controlnet_down_blocks\.(\d+)\.(.+)", key):
            new = f"zero_convs.{m[1]}.0.{m[2]}"
        out["control_model." + (new or _unet_key(key, layers_per_block, set()))] = value
    return out


def _resnet(rest: str) -> str:
    name, _, tail = rest.partition(".")
    return f"{_RESNET_UNET.get(name, name)}.{tail}"


def vae_to_ldm(sd: dict[str, Any], blocks: int) -> dict[str, Any]:
    out = {}
    attn = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
    for key, value in sd.items():
        new = key.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
        if m := re.match(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.*)\.(weight|bias)", key):
            new = f"{m[1]}.mid.attn_1.{attn[m[2]]}.{m[3]}"
            if m[3] == "weight" and value.ndim == 2:
                value = value[:, :, None, None]
        elif m := re.match(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.*)", new):
            new = f"{m[1]}.mid.block_{int(m[2]) + 1}.{m[3]}"
        elif m := re.match(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", new):
            new = f"encoder.down.{m[1]}.block.{m[2]}.{m[3]}"
        elif m := re.match(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.(.*)", new):
            new = f"encoder.down.{m[1]}.downsample.{m[2]}"
        elif m := re.match(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", new):
            new = f"decoder.up.{blocks - 1 - int(m[1])}.block.{m[2]}.{m[3]}"
        elif m := re.match(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.(.*)", new):
            new = f"decoder.up.{blocks - 1 - int(m[1])}.upsample.{m[2]}"
        out["first_stage_model." + new] = value
    return out


def openclip_to_ldm(sd: dict[str, Any], prefix: str) -> dict[str, Any]:
    import torch

    out: dict[str, Any] = {}
    qkv: dict[str, dict[str, Any]] = {}
    for key, value in sd.items():
        if key == "text_model.embeddings.position_embedding.weight":
            out[prefix + "positional_embedding"] = value
        elif key == "text_model.embeddings.token_embedding.weight":
            out[prefix + "token_embedding.weight"] = value
        elif key.startswith("text_model.final_layer_norm."):
            out[prefix + "ln_final." + key.rsplit(".", 1)[1]] = value
        elif key == "text_projection.weight":
            out[prefix + "text_projection"] = value.T.contiguous()
        elif m := re.match(
            r"text_model\.encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(weight|bias)", key
        ):
            qkv.setdefault(f"{m[1]}.{m[3]}", {})[m[2]] = value
        elif m := re.match(r"text_model\.encoder\.layers\.(\d+)\.(.*)", key):
            rest = (
                m[2]
                .replace("self_attn.out_proj", "attn.out_proj")
                .replace("layer_norm1", "ln_1")
                .replace("layer_norm2", "ln_2")
            )
            rest = rest.replace("mlp.fc1", "mlp.c_fc").replace("mlp.fc2", "mlp.c_proj")
            out[f"{prefix}transformer.resblocks.{m[1]}.{rest}"] = value
    for layer_kind, parts in qkv.items():
        layer, kind = layer_kind.split(".")
        out[f"{prefix}transformer.resblocks.{layer}.attn.in_proj_{kind}"] = torch.cat(
            [parts["q"], parts["k"], parts["v"]]
        )
    return out


def _hf_text_keys(model: Any) -> dict[str, Any]:
    """CLIP text weights under their classic names (transformers 5 drops the "text_model." prefix)."""
    out = {}
    for k, v in model.state_dict().items():
        if "position_ids" in k:
            continue
        out[k if k.startswith(("text_model.", "text_projection")) else "text_model." + k] = v
    return out


def save_ldm_checkpoint(pipe: Any, path: Path) -> Path:
    """Write pipe (SD 1.x or SDXL) as one LDM-layout .safetensors file."""
    from safetensors.torch import save_file

    sd: dict[str, Any] = {}
    sd |= unet_to_ldm(pipe.unet.state_dict(), pipe.unet.config.layers_per_block)
    sd |= vae_to_ldm(pipe.vae.state_dict(), len(pipe.vae.config.block_out_channels))
    te = _hf_text_keys(pipe.text_encoder)
    if getattr(pipe, "text_encoder_2", None) is not None:
        sd |= {"conditioner.embedders.0.transformer." + k: v for k, v in te.items()}
        te2 = _hf_text_keys(pipe.text_encoder_2)
        sd |= openclip_to_ldm(te2, "conditioner.embedders.1.model.")
    else:
        sd |= {"cond_stage_model.transformer." + k: v for k, v in te.items()}
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    return path


def as_single_file(folder: Path, out: Path, pipe_cls: Any) -> Path:
    """Write the folder's weights as an LDM single file, with a sibling `.config` of the folder's configs."""
    import shutil

    pipe = pipe_cls.from_pretrained(str(folder))
    out.parent.mkdir(parents=True, exist_ok=True)
    save_ldm_checkpoint(pipe, out)
    shutil.copytree(folder, out.with_suffix(".config"), ignore=shutil.ignore_patterns("*.safetensors"))
    return out


def write_header(path: Path, tensors: dict[str, list[int]], metadata: dict | None = None) -> Path:
    """A safetensors file with the given shapes (zero-filled float16 data, valid offsets)."""
    header: dict = {"__metadata__": metadata} if metadata else {}
    offset = 0
    for key, shape in tensors.items():
        n = int(np.prod(shape)) * 2
        header[key] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * offset)
    return path
