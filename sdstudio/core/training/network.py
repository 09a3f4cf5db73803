"""The low-rank modules trained into a frozen model, written as kohya-format LoRA keys.

Each target layer keeps its weights; its forward becomes `W x + m · (alpha/rank) · up(down(x))` — the same
formula the LoRA patcher applies at generation time, so a trained file patches back to what was trained.
Targets are kohya's: the Linear layers (and 1x1 convs) of the UNet's transformer blocks, with LoCon also the
ResNet and sampler convolutions; the text encoders' attention and MLP layers when they are trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch


UNET_TARGETS = ("Transformer2DModel",)
LOCON_TARGETS = ("ResnetBlock2D", "Downsample2D", "Upsample2D")
TEXT_TARGETS = ("CLIPAttention", "CLIPSdpaAttention", "CLIPMLP")


@dataclass
class LoraLayer:
    """One trained layer: its kohya key, the wrapped module and the two low-rank factors."""

    key: str
    module: torch.nn.Module
    down: torch.nn.Module
    up: torch.nn.Module
    original_forward: Callable[..., torch.Tensor]


class LoraNetwork:
    """The LoRA layers of one model under training; `parameters()` for the optimizer, `state_dict()` to save."""

    def __init__(self, rank: int, alpha: float, multiplier: float = 1.0):
        self.rank, self.alpha, self.multiplier = rank, alpha, multiplier
        self.layers: list[LoraLayer] = []

    @property
    def scale(self) -> float:
        return self.alpha / self.rank

    def attach(
        self, root: torch.nn.Module, prefix: str, targets: tuple[str, ...], convs: bool, names: str = ""
    ) -> int:
        """Wrap every Linear (and, with convs, Conv2d) inside modules of the `targets` classes; returns count.

        Keys are `prefix` + (`names` + the module's path) with dots as underscores, as kohya writes them."""
        import torch

        count = 0
        for name, parent in root.named_modules():
            if type(parent).__name__ not in targets:
                continue
            for child_name, child in parent.named_modules():
                is_linear = isinstance(child, torch.nn.Linear)
                is_conv = isinstance(child, torch.nn.Conv2d)
                if not (is_linear or (is_conv and (convs or child.kernel_size == (1, 1)))):
                    continue
                full = names + (f"{name}.{child_name}" if child_name else name)
                key = prefix + full.replace(".", "_")
                if any(layer.key == key for layer in self.layers):
                    continue
                self._wrap(key, child)
                count += 1
        return count

    def _wrap(self, key: str, module: torch.nn.Module) -> None:
        import torch

        p = module.weight
        if isinstance(module, torch.nn.Linear):
            down = torch.nn.Linear(module.in_features, self.rank, bias=False)
            up = torch.nn.Linear(self.rank, module.out_features, bias=False)
        else:
            down = torch.nn.Conv2d(
                module.in_channels, self.rank, module.kernel_size, module.stride, module.padding, bias=False
            )
            up = torch.nn.Conv2d(self.rank, module.out_channels, (1, 1), bias=False)
        torch.nn.init.kaiming_uniform_(down.weight, a=math.sqrt(5))  # kohya's initialisation
        torch.nn.init.zeros_(up.weight)  # the untrained LoRA changes nothing
        down.to(device=p.device, dtype=torch.float32)
        up.to(device=p.device, dtype=torch.float32)
        layer = LoraLayer(key, module, down, up, module.forward)

        def forward(x: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
            out = layer.original_forward(x, *args, **kwargs)
            delta = layer.up(layer.down(x.to(layer.down.weight.dtype)))
            return out + (delta * (self.multiplier * self.scale)).to(out.dtype)

        module.forward = forward
        self.layers.append(layer)

    def detach(self) -> None:
        """Give every wrapped module its own forward back."""
        for layer in self.layers:
            layer.module.forward = layer.original_forward
        self.layers.clear()

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for layer in self.layers for p in (layer.down.weight, layer.up.weight)]

    def state_dict(self) -> dict[str, torch.Tensor]:
        """kohya's keys: `<key>.lora_down.weight`, `<key>.lora_up.weight`, `<key>.alpha`."""
        import torch

        out: dict[str, torch.Tensor] = {}
        for layer in self.layers:
            out[f"{layer.key}.lora_down.weight"] = layer.down.weight.detach().clone().contiguous()
            out[f"{layer.key}.lora_up.weight"] = layer.up.weight.detach().clone().contiguous()
            out[f"{layer.key}.alpha"] = torch.tensor(float(self.alpha))
        return out

    def load_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        """Weights saved by state_dict (a resumed run); a key this network lacks is an error."""
        import torch

        with torch.no_grad():
            for layer in self.layers:
                layer.down.weight.copy_(tensors[f"{layer.key}.lora_down.weight"])
                layer.up.weight.copy_(tensors[f"{layer.key}.lora_up.weight"])


def text_prefixes(encoders: int) -> list[str]:
    """kohya's text-encoder prefixes: `lora_te_` for one encoder, `lora_te1_`/`lora_te2_` for SDXL's two."""
    return ["lora_te_"] if encoders == 1 else ["lora_te1_", "lora_te2_"]


def text_names(encoder: torch.nn.Module) -> str:
    """What to put before a text encoder's module paths so they read `text_model.…` as kohya's keys do
    (transformers 5 no longer nests the layers under `text_model`)."""
    nested = any(n.startswith("text_model.") for n, _ in encoder.named_modules())
    return "" if nested else "text_model."
