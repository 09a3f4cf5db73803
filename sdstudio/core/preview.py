"""Cheap step previews: latents to RGB by a linear map, no VAE decode."""

from __future__ import annotations

from typing import Any

# Least-squares fits of latent channels to RGB, per latent space (4 channels each).
LATENT_RGB = {
    "sd1": (
        (0.3512, 0.2297, 0.3227),
        (0.3250, 0.4974, 0.2350),
        (-0.2829, 0.1762, 0.2721),
        (-0.2120, -0.2616, -0.7177),
    ),
    "sdxl": (
        (0.3920, 0.4054, 0.4549),
        (-0.2634, -0.0196, 0.0653),
        (0.0568, 0.1687, -0.0755),
        (-0.3112, -0.2359, -0.2076),
    ),
}


def latents_to_preview(latents: Any, space: str = "sd1", index: int = 0) -> Any:
    """One image of a latent batch as a small PIL RGB image (1/8 of the output size)."""
    import torch
    from PIL import Image

    factors = LATENT_RGB.get(space, LATENT_RGB["sd1"])
    with torch.no_grad():
        lat = latents[index, :4].detach().to(device="cpu", dtype=torch.float32)
        rgb = torch.einsum("chw,cr->hwr", lat, torch.tensor(factors, dtype=torch.float32))
        rgb = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    return Image.fromarray(rgb, "RGB")
