"""Upscalers: Lanczos and Nearest without a model, and ESRGAN/Real-ESRGAN/SwinIR/DAT/... model files read with
spandrel from the A1111 and ComfyUI model folders; big pictures run in tiles with progress."""

from sdstudio.core.upscale.registry import BUILTIN, Upscaler, all_upscalers, find_upscaler
from sdstudio.core.upscale.run import upscale_image

__all__ = ["BUILTIN", "Upscaler", "all_upscalers", "find_upscaler", "upscale_image"]
