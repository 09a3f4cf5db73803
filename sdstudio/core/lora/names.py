"""Which model layer a LoRA key names: every spelling (kohya diffusers-style and LDM-style, diffusers/peft)
generated from the model's own module names, as A1111 and ComfyUI do."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from diffusers import DiffusionPipeline


_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_TOP = {
    "conv_in": "input_blocks.0.0",
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
_BLOCK = re.compile(
    r"^(down_blocks|up_blocks)\.(\d+)\.(resnets|attentions|downsamplers|upsamplers)\.(\d+)\.(.+)$"
)
_MID = re.compile(r"^mid_block\.(resnets|attentions)\.(\d+)\.(.+)$")


@dataclass(frozen=True)
class Target:
    """A patchable layer: the pipeline component (unet, text_encoder, text_encoder_2) and module path."""

    component: str
    module: str

    @property
    def is_unet(self) -> bool:
        return self.component == "unet"


def _inner(kind: str, rest: str) -> str:
    """A resnet's sublayer in LDM names; attention sublayers are spelled alike in both."""
    if kind == "resnets":
        head, _, tail = rest.partition(".")
        return _RESNET.get(head, head) + ("." + tail if tail else "")
    return rest


def ldm_name(name: str, layers_per_block: int, up_attention: list[bool]) -> str | None:
    """The original Stable Diffusion (LDM) name of a diffusers UNet module, or None for one it lacks."""
    for prefix, ldm in _TOP.items():
        if name == prefix or name.startswith(prefix + "."):
            return ldm + name[len(prefix) :]
    if m := _MID.match(name):
        kind, i, rest = m.group(1), int(m.group(2)), m.group(3)
        index = 1 if kind == "attentions" else 2 * i
        return f"middle_block.{index}.{_inner(kind, rest)}"
    m = _BLOCK.match(name)
    if m is None:
        return None
    side, block, kind, i, rest = m.group(1), int(m.group(2)), m.group(3), int(m.group(4)), m.group(5)
    n = layers_per_block
    if side == "down_blocks":
        if kind == "downsamplers":
            return f"input_blocks.{(block + 1) * (n + 1)}.0.{rest.replace('conv', 'op', 1)}"
        sub = 0 if kind == "resnets" else 1
        return f"input_blocks.{1 + block * (n + 1) + i}.{sub}.{_inner(kind, rest)}"
    if kind == "upsamplers":
        sub = 2 if up_attention[block] else 1
        return f"output_blocks.{block * (n + 1) + n}.{sub}.{rest}"
    sub = 0 if kind == "resnets" else 1
    return f"output_blocks.{block * (n + 1) + i}.{sub}.{_inner(kind, rest)}"


def _layers(module: torch.nn.Module) -> list[str]:
    import torch

    return [n for n, m in module.named_modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]


def key_map(pipe: DiffusionPipeline) -> dict[str, Target]:
    """Every layer name a LoRA file may use for this pipeline's UNet and text encoders."""
    out: dict[str, Target] = {}
    unet = getattr(pipe, "unet", None)
    if unet is not None:
        cfg = unet.config
        n = cfg.layers_per_block if isinstance(cfg.layers_per_block, int) else cfg.layers_per_block[0]
        up_attention = ["CrossAttn" in t for t in cfg.up_block_types]
        for name in _layers(unet):
            target = Target("unet", name)
            names = [name, "unet." + name, "lora_unet_" + name.replace(".", "_")]
            if ldm := ldm_name(name, n, up_attention):
                names += ["lora_unet_" + ldm.replace(".", "_"), "diffusion_model." + ldm]
            out.update(dict.fromkeys(names, target))
    encoders = [c for c in ("text_encoder", "text_encoder_2") if getattr(pipe, c, None) is not None]
    sdxl = len(encoders) == 2
    for component in encoders:
        kohya = {"text_encoder": "lora_te1_" if sdxl else "lora_te_", "text_encoder_2": "lora_te2_"}[
            component
        ]
        for name in _layers(getattr(pipe, component)):
            full = name if name.startswith("text_model.") else "text_model." + name  # transformers 5 flattens
            target = Target(component, name)
            names = [kohya + full.replace(".", "_"), f"{component}.{full}", f"{component}.{name}"]
            out.update(dict.fromkeys(names, target))
    return out
