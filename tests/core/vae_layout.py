"""A diffusers AutoencoderKL state dict in the original (LDM) key names A1111 VAE files use (tests only)."""

from __future__ import annotations

import re
from typing import Any

_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def to_ldm(state: dict[str, Any], up_blocks: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in state.items():
        k = key.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
        k = re.sub(r"down_blocks\.(\d+)\.resnets\.", r"down.\1.block.", k)
        k = re.sub(r"down_blocks\.(\d+)\.downsamplers\.0\.", r"down.\1.downsample.", k)
        k = re.sub(
            r"up_blocks\.(\d+)\.resnets\.", lambda m: f"up.{up_blocks - 1 - int(m.group(1))}.block.", k
        )
        k = re.sub(
            r"up_blocks\.(\d+)\.upsamplers\.0\.",
            lambda m: f"up.{up_blocks - 1 - int(m.group(1))}.upsample.",
            k,
        )
        k = k.replace("mid_block.resnets.0.", "mid.block_1.").replace("mid_block.resnets.1.", "mid.block_2.")
        if m := re.match(r"^(.*)mid_block\.attentions\.0\.(group_norm|to_q|to_k|to_v|to_out\.0)\.(\w+)$", k):
            k = f"{m.group(1)}mid.attn_1.{_ATTN[m.group(2)]}.{m.group(3)}"
            if value.dim() == 2:
                value = value[:, :, None, None]
        out[k] = value
    return out
