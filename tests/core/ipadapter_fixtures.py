"""Tiny IP-Adapters and CLIP image encoders for the tests, in the official files' layout (the keys h94's
ip-adapter_*.safetensors / .bin have), fitted to a given UNet."""

from __future__ import annotations

import re
from pathlib import Path

import torch

ENCODER = {"hidden_size": 32, "intermediate_size": 37, "projection_dim": 16, "num_hidden_layers": 2}


def tiny_encoder(folder: Path, seed: int = 0) -> Path:
    """A random CLIPVisionModelWithProjection saved as a transformers folder (config.json + model.safetensors)."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    config = CLIPVisionConfig(**ENCODER, num_attention_heads=4, image_size=32, patch_size=8)
    CLIPVisionModelWithProjection(config).save_pretrained(str(folder))
    return folder


def _cross_layers(unet: torch.nn.Module) -> list[tuple[int, str]]:
    """(key id, processor name) of the cross-attention layers: a key id is the processor's 0-based position."""
    return [(i, n) for i, n in enumerate(unet.attn_processors, start=0) if n.endswith("attn2.processor")]


def _hidden(unet: torch.nn.Module, name: str) -> int:
    channels = list(unet.config.block_out_channels)
    if name.startswith("mid_block"):
        return channels[-1]
    block = int(name.split(".")[1])
    return channels[block] if name.startswith("down_blocks") else list(reversed(channels))[block]


def _ip_layers(unet: torch.nn.Module, g: torch.Generator, cross: int) -> dict[str, torch.Tensor]:
    out = {}
    for key_id, name in _cross_layers(unet):
        hidden = _hidden(unet, name)
        for part in ("to_k_ip", "to_v_ip"):
            out[f"{key_id}.{part}.weight"] = torch.randn(hidden, cross, generator=g) * 0.3
    return out


def tiny_adapter(unet: torch.nn.Module, seed: int = 1, cross: int | None = None) -> dict[str, dict]:
    """A plain IP-Adapter state dict ({"image_proj": ..., "ip_adapter": ...}) for the UNet and the tiny encoder."""
    g = torch.Generator().manual_seed(seed)
    cross = cross or unet.config.cross_attention_dim
    proj = {
        "proj.weight": torch.randn(cross * 4, ENCODER["projection_dim"], generator=g) * 0.5,
        "proj.bias": torch.randn(cross * 4, generator=g) * 0.1,
        "norm.weight": 1 + torch.randn(cross, generator=g) * 0.1,
        "norm.bias": torch.randn(cross, generator=g) * 0.1,
    }
    return {"image_proj": proj, "ip_adapter": _ip_layers(unet, g, cross)}


def tiny_plus_adapter(unet: torch.nn.Module, seed: int = 2) -> dict[str, dict]:
    """An IP-Adapter Plus (perceiver resampler over the encoder's hidden states), in the original key names."""
    from diffusers.models.embeddings import IPAdapterPlusImageProjection

    g = torch.Generator().manual_seed(seed)
    cross = unet.config.cross_attention_dim
    torch.manual_seed(seed)
    proj = IPAdapterPlusImageProjection(
        embed_dims=ENCODER["hidden_size"], output_dims=cross, hidden_dims=64, heads=1, num_queries=4
    )
    original: dict[str, torch.Tensor] = {}
    for (
        key,
        value,
    ) in proj.state_dict().items():  # diffusers' names back to the resampler's (to_k + to_v: to_kv)
        key = re.sub(r"layers\.(\d)\.ln0", r"layers.\1.0.norm1", key)
        key = re.sub(r"layers\.(\d)\.ln1", r"layers.\1.0.norm2", key)
        key = re.sub(r"layers\.(\d)\.attn\.to_out\.0", r"layers.\1.0.to_out", key)
        key = re.sub(r"layers\.(\d)\.attn\.", r"layers.\1.0.", key)
        key = re.sub(r"layers\.(\d)\.ff\.0\.", r"layers.\1.1.0.", key)
        key = re.sub(r"layers\.(\d)\.ff\.1\.net\.0\.proj\.", r"layers.\1.1.1.", key)
        key = re.sub(r"layers\.(\d)\.ff\.1\.net\.2\.", r"layers.\1.1.3.", key)
        original[key] = value.detach().clone()
    for i in range(4):
        k, v = original.pop(f"layers.{i}.0.to_k.weight"), original.pop(f"layers.{i}.0.to_v.weight")
        original[f"layers.{i}.0.to_kv.weight"] = torch.cat([k, v])
    return {"image_proj": original, "ip_adapter": _ip_layers(unet, g, cross)}


def save_adapter(state: dict[str, dict], path: Path) -> Path:
    """As h94 publishes them: .safetensors with prefixed flat keys, .bin as the nested dict."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        flat = {f"{part}.{k}": v.contiguous() for part, d in state.items() for k, v in d.items()}
        save_file(flat, str(path))
    else:
        torch.save(state, str(path))
    return path
