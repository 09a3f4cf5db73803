"""LoRA training on the artist's own pictures: kohya's dataset layout in, a kohya-format LoRA out."""

from sdstudio.core.training.config import TrainConfig, TrainProgress, TrainResult
from sdstudio.core.training.dataset import Dataset, Item, bucket_for, preview, scan_dataset
from sdstudio.core.training.loop import Trainer, TrainingError

__all__ = [
    "Dataset",
    "Item",
    "TrainConfig",
    "TrainProgress",
    "TrainResult",
    "Trainer",
    "TrainingError",
    "bucket_for",
    "preview",
    "scan_dataset",
]
