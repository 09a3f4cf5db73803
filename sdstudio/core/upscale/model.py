"""Upscaler model files read with spandrel (the architecture is recognised from the weights), run in tiles."""

from __future__ import annotations

import contextlib
import importlib.machinery
import sys
import threading
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from sdstudio.core.errors import Cancelled, ModelError

if TYPE_CHECKING:
    from PIL.Image import Image
    from spandrel import ImageModelDescriptor


_TV = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional")
_lock = threading.Lock()
_cache: dict[str, ImageModelDescriptor] = {}  # one loaded model, by path + device


@contextlib.contextmanager
def _without_torchvision() -> Iterator[None]:
    """spandrel imports torchvision for two architectures that are not upscalers (LaMa inpainting and
    RestoreFormer faces), and PyPI's torchvision breaks beside our torch. When it is not installed, those two
    imports get a stand-in whose functions raise, only while spandrel is imported; nothing else sees it."""
    try:
        import torchvision  # noqa: F401

        yield
        return
    except ImportError:
        pass

    def unavailable(*_args: object, **_kwargs: object) -> NoReturn:
        raise ModelError("this model architecture needs torchvision, which sdstudio does not install")

    class InterpolationMode:
        NEAREST, BILINEAR, BICUBIC = "nearest", "bilinear", "bicubic"

    stand_ins = {}
    for name in _TV:
        module = types.ModuleType(name)
        module.__spec__ = importlib.machinery.ModuleSpec(name, None)
        stand_ins[name] = module
    functional = stand_ins[_TV[2]]
    functional.normalize = functional.rotate = unavailable  # type: ignore[attr-defined]
    functional.InterpolationMode = InterpolationMode  # type: ignore[attr-defined]
    sys.modules.update(stand_ins)
    try:
        yield
    finally:
        for name in _TV:
            if sys.modules.get(name) is stand_ins[name]:
                del sys.modules[name]


def import_spandrel() -> types.ModuleType:
    with _without_torchvision():
        import spandrel

    return spandrel


def load_upscaler(path: str | Path, device: str = "cpu") -> ImageModelDescriptor:
    """The spandrel image model in `path` on `device`, in eval mode (cached: the last one loaded)."""
    import torch

    key = f"{Path(path).resolve()}|{device}"
    with _lock:
        if key in _cache:
            return _cache[key]
        spandrel = import_spandrel()
        try:
            model = spandrel.ModelLoader(device="cpu").load_from_file(str(path))
        except (OSError, ValueError, KeyError, RuntimeError, spandrel.UnsupportedModelError) as e:
            raise ModelError(f"{path}: not an upscaler model spandrel can read ({e})") from None
        if not isinstance(model, spandrel.ImageModelDescriptor) or model.purpose not in ("SR", "Restoration"):
            raise ModelError(f"{path}: a {model.architecture.name} model, not an upscaler")
        model = model.to(torch.device(device)).eval()
        _cache.clear()
        _cache[key] = model
        return model


def tiles(width: int, height: int, tile: int) -> list[tuple[int, int, int, int]]:
    """Boxes (left, top, right, bottom) of side at most `tile` covering width x height, row by row."""
    return [
        (x, y, min(x + tile, width), min(y + tile, height))
        for y in range(0, height, tile)
        for x in range(0, width, tile)
    ]


def run_tiled(
    model: ImageModelDescriptor,
    image: Image,
    tile: int = 256,
    overlap: int = 32,
    on_tile: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> Image:
    """`image` (PIL) through the model once, tile by tile: each tile runs with `overlap` pixels of context on
    every side and keeps only its own part, so no seam shows. on_tile(done, total) after each."""
    import numpy as np
    import torch
    from PIL import Image

    rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    x = torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0)
    param = next(model.model.parameters())
    x = x.to(param.device, param.dtype)
    height, width = rgb.shape[:2]
    scale = model.scale
    out = torch.zeros((3, height * scale, width * scale), dtype=torch.float32)
    boxes = tiles(width, height, tile)
    with torch.inference_mode():
        for done, (left, top, right, bottom) in enumerate(boxes, 1):
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            pl, pt = max(0, left - overlap), max(0, top - overlap)
            pr, pb = min(width, right + overlap), min(height, bottom + overlap)
            y = model(x[:, :, pt:pb, pl:pr])[0].float().cpu()
            keep = y[
                :, (top - pt) * scale : (bottom - pt) * scale, (left - pl) * scale : (right - pl) * scale
            ]
            out[:, top * scale : bottom * scale, left * scale : right * scale] = keep
            if on_tile is not None:
                on_tile(done, len(boxes))
    pixels = (out.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(pixels, "RGB")
