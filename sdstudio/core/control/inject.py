"""How the units' ControlNets steer one UNet call, as diffusers' ControlNet pipelines and the A1111 extension do.

Per unit, between its start and end steps: "Balanced" scales the 13 residuals (10 for SDXL) by the weight for
both halves of the CFG batch; "My prompt is more important" also by 0.825 ** (12 - i) (A1111's soft injection,
both halves); "ControlNet is more important" is diffusers' guess mode (the ControlNet sees the conditional half
only, residuals from 0.1 to 1 times the weight, none for the unconditional half). A unit's region mask multiplies
its residuals (bilinear at each residual's size); the units' residuals add up, in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sdstudio.core.control.unit import ControlMode, ControlUnit, HiresOption

if TYPE_CHECKING:
    import torch
    from diffusers import ControlNetModel
    from PIL.Image import Image

    from sdstudio.core.engine.hooks import UNetCall


SOFT = 0.825  # A1111's soft injection: residual i (of 13; SDXL's 10 take the first 10) times SOFT ** (12 - i)
HIRES_SOFT = ("canny", "mlsd")  # A1111 softens these modules' units in the hires pass (fewer artefacts)


def soft_scales(count: int) -> list[float]:
    return [SOFT ** float(12 - i) for i in range(13)][:count]


def keeps(unit: ControlUnit, index: int, total: int) -> bool:
    """Whether the unit acts at step `index` of `total` (diffusers' rule for control_guidance_start/end)."""
    return not (index / total < unit.guidance_start or (index + 1) / total > unit.guidance_end)


def acts_in(unit: ControlUnit, hires: bool) -> bool:
    """A1111's hr_option: the passes of a hires fix job the unit acts in."""
    if unit.hr_option is HiresOption.low_res_only:
        return not hires
    if unit.hr_option is HiresOption.high_res_only:
        return hires
    return True


def to_tensor(image: Image) -> torch.Tensor:
    """A control map as the ControlNet's input, (1, 3, H, W) in 0..1; an RGBA inpaint map's masked pixels -1."""
    import numpy as np
    import torch

    array = np.asarray(image, dtype=np.float32) / 255.0
    tensor = torch.from_numpy(array).permute(2, 0, 1)[None]
    if tensor.shape[1] == 4:  # the A1111 extension's inpaint protocol
        colour, masked = tensor[:, :3], (tensor[:, 3:] > 0.5).float()
        tensor = colour * (1 - masked) - masked
    return tensor


def mask_tensor(image: Image) -> torch.Tensor:
    """A region mask, (1, 1, H, W) in 0..1."""
    import numpy as np
    import torch

    return torch.from_numpy(np.asarray(image.convert("L"), dtype=np.float32) / 255.0)[None, None]


@dataclass
class UnitRun:
    """One unit in a run: its ControlNet and its control map (and region mask) per generation size."""

    unit: ControlUnit
    net: ControlNetModel
    maps: dict[tuple[int, int], torch.Tensor] = field(
        default_factory=dict
    )  # (width, height) -> control tensor
    masks: dict[tuple[int, int], torch.Tensor | None] = field(
        default_factory=dict
    )  # (width, height) -> region mask or None


def residuals(
    run: UnitRun, size: tuple[int, int], call: UNetCall, cfg: bool, hires: bool
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The unit's down-block and mid-block residuals for one UNet call (`call`: hooks.UNetCall)."""
    import torch

    unit, net = run.unit, run.net
    guess = unit.control_mode is ControlMode.controlnet
    sample = call.sample[:, : net.config.in_channels]  # an inpainting UNet's mask channels are not the net's
    hidden = call.kwargs["encoder_hidden_states"]
    added = call.kwargs.get("added_cond_kwargs") or {}
    added = {k: added[k] for k in ("text_embeds", "time_ids") if k in added} or None
    if guess and cfg:  # 1. guess mode: the conditional half only
        half = sample.shape[0] // 2
        sample, hidden = sample[half:], hidden[half:]
        added = {k: v[half:] for k, v in added.items()} if added else None
    image = run.maps[size].to(device=sample.device, dtype=net.dtype).expand(sample.shape[0], -1, -1, -1)
    down, mid = net(  # 2. the ControlNet, weighted as diffusers' pipelines weight it
        sample,
        call.timestep,
        encoder_hidden_states=hidden,
        controlnet_cond=image,
        conditioning_scale=unit.weight,
        guess_mode=guess,
        added_cond_kwargs=added,
        return_dict=False,
    )
    down = list(down)
    module = unit.module
    if unit.control_mode is ControlMode.prompt or (hires and module in HIRES_SOFT and not guess):
        scales = soft_scales(len(down) + 1)  # 3. soft injection
        down, mid = [d * s for d, s in zip(down, scales[:-1], strict=True)], mid * scales[-1]
    if guess and cfg:  # 4. nothing for the unconditional half
        down = [torch.cat([torch.zeros_like(d), d]) for d in down]
        mid = torch.cat([torch.zeros_like(mid), mid])
    region = run.masks.get(size)
    if region is not None:  # 5. the unit's region
        region = region.to(device=mid.device, dtype=mid.dtype)
        down = [d * _resized(region, d) for d in down]
        mid = mid * _resized(region, mid)
    return down, mid


def _resized(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    import torch.nn.functional as F

    return F.interpolate(mask, size=tuple(like.shape[-2:]), mode="bilinear")


def add_to_call(call: UNetCall, down: list[torch.Tensor], mid: torch.Tensor) -> None:
    """Put residuals into the UNet call, adding to any another extension set."""
    kwargs = call.kwargs
    if kwargs.get("down_block_additional_residuals") is not None:
        down = [a + b for a, b in zip(kwargs["down_block_additional_residuals"], down, strict=True)]
        mid = kwargs["mid_block_additional_residual"] + mid
    kwargs["down_block_additional_residuals"] = down
    kwargs["mid_block_additional_residual"] = mid


def keep_unmasked(picture: Image, inpaint_map: Image, sigma: int = 7) -> Image:
    """A1111's inpaint_only post-processing: the map's picture back outside its mask, dilated and blurred by
    `sigma` pixels (the extension's control_net_inpaint_blur_sigma), over the generated `picture`."""
    import cv2
    import numpy as np
    from PIL import Image

    mask = np.asarray(inpaint_map.getchannel("A"), dtype=np.float32) / 255.0
    mask = cv2.blur(cv2.dilate(mask, np.ones((sigma, sigma), dtype=np.uint8)), (sigma, sigma))[..., None]
    raw = np.asarray(inpaint_map.convert("RGB"), dtype=np.float32) / 255.0
    made = np.asarray(picture.convert("RGB"), dtype=np.float32) / 255.0
    out = np.clip(mask * made + (1 - mask) * raw, 0, 1)
    return Image.fromarray(np.round(out * 255).astype(np.uint8))
