"""The offline demo model: real CLIP tokenizer ids, a small diffusers folder, SDPA attention."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from sdstudio.core import demo, tokenizer
from sdstudio.core.engine import Engine, pick_device, pick_dtype
from sdstudio.core.models import ModelLibrary
from sdstudio.core.request import Request
from sdstudio.core.settings import Settings


def test_tokenizer_ids_equal_openai_clip_vit_large(demo_home: Path) -> None:
    tok = tokenizer.load_clip_tokenizer()
    assert len(tok) == 49408
    assert tok("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert tok.model_max_length == 77
    padded = tok("a cat", padding="max_length", max_length=77).input_ids
    assert len(padded) == 77 and padded[-1] == 49407


def test_demo_models_are_small_diffusers_folders(demo_home: Path) -> None:
    for inpaint, channels in ((False, 4), (True, 9)):
        folder = demo.demo_path(inpaint=inpaint)
        index = json.loads((folder / "model_index.json").read_text())
        assert index["_class_name"].startswith("StableDiffusion")
        unet = json.loads((folder / "unet" / "config.json").read_text())
        assert unet["in_channels"] == channels
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        assert size < 20 * 2**20
        assert not list(folder.parent.glob(folder.name + ".*"))  # no half-built temp folders left


def test_demo_is_built_on_first_need_into_the_data_dir(sdstudio_home: Path) -> None:
    folder = demo.demo_path()
    assert folder.is_relative_to(sdstudio_home) and (folder / "sdstudio-demo.json").exists()
    assert json.loads((folder / "sdstudio-demo.json").read_text())["name"] == demo.DEMO_NAME


def test_device_and_dtype_choice_is_automatic_and_overridable() -> None:
    assert pick_device("cpu") == "cpu"
    assert pick_device() in ("cuda", "mps", "cpu")
    assert pick_dtype("cpu") is torch.float32
    assert pick_dtype("cuda") in (torch.float16, torch.bfloat16)
    assert pick_dtype("cpu", "bfloat16") is torch.bfloat16


def test_engine_from_settings_takes_the_device_preferences() -> None:
    from sdstudio.core.models import ModelLibrary
    from sdstudio.core.settings import Settings

    library = ModelLibrary(Settings(device="cpu", dtype="bfloat16", vae_tiling=True))
    engine = Engine.from_settings(library)
    assert engine.device == "cpu" and engine.vae_tiling and engine.library is library
    assert pick_dtype(engine.device, engine._dtype_pref) is torch.bfloat16
    assert Engine.from_settings(ModelLibrary(Settings(device="cuda")), device="cpu").device == "cpu"


def test_engine_uses_sdpa_attention(demo_home: Path, monkeypatch) -> None:
    monkeypatch.setenv("SDSTUDIO_HOME", str(demo_home))
    engine = Engine(ModelLibrary(Settings.load()), device="cpu")
    engine.run(Request(prompt="x", steps=1, width=64, height=64, seed=0))
    procs = {type(p).__name__ for p in engine._loaded.pipe.unet.attn_processors.values()}
    assert procs == {"AttnProcessor2_0"}
    assert engine.model_name == demo.DEMO_NAME
