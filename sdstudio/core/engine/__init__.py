"""The engine around diffusers: mode strategies, and extension hooks around the denoise loop (see hooks.py)."""

from sdstudio.core.engine.engine import OOM_ADVICE, Engine
from sdstudio.core.engine.hooks import (
    BatchContext,
    Extension,
    ExtensionFactory,
    RunContext,
    StepState,
    UNetCall,
)
from sdstudio.core.engine.model import LoadedModel, is_inpaint_unet, pick_device, pick_dtype
from sdstudio.core.engine.modes import ModeInputs, ModeStrategy, select_mode

__all__ = [
    "OOM_ADVICE",
    "BatchContext",
    "Engine",
    "Extension",
    "ExtensionFactory",
    "LoadedModel",
    "ModeInputs",
    "ModeStrategy",
    "RunContext",
    "StepState",
    "UNetCall",
    "is_inpaint_unet",
    "pick_device",
    "pick_dtype",
    "select_mode",
]
