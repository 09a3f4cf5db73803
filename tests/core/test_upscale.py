"""Upscalers: a tiny ESRGAN (RRDB) file built here, found in an A1111 layout, read by spandrel, run in tiles."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sdstudio.core.errors import ModelError
from sdstudio.core.models import ModelLibrary
from sdstudio.core.request import RequestError
from sdstudio.core.settings import Settings
from sdstudio.core.upscale import all_upscalers, find_upscaler, upscale_image
from sdstudio.core.upscale.extras import ExtrasUpscale, extras_upscale
from sdstudio.core.upscale.model import import_spandrel, load_upscaler, run_tiled


@pytest.fixture
def a1111_root(tmp_path: Path) -> Path:
    """An A1111 install holding a random-weight 2x ESRGAN (one RRDB block, 8 filters) in models/ESRGAN."""
    torch.manual_seed(0)
    spandrel = import_spandrel()
    net = spandrel.architectures.ESRGAN.ESRGAN(num_filters=8, num_blocks=1, scale=2)
    root = tmp_path / "webui"
    (root / "models" / "Stable-diffusion").mkdir(parents=True)
    (root / "models" / "ESRGAN").mkdir(parents=True)
    torch.save(net.state_dict(), root / "models" / "ESRGAN" / "2x-Tiny.pth")
    return root


def _library(root: Path) -> ModelLibrary:
    return ModelLibrary(Settings(model_roots=[str(root)]))


def _picture(w: int = 40, h: int = 24) -> Image.Image:
    rng = np.random.default_rng(1)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), "RGB")


def test_model_file_is_listed_and_loaded_as_esrgan(a1111_root: Path) -> None:
    library = _library(a1111_root)
    names = [u.name for u in all_upscalers(library)]
    assert names == ["None", "Lanczos", "Nearest", "2x-Tiny"]
    up = find_upscaler("2x-tiny.pth", library)
    assert up.is_model and up.scale == 2
    model = load_upscaler(up.path)
    assert model.architecture.name == "ESRGAN" and model.scale == 2
    left = sys.modules.get("torchvision")
    assert left is None or getattr(left, "__file__", None)  # spandrel's import stand-ins never stay behind


def test_tiles_join_without_seams_and_report_progress(a1111_root: Path) -> None:
    model = load_upscaler(a1111_root / "models" / "ESRGAN" / "2x-Tiny.pth")
    picture = _picture()
    whole = run_tiled(model, picture, tile=256)
    done: list[tuple[int, int]] = []
    tiled = run_tiled(model, picture, tile=16, overlap=32, on_tile=lambda d, t: done.append((d, t)))
    assert whole.size == tiled.size == (80, 48)
    assert done == [(i, 6) for i in range(1, 7)]  # 3 x 2 tiles of 16
    assert np.abs(np.asarray(whole, np.int16) - np.asarray(tiled, np.int16)).max() <= 1
    # the network really ran: not a plain resize
    lanczos = picture.resize((80, 48), Image.Resampling.LANCZOS)
    assert np.abs(np.asarray(whole, np.int16) - np.asarray(lanczos, np.int16)).mean() > 5


def test_upscale_to_a_size_runs_the_model_then_resizes(a1111_root: Path) -> None:
    library = _library(a1111_root)
    up = find_upscaler("2x-Tiny", library)
    out = upscale_image(_picture(), 150, 90, up)  # 2x is too small: a second pass, then Lanczos down
    assert out.size == (150, 90)


def test_plain_filters_need_no_model() -> None:
    checker = Image.fromarray((np.indices((4, 4)).sum(0) % 2 * 255).astype(np.uint8)).convert("RGB")
    nearest = upscale_image(checker, 8, 8, find_upscaler("Nearest", None))
    assert np.array_equal(
        np.asarray(nearest)[:, :, 0], np.repeat(np.repeat(np.asarray(checker)[:, :, 0], 2, 0), 2, 1)
    )
    assert upscale_image(checker, 12, 10, find_upscaler("Lanczos", None)).size == (12, 10)


def test_not_an_upscaler_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "notes.pth"
    torch.save({"weight": torch.zeros(3)}, bad)
    with pytest.raises(ModelError, match="not an upscaler model spandrel can read"):
        load_upscaler(bad)
    with pytest.raises(
        RequestError, match="unknown upscaler 'R-ESRGAN 4x\\+'; known: None, Lanczos, Nearest"
    ):
        find_upscaler("R-ESRGAN 4x+", None)


def test_extras_scale_to_with_crop_and_blend(a1111_root: Path) -> None:
    library = _library(a1111_root)
    settings = ExtrasUpscale(
        upscaler_1="2x-Tiny",
        upscaler_2="Nearest",
        extras_upscaler_2_visibility=0.5,
        resize_mode=1,
        upscaling_resize_w=60,
        upscaling_resize_h=60,
    )
    out = extras_upscale(_picture(40, 24), settings, library)
    assert out.size == (60, 60)  # covered (100x60) then centre-cropped
    with pytest.raises(RequestError, match="upscaling_resize"):
        ExtrasUpscale(upscaling_resize=20).validate(10, 10)
