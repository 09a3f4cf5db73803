"""Convolution weights kept in oneDNN's blocked layout between calls, on the low-resolution levels of the UNet
(the CPU's bf16 fast path).

In eager mode oneDNN reorders every convolution weight into its blocked layout on every call, about 30 ms for a
2560->1280 3x3 weight on the build machine. Where the output has few positions (8x8 and 16x16 latents at 512²)
that reorder costs more than the convolution: with the blocked copy kept, that 2560->1280 layer on 8x8 takes
9.3 ms instead of 39.8 ms and on 16x16 33 ms instead of 61 ms, bit for bit the same result. Larger outputs gain
a few percent at most, so they keep the eager path and no copy. The copies cost about 0.9 GB for an SD 2.1 UNet
at 512² (bf16). A copy is made at a layer's first call and again when the layer's weight or the input's shape
changes; `forget_packed` drops them all (after LoRA patches). With gradients on (training) layers run as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

ATTR = "_sdstudio_packed"  # on each wrapped layer: (key, blocked weight) of its last packed call, or None
MAX_POSITIONS = 512  # batch x output height x width at most: where the reorder outweighs the convolution


def pack_weights(module: torch.nn.Module) -> int:
    """Let the module's Conv2d layers keep blocked bf16 weights where outputs are small; returns how many."""
    import torch

    count = 0
    for layer in module.modules():
        if getattr(layer, ATTR, False) is not False:
            continue  # wrapped already
        if (
            isinstance(layer, torch.nn.Conv2d)
            and layer.padding_mode == "zeros"
            and not isinstance(layer.padding, str)
        ):
            layer.forward = _conv_forward(layer)
            setattr(layer, ATTR, None)
            count += 1
    return count


def forget_packed(module: torch.nn.Module) -> None:
    """Drop the blocked copies (the weights were patched); each layer packs again at its next call."""
    for layer in module.modules():
        if getattr(layer, ATTR, False) is not False:
            setattr(layer, ATTR, None)


def _conv_forward(layer: torch.nn.Conv2d) -> Callable[[torch.Tensor], torch.Tensor]:
    import torch

    eager = layer.forward
    padding, stride, dilation = list(layer.padding), list(layer.stride), list(layer.dilation)

    def positions(x: torch.Tensor) -> int:
        h, w = x.shape[-2:]
        kh, kw = layer.kernel_size
        out_h = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
        out_w = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
        return x.shape[0] * out_h * out_w

    def forward(x: torch.Tensor) -> torch.Tensor:
        weight = layer.weight
        if (
            x.device.type != "cpu"
            or x.dtype != torch.bfloat16
            or weight.dtype != torch.bfloat16
            or x.dim() != 4
            or positions(x) > MAX_POSITIONS
            or (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad))
        ):
            return eager(x)
        key = (tuple(x.shape), weight.data_ptr(), weight._version)
        cached = getattr(layer, ATTR)
        if cached is None or cached[0] != key:
            blocked = torch.ops.mkldnn._reorder_convolution_weight(
                weight.detach(), padding, stride, dilation, layer.groups, list(x.shape)
            )
            cached = (key, blocked)
            setattr(layer, ATTR, cached)
        bias = layer.bias.detach() if layer.bias is not None else None
        return torch.ops.mkldnn._convolution_pointwise(
            x, cached[1], bias, padding, stride, dilation, layer.groups, "none", [], ""
        )

    return forward
