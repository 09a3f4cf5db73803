"""Tiny ControlNets for the tests and the device check (no pytest needed to import it)."""

from __future__ import annotations

import torch


def tiny_controlnet(unet: torch.nn.Module, seed: int) -> torch.nn.Module:
    """ControlNetModel.from_unet with its zero convolutions given random weights (else it changes nothing)."""
    from diffusers import ControlNetModel

    net = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 8, 8, 8))
    g = torch.Generator().manual_seed(seed)
    zero = [*net.controlnet_down_blocks, net.controlnet_mid_block, net.controlnet_cond_embedding.conv_out]
    with torch.no_grad():
        for conv in zero:
            for p in conv.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return net
