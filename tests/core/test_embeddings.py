"""Textual-inversion embeddings on the demo model: A1111 files in an A1111 tree, parity with diffusers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from sdstudio.core import demo
from sdstudio.core.engine import Engine
from sdstudio.core.errors import ModelError
from sdstudio.core.models import Kind, ModelLibrary
from sdstudio.core.prompt.embeddings import load_embedding, names_in
from sdstudio.core.request import Request
from sdstudio.core.samplers import SAMPLERS
from sdstudio.core.settings import Settings

W = H = 64


def _width() -> int:
    from transformers import CLIPTextConfig

    return CLIPTextConfig.from_pretrained(str(demo.demo_path() / "text_encoder")).hidden_size


@pytest.fixture
def webui(tmp_path: Path, demo_home: Path) -> Path:
    """An A1111 tree with embeddings in both A1111 formats (same vectors) and one for another family."""
    root = tmp_path / "stable-diffusion-webui"
    (root / "models" / "Stable-diffusion").mkdir(parents=True)
    emb = root / "embeddings"
    emb.mkdir()
    vectors = torch.randn(3, _width(), generator=torch.Generator().manual_seed(7)) * 0.5
    save_file({"emb_params": vectors}, str(emb / "shiny-style.safetensors"))
    torch.save(
        {"string_to_param": {"*": vectors.clone()}, "name": "old", "step": 500}, str(emb / "old-style.pt")
    )
    save_file(
        {"clip_l": torch.zeros(2, 768), "clip_g": torch.zeros(2, 1280)}, str(emb / "xl-only.safetensors")
    )
    return root


@pytest.fixture
def engine(webui: Path) -> Engine:
    eng = Engine(ModelLibrary(Settings(model_roots=[str(webui)])), device="cpu")
    yield eng
    eng.close()


def _plain(cls: Any, folder: Path) -> Any:
    """A plain diffusers pipeline with the engine's Euler scheduler."""
    pipe = cls.from_pretrained(str(folder))
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = SAMPLERS["Euler"].build(pipe.scheduler.config)
    return pipe


def _reference(pipe: Any, prompt: str, seed: int) -> np.ndarray:
    """What plain diffusers makes of the prompt with _run's settings."""
    image = pipe(
        prompt,
        num_inference_steps=3,
        guidance_scale=7.0,
        width=W,
        height=H,
        generator=[torch.Generator("cpu").manual_seed(seed)],
    ).images[0]
    return np.asarray(image).astype(np.int16)


def _run(engine: Engine, prompt: str, negative: str = "") -> np.ndarray:
    req = Request(
        prompt=prompt, negative_prompt=negative, steps=3, width=W, height=H, seed=5, sampler="Euler"
    )
    return np.asarray(engine.run(req).images[0].image).astype(np.int16)


def _file(engine: Engine, name: str) -> Path:
    return next(Path(e.location) for e in engine.library.entries(Kind.embedding) if e.name == name)


def test_library_lists_them_and_names_are_found_as_words(engine: Engine) -> None:
    names = sorted(e.name for e in engine.library.entries(Kind.embedding))
    assert names == ["old-style", "shiny-style", "xl-only"]
    assert names_in(["a fox, Shiny-Style, (old-style:1.2)"], names) == ["shiny-style", "old-style"]
    assert names_in(["shiny-styles, unshiny-style"], names) == []  # whole words only
    assert load_embedding(_file(engine, "old-style")).count == 3


def test_an_embedding_in_the_prompt_matches_diffusers_textual_inversion(engine: Engine) -> None:
    import diffusers

    ours = _run(engine, "a fox, shiny-style")
    assert engine.run(Request(prompt="a fox, shiny-style", steps=1, width=W, height=H)).request.prompt == (
        "a fox, shiny-style"  # recorded as written
    )
    pipe = _plain(diffusers.StableDiffusionPipeline, demo.demo_path())
    pipe.load_textual_inversion(str(_file(engine, "shiny-style")), token="shiny-style")
    assert np.abs(ours - _reference(pipe, "a fox, shiny-style", seed=5)).max() <= 1
    assert np.abs(ours - _run(engine, "a fox, shiny style")).max() > 8  # the vectors, not the words


def test_the_old_pickle_format_and_the_negative_prompt(engine: Engine) -> None:
    assert np.array_equal(
        _run(engine, "a fox, old-style"), _run(engine, "a fox, shiny-style")
    )  # same vectors
    plain = _run(engine, "a fox", "blurry")
    assert np.abs(_run(engine, "a fox", "blurry, shiny-style") - plain).max() > 8
    assert np.abs(_run(engine, "a fox, (shiny-style:1.4)") - _run(engine, "a fox, shiny-style")).max() > 0


def test_an_embedding_for_another_family_is_one_clear_error(engine: Engine) -> None:
    with pytest.raises(ModelError, match=r"xl-only .* another model family: its vectors are 768, 1280 wide"):
        _run(engine, "a fox, xl-only")
    assert _run(engine, "a fox").shape == (H, W, 3)  # the engine goes on


@pytest.mark.filterwarnings(
    "ignore:Detected pickle protocol"
)  # torch notes the foreign pickle, then refuses it
def test_a_file_that_is_no_embedding_is_refused_without_unpickling(tmp_path: Path) -> None:
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("unpickled!",))

    bad = tmp_path / "evil.pt"
    bad.write_bytes(pickle.dumps({"string_to_param": Evil()}))
    with pytest.raises(ModelError, match="evil.pt: not a readable embedding"):
        load_embedding(bad)
    other = tmp_path / "other.safetensors"
    save_file({"a": torch.zeros(2), "b": torch.zeros(2)}, str(other))
    with pytest.raises(ModelError, match="not a textual-inversion embedding"):
        load_embedding(other)


def test_sdxl_embeddings_fill_both_text_encoders_as_diffusers_does(tmp_path: Path, demo_home: Path) -> None:
    import diffusers

    folder = tmp_path / "tiny-sdxl"
    demo.tiny_sdxl_pipeline().save_pretrained(str(folder), safe_serialization=True)
    comfy = tmp_path / "ComfyUI"
    (comfy / "models" / "checkpoints").mkdir(parents=True)
    (comfy / "models" / "embeddings").mkdir()
    g = torch.Generator().manual_seed(3)
    clip_l, clip_g = torch.randn(2, 32, generator=g), torch.randn(2, 40, generator=g)
    emb = comfy / "models" / "embeddings" / "xl-glow.safetensors"
    save_file({"clip_l": clip_l, "clip_g": clip_g}, str(emb))
    engine = Engine(ModelLibrary(Settings(model_roots=[str(comfy)])), device="cpu")
    req = Request(
        prompt="a lamp, xl-glow", steps=3, width=W, height=H, seed=2, sampler="Euler", model=str(folder)
    )
    ours = np.asarray(engine.run(req).images[0].image).astype(np.int16)
    plain = np.asarray(engine.run(req.replace(prompt="a lamp, xl glow")).images[0].image).astype(np.int16)
    engine.close()
    pipe = _plain(diffusers.StableDiffusionXLPipeline, folder)
    pipe.load_textual_inversion(
        clip_l, token="xl-glow", text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer
    )
    pipe.load_textual_inversion(
        clip_g, token="xl-glow", text_encoder=pipe.text_encoder_2, tokenizer=pipe.tokenizer_2
    )
    assert pipe.tokenizer.convert_tokens_to_ids("xl-glow") != pipe.tokenizer.unk_token_id
    assert np.abs(ours - _reference(pipe, "a lamp, xl-glow", seed=2)).max() <= 1
    assert np.abs(ours - plain).max() > 4
