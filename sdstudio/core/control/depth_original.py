"""Depth Anything's original checkpoints (`depth_anything_vit{s,b,l}14.pth`, what the A1111 ControlNet extension
downloads into `annotator/downloads/depth_anything`) read into transformers' DepthAnythingForDepthEstimation:
the architecture is read from the tensors' shapes, the names mapped to transformers' and the fused qkv split."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sdstudio.core.errors import ModelError

if TYPE_CHECKING:
    import torch
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation


ORIGINAL_NAME = re.compile(r"^depth_anything_vit[slbg]14\.(pth|pt|safetensors)$")


def is_original(path: Path) -> bool:
    return path.is_file() and bool(ORIGINAL_NAME.match(path.name))


def _read(path: Path) -> dict[str, torch.Tensor]:
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path)))
    data = torch.load(str(path), map_location="cpu", weights_only=True)
    return dict(data.get("state_dict", data) if isinstance(data, dict) else {})


def _config(sd: dict[str, torch.Tensor]) -> DepthAnythingConfig:
    """The transformers config the tensors describe (DINOv2 backbone size, depth, neck and fusion widths)."""
    from transformers import DepthAnythingConfig, Dinov2Config

    hidden = int(sd["pretrained.pos_embed"].shape[-1])
    layers = 1 + max(int(k.split(".")[2]) for k in sd if k.startswith("pretrained.blocks."))
    side = round((int(sd["pretrained.pos_embed"].shape[1]) - 1) ** 0.5)
    patch = int(sd["pretrained.patch_embed.proj.weight"].shape[-1])
    backbone = Dinov2Config(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64),
        intermediate_size=int(sd["pretrained.blocks.0.mlp.fc1.weight"].shape[0]),
        patch_size=patch,
        image_size=side * patch,
        out_indices=[layers - 3, layers - 2, layers - 1, layers],
        apply_layernorm=True,
        reshape_hidden_states=False,
    )
    return DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=hidden,
        patch_size=patch,
        neck_hidden_sizes=[int(sd[f"depth_head.projects.{i}.weight"].shape[0]) for i in range(4)],
        fusion_hidden_size=int(sd["depth_head.scratch.layer1_rn.weight"].shape[0]),
        head_hidden_size=int(sd["depth_head.scratch.output_conv2.0.weight"].shape[0]),
    )


def _renamed(sd: dict[str, torch.Tensor], hidden: int) -> dict[str, torch.Tensor]:
    """The tensors under transformers' names."""
    out: dict[str, torch.Tensor] = {}
    stem = {
        "cls_token": "cls_token",
        "mask_token": "mask_token",
        "pos_embed": "position_embeddings",
        "patch_embed.proj.weight": "patch_embeddings.projection.weight",
        "patch_embed.proj.bias": "patch_embeddings.projection.bias",
    }
    block = {
        "ls1.gamma": "layer_scale1.lambda1",
        "ls2.gamma": "layer_scale2.lambda1",
        "attn.proj": "attention.output.dense",
        "norm1": "norm1",
        "norm2": "norm2",
        "mlp.fc1": "mlp.fc1",
        "mlp.fc2": "mlp.fc2",
    }
    fusion = {"out_conv": "projection", "resConfUnit1": "residual_layer1", "resConfUnit2": "residual_layer2"}
    head = {"output_conv1": "conv1", "output_conv2.0": "conv2", "output_conv2.2": "conv3"}
    for key, value in sd.items():
        name, _, leaf = key.rpartition(".")
        if key.startswith("pretrained.blocks.") and ".attn.qkv." in key:
            i = key.split(".")[2]
            for n, part in enumerate(("query", "key", "value")):
                out[f"backbone.encoder.layer.{i}.attention.attention.{part}.{leaf}"] = value[
                    n * hidden : (n + 1) * hidden
                ]
            continue
        if key.removeprefix("pretrained.") in stem:
            out["backbone.embeddings." + stem[key.removeprefix("pretrained.")]] = value
        elif key.startswith("pretrained.blocks."):
            i, rest = key.split(".")[2], ".".join(key.split(".")[3:])
            found = next((b for b in block if rest == b or rest.startswith(b + ".")), None)
            if found is None:
                raise ModelError(f"unexpected tensor {key} in a Depth Anything checkpoint")
            out[f"backbone.encoder.layer.{i}.{block[found]}{rest[len(found) :]}"] = value
        elif name == "pretrained.norm":
            out[f"backbone.layernorm.{leaf}"] = value
        elif m := re.fullmatch(r"depth_head\.projects\.(\d)", name):
            out[f"neck.reassemble_stage.layers.{m.group(1)}.projection.{leaf}"] = value
        elif m := re.fullmatch(r"depth_head\.resize_layers\.(\d)", name):
            out[f"neck.reassemble_stage.layers.{m.group(1)}.resize.{leaf}"] = value
        elif m := re.fullmatch(r"depth_head\.scratch\.refinenet(\d)\.(\w+)(\.conv(\d))?", name):
            j = 4 - int(m.group(1))  # refinenet4 is the first fusion layer
            conv = f".convolution{m.group(4)}" if m.group(3) else ""
            out[f"neck.fusion_stage.layers.{j}.{fusion[m.group(2)]}{conv}.{leaf}"] = value
        elif m := re.fullmatch(r"depth_head\.scratch\.layer(\d)_rn", name):
            out[f"neck.convs.{int(m.group(1)) - 1}.{leaf}"] = value
        elif name.removeprefix("depth_head.scratch.") in head:
            out[f"head.{head[name.removeprefix('depth_head.scratch.')]}.{leaf}"] = value
        else:
            raise ModelError(f"unexpected tensor {key} in a Depth Anything checkpoint")
    return out


def _v5_name(key: str) -> str:
    for old, new in V5_NAMES:
        key = key.replace(old, new)
    return key


V5_NAMES = (
    (".attention.attention.query.", ".attention.q_proj."),
    (".attention.attention.key.", ".attention.k_proj."),
    (".attention.attention.value.", ".attention.v_proj."),
    (".attention.output.dense.", ".attention.o_proj."),
)


def load_original(path: Path) -> DepthAnythingForDepthEstimation:
    """A DepthAnythingForDepthEstimation from an original checkpoint; a file of another layout is a ModelError."""
    from transformers import DepthAnythingForDepthEstimation

    try:
        sd = _read(path)
        config = _config(sd)
    except (KeyError, ValueError, RuntimeError, OSError) as e:
        raise ModelError(
            f"{path}: not a Depth Anything checkpoint ({str(e).splitlines()[0][:160]})"
        ) from None
    hidden = config.backbone_config.hidden_size
    model = DepthAnythingForDepthEstimation(config)
    renamed = _renamed(sd, hidden)
    if any(".attention.q_proj." in k for k in model.state_dict()):  # transformers 5's names for the same
        renamed = {_v5_name(k): v for k, v in renamed.items()}
    try:
        model.load_state_dict(renamed, strict=True)
    except RuntimeError as e:
        raise ModelError(
            f"{path}: its tensors do not fit Depth Anything ({str(e).splitlines()[0][:160]})"
        ) from None
    return model
