"""The `depth_anything` preprocessor: Depth Anything (transformers' DepthAnythingForDepthEstimation) gives
relative inverse depth, scaled to 0..255 (near is white) at the picture's size, as the A1111 extension's."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image

    from sdstudio.core.control.annotators import Annotators
    from sdstudio.core.control.unit import ControlUnit


def depth_map(image: Image, unit: ControlUnit, annotators: Annotators) -> np.ndarray:
    """A grey uint8 depth map (H, W) of a PIL picture."""
    import numpy as np
    import torch

    loaded = annotators.get("depth")
    model = loaded.model
    # 1. the model's own resizing and normalising (a multiple of its patch size, aspect kept)
    inputs = loaded.processor(images=image.convert("RGB"), return_tensors="pt")
    pixels = inputs["pixel_values"].to(model.device, model.dtype)
    # 2. depth at the model's resolution, resized back to the picture's
    with loaded.lock, torch.inference_mode():
        depth = model(pixel_values=pixels).predicted_depth
        depth = torch.nn.functional.interpolate(
            depth[:, None].float(), size=(image.height, image.width), mode="bilinear", align_corners=False
        )[0, 0]
    # 3. min..max to 0..255 (a flat prediction is black)
    lo, hi = float(depth.min()), float(depth.max())
    scaled = (depth - lo) / (hi - lo) * 255.0 if hi > lo else torch.zeros_like(depth)
    return scaled.clamp(0, 255).round().to(torch.uint8).cpu().numpy().astype(np.uint8)
