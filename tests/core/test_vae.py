"""VAE choice: A1111 (LDM-keyed) files and diffusers folders from models/VAE, parity with diffusers given the
same VAE, per-model memory, Automatic, and what the picture records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from sdstudio.core import demo
from sdstudio.core.engine import Engine
from sdstudio.core.errors import ModelError
from sdstudio.core.gallery import infotext
from sdstudio.core.models import Kind, ModelEntry, ModelLibrary
from sdstudio.core.request import Request
from sdstudio.core.samplers import SAMPLERS
from sdstudio.core.settings import Settings
from sdstudio.core.vae import choice_for, remember, vae_choices
from tests.core.vae_layout import to_ldm

W = H = 64


@pytest.fixture
def webui(tmp_path: Path, demo_home: Path) -> Path:
    root = tmp_path / "stable-diffusion-webui"
    (root / "models" / "Stable-diffusion").mkdir(parents=True)
    vaes = root / "models" / "VAE"
    vaes.mkdir(parents=True)
    ldm = to_ldm(demo.tiny_components(seed=5)["vae"].state_dict(), 4)
    save_file({k: v.contiguous() for k, v in ldm.items()}, str(vaes / "tiny-ft-mse.safetensors"))
    demo.tiny_components(seed=6)["vae"].save_pretrained(str(vaes / "tiny-diffusers"))
    return root


def _run(engine: Engine, vae: str = "") -> tuple[np.ndarray, object]:
    req = Request(prompt="a boat", steps=2, width=W, height=H, seed=4, sampler="Euler", vae=vae)
    result = engine.run(req)
    return np.asarray(result.images[0].image).astype(np.int16), result


def test_a_chosen_vae_file_matches_diffusers_with_that_vae_and_none_restores(webui: Path) -> None:
    import diffusers

    library = ModelLibrary(Settings(model_roots=[str(webui)]))
    assert [c.name for c in vae_choices(library)] == ["tiny-diffusers", "tiny-ft-mse.safetensors"]
    engine = Engine(library, device="cpu")
    own, _ = _run(engine)
    ours, result = _run(engine, "tiny-ft-mse.safetensors")
    folder, _ = _run(engine, "tiny-diffusers")
    assert np.array_equal(_run(engine, "None")[0], own)
    engine.close()

    pipe = diffusers.StableDiffusionPipeline.from_pretrained(str(demo.demo_path()))
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = SAMPLERS["Euler"].build(pipe.scheduler.config)
    pipe.vae = demo.tiny_components(seed=5)["vae"]
    image = pipe(
        "a boat",
        num_inference_steps=2,
        guidance_scale=7.0,
        width=W,
        height=H,
        generator=[torch.Generator("cpu").manual_seed(4)],
    ).images[0]
    assert np.abs(ours - np.asarray(image).astype(np.int16)).max() <= 1
    assert np.abs(ours - own).max() > 8 and np.abs(folder - ours).max() > 8

    assert result.vae_name == "tiny-ft-mse.safetensors" and len(result.vae_hash) == 64
    line = infotext(result.images[0], result).splitlines()[-1]
    assert f"VAE hash: {result.vae_hash[:10]}, VAE: tiny-ft-mse.safetensors" in line


def test_the_choice_is_remembered_per_model_and_unknown_names_are_refused(webui: Path) -> None:
    library = ModelLibrary(Settings(model_roots=[str(webui)]))
    engine = Engine(library, device="cpu")
    chosen, _ = _run(engine, "tiny-diffusers")
    remember(library, demo.DEMO_ID, "tiny-diffusers")
    assert Settings.load().vae_by_model == {demo.DEMO_ID: "tiny-diffusers"}  # saved
    again, result = _run(engine)  # "": the model's remembered VAE
    assert np.array_equal(again, chosen) and result.vae_name == "tiny-diffusers"
    with pytest.raises(ModelError, match=r"VAE not found: nope .*tiny-diffusers, tiny-ft-mse.safetensors"):
        _run(engine, "nope")
    engine.close()


def test_automatic_picks_a_vae_named_like_the_checkpoint(webui: Path, tmp_path: Path) -> None:
    library = ModelLibrary(Settings(model_roots=[str(webui)]))
    ckpt = webui / "models" / "Stable-diffusion" / "tiny-ft-mse.safetensors"
    model = ModelEntry("tiny-ft-mse", Kind.checkpoint, location=str(ckpt))
    assert choice_for(library, "Automatic", model.location).name == "tiny-ft-mse.safetensors"
    other = ModelEntry(
        "other", Kind.checkpoint, location=str(webui / "models" / "Stable-diffusion" / "x.safetensors")
    )
    assert choice_for(library, "", other.location) is None  # nothing named like it: the model's own
    assert choice_for(library, "None", model.location) is None
