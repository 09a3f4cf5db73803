"""Seeds other tools write (ComfyUI: up to 2**64-1) are taken everywhere; random seeds stay 32-bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL.PngImagePlugin import PngInfo

from sdstudio.core.gallery import GalleryStore, read_parameters
from sdstudio.core.request import MAX_SEED, Request, RequestError

BIG = 2**64 - 1


def test_the_range_is_torch_generators() -> None:
    import torch

    assert MAX_SEED == BIG and Request(seed=BIG).validate().seed == BIG
    torch.Generator("cpu").manual_seed(BIG)  # what the engine does with it
    with pytest.raises(RequestError, match=f"0 to {BIG}"):
        Request(seed=BIG + 1).validate()


def test_a_64_bit_seed_runs_wraps_in_a_batch_and_is_kept_in_the_gallery(cpu_engine, tmp_path: Path) -> None:
    req = Request(prompt="big seed", steps=2, width=64, height=64, seed=BIG, batch_size=2)
    result = cpu_engine.run(req)
    assert [g.seed for g in result.images] == [BIG, 0]
    again = cpu_engine.run(req.replace(seed=0, batch_size=1))  # the batch's next seed wraps as torch's would
    assert np.array_equal(np.asarray(again.images[0].image), np.asarray(result.images[1].image))
    store = GalleryStore(tmp_path / "out", tmp_path / "index.sqlite3")
    try:
        first, _ = store.add(result)
        assert first.seed == BIG and store.get(first.id).seed == BIG
        assert read_parameters(Path(first.path)).request.seed == BIG
        assert f"Seed: {BIG}," in read_parameters(Path(first.path)).infotext
        store.close()
        store = GalleryStore(tmp_path / "out", tmp_path / "index.sqlite3")  # read back from SQLite
        assert store.search("big seed")[-1].seed == BIG
    finally:
        store.close()


def test_random_seeds_stay_32_bit(cpu_engine) -> None:
    seeds = [cpu_engine.run(Request(prompt="r", steps=1, width=64, height=64)).request.seed for _ in range(3)]
    assert all(0 <= s < 2**32 for s in seeds)


def test_a_comfyui_picture_with_a_64_bit_seed_reuses_as_it_is(tmp_path: Path) -> None:
    import json

    from PIL import Image

    graph = {
        "3": {
            "class_type": "KSampler",
            "inputs": {"seed": BIG - 5, "steps": 4, "cfg": 6, "sampler_name": "euler", "scheduler": "normal"},
        }
    }
    info = PngInfo()
    info.add_text("prompt", json.dumps(graph))
    Image.new("RGB", (64, 64)).save(tmp_path / "comfy.png", pnginfo=info)
    request = read_parameters(tmp_path / "comfy.png").request
    assert request.seed == BIG - 5 and request.validate().seed == BIG - 5
