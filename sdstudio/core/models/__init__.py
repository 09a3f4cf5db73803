"""The model library: hub ids, diffusers folders, single-file checkpoints offline, A1111/ComfyUI roots in place."""

from sdstudio.core.models.entries import Family, Kind, ModelEntry, Source
from sdstudio.core.models.library import ModelLibrary, demo_entries
from sdstudio.core.models.loading import config_folder, load_pipeline

__all__ = [
    "Family",
    "Kind",
    "ModelEntry",
    "ModelLibrary",
    "Source",
    "config_folder",
    "demo_entries",
    "load_pipeline",
]
