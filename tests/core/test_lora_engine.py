"""LoRAs through the engine: parity with plain diffusers patched by hand (SD 1.x and SDXL), exact restore,
and the catalog (folders, aliases, sidecars, hashes)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from sdstudio.core import demo
from sdstudio.core.engine import Engine
from sdstudio.core.errors import ModelError
from sdstudio.core.lora import autov3
from sdstudio.core.models import Family, ModelLibrary
from sdstudio.core.request import Request, RequestError
from sdstudio.core.settings import Settings
from tests.core.test_embeddings import _plain, _reference  # one plain-diffusers reference for both

W = H = 64
RANK, ALPHA = 4, 2.0


def _lora(pipe: Any, layers: dict[str, tuple[str, str]], seed: int) -> dict[str, torch.Tensor]:
    """Kohya tensors for `layers` (file key -> (component, module)), random up/down of RANK, alpha ALPHA."""
    g = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for key, (component, module) in layers.items():
        w = getattr(pipe, component).get_submodule(module).weight
        out[f"{key}.lora_up.weight"] = torch.randn(
            w.shape[0], RANK, *([1, 1] if w.dim() == 4 else []), generator=g
        )
        out[f"{key}.lora_down.weight"] = torch.randn(RANK, *w.shape[1:], generator=g) * 0.3
        out[f"{key}.alpha"] = torch.tensor(ALPHA)
    return out


def _patch_by_hand(
    pipe: Any, tensors: dict[str, torch.Tensor], layers: dict[str, tuple[str, str]], m: float
) -> None:
    """W += m · alpha/rank · up @ down, written out for the reference pipeline."""
    with torch.no_grad():
        for key, (component, module) in layers.items():
            w = getattr(pipe, component).get_submodule(module).weight
            up, down = tensors[f"{key}.lora_up.weight"], tensors[f"{key}.lora_down.weight"]
            w += (m * ALPHA / RANK * (up.flatten(1) @ down.flatten(1))).reshape(w.shape)


def _run(engine: Engine, prompt: str, model: str = "", seed: int = 5) -> np.ndarray:
    req = Request(prompt=prompt, steps=3, width=W, height=H, seed=seed, sampler="Euler", model=model)
    return np.asarray(engine.run(req).images[0].image).astype(np.int16)


SD1_LAYERS = {
    "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k": (
        "unet",
        "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k",
    ),
    "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_ff_net_0_proj": (
        "unet",
        "down_blocks.1.attentions.0.transformer_blocks.0.ff.net.0.proj",
    ),
    "lora_unet_up_blocks_0_attentions_1_proj_out": ("unet", "up_blocks.0.attentions.1.proj_out"),
    "lora_unet_mid_block_resnets_0_conv1": ("unet", "mid_block.resnets.0.conv1"),  # LoCon
    "lora_te_text_model_encoder_layers_2_mlp_fc1": ("text_encoder", "encoder.layers.2.mlp.fc1"),
    "lora_te_text_model_encoder_layers_3_self_attn_v_proj": (
        "text_encoder",
        "encoder.layers.3.self_attn.v_proj",
    ),
}


@pytest.fixture
def webui(tmp_path: Path, demo_home: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    """An A1111 tree with one SD 1.x LoRA in a subfolder of models/Lora (alias in its metadata)."""
    import diffusers

    root = tmp_path / "stable-diffusion-webui"
    (root / "models" / "Stable-diffusion").mkdir(parents=True)
    folder = root / "models" / "Lora" / "styles"
    folder.mkdir(parents=True)
    pipe = diffusers.StableDiffusionPipeline.from_pretrained(str(demo.demo_path()))
    tensors = _lora(pipe, SD1_LAYERS, seed=11)
    save_file(tensors, str(folder / "ink-style.safetensors"), metadata={"ss_output_name": "inkStyleV2"})
    (folder / "ink-style.json").write_text(
        json.dumps({"activation text": "ink, sketch", "sd version": "SD1"})
    )
    (folder / "ink-style.preview.png").write_bytes(b"\x89PNG\r\n")
    return root, tensors


def test_sd1_lora_matches_diffusers_patched_by_hand_and_restores_exactly(webui: tuple[Path, dict]) -> None:
    import diffusers

    root, tensors = webui
    engine = Engine(ModelLibrary(Settings(model_roots=[str(root)])), device="cpu")
    before = _run(engine, "a fox")
    req = Request(prompt="a fox <lora:ink-style:0.8>", steps=3, width=W, height=H, seed=5, sampler="Euler")
    result = engine.run(req)
    ours = np.asarray(result.images[0].image).astype(np.int16)
    after = _run(engine, "a fox")
    # the alias and the LyCORIS spelling reach the same file
    assert np.array_equal(_run(engine, "a fox <lyco:inkStyleV2:0.8>"), ours)
    engine.close()

    pipe = _plain(diffusers.StableDiffusionPipeline, demo.demo_path())
    _patch_by_hand(pipe, tensors, SD1_LAYERS, 0.8)
    assert np.abs(ours - _reference(pipe, "a fox", seed=5)).max() <= 1  # ≤ 1/255
    assert np.abs(ours - before).max() > 8  # the LoRA changed the picture
    assert np.array_equal(before, after)  # and the next job is as if it never ran

    # recorded: the name as written, both strengths, sha256 and A1111's AutoV3 short hash
    path = root / "models" / "Lora" / "styles" / "ink-style.safetensors"
    (used,) = result.loras
    assert (used.name, used.te, used.unet) == ("ink-style", 0.8, 0.8)
    assert used.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    n = int.from_bytes(path.read_bytes()[:8], "little")
    assert used.short_hash == hashlib.sha256(path.read_bytes()[8 + n :]).hexdigest()[:12] == autov3(path)[:12]


def test_unet_and_text_encoder_strengths_and_clear_errors(webui: tuple[Path, dict]) -> None:
    root, _ = webui
    engine = Engine(ModelLibrary(Settings(model_roots=[str(root)])), device="cpu")
    plain = _run(engine, "a fox")
    te_only = _run(engine, "a fox <lora:ink-style:1:0>")  # A1111 order: te, then unet
    unet_only = _run(engine, "a fox <lora:ink-style:0:1>")
    assert np.abs(te_only - plain).max() > 0 and np.abs(unet_only - plain).max() > 0
    assert np.abs(te_only - unet_only).max() > 0
    with pytest.raises(ModelError, match=r"LoRA not found: nope .*known: ink-style"):
        _run(engine, "a fox <lora:nope:1>")
    with pytest.raises(RequestError, match=r"<lora:ink-style:1> sits inside prompt editing"):
        _run(engine, "a fox [<lora:ink-style:1>::2]")
    assert np.array_equal(_run(engine, "a fox"), plain)  # refused jobs left the model as it was
    engine.close()


def test_catalog_lists_folders_aliases_sidecars_and_finds_by_hash(webui: tuple[Path, dict]) -> None:
    root, _ = webui
    library = ModelLibrary(Settings(model_roots=[str(root)]))
    (info,) = library.loras.infos()
    assert (info.name, info.folder, info.alias) == ("ink-style", "styles", "inkStyleV2")
    assert info.trigger_words == ("ink", "sketch") and info.family is Family.sd1
    assert info.preview is not None and info.preview.name == "ink-style.preview.png"
    assert library.loras.find("styles/ink-style") == info == library.loras.find("INKSTYLEV2")
    assert library.loras.by_hash(autov3(info.path)[:12]) == info
    assert library.loras.by_hash("0123456789ab") is None


XL_LAYERS = {
    # kohya's SDXL names are LDM-style: down_blocks.1.attentions.0 is input_blocks.3.1 in the tiny UNet
    "lora_unet_input_blocks_3_1_transformer_blocks_1_attn2_to_k": (
        "unet",
        "down_blocks.1.attentions.0.transformer_blocks.1.attn2.to_k",
    ),
    "lora_unet_output_blocks_0_1_transformer_blocks_0_ff_net_2": (
        "unet",
        "up_blocks.0.attentions.0.transformer_blocks.0.ff.net.2",
    ),
    "lora_unet_middle_block_1_proj_in": ("unet", "mid_block.attentions.0.proj_in"),
    "lora_te1_text_model_encoder_layers_1_self_attn_q_proj": (
        "text_encoder",
        "encoder.layers.1.self_attn.q_proj",
    ),
    "lora_te2_text_model_encoder_layers_2_mlp_fc2": ("text_encoder_2", "text_model.encoder.layers.2.mlp.fc2"),
}


def test_sdxl_lora_matches_diffusers_patched_by_hand(tmp_path: Path, demo_home: Path) -> None:
    import diffusers

    folder = tmp_path / "tiny-sdxl"
    pipe = demo.tiny_sdxl_pipeline()
    pipe.save_pretrained(str(folder), safe_serialization=True)
    comfy = tmp_path / "ComfyUI"
    (comfy / "models" / "checkpoints").mkdir(parents=True)
    (comfy / "models" / "loras").mkdir()
    tensors = _lora(pipe, XL_LAYERS, seed=12)
    save_file(
        tensors,
        str(comfy / "models" / "loras" / "xl-glow.safetensors"),
        metadata={"ss_base_model_version": "sdxl_base_v1-0"},
    )
    engine = Engine(ModelLibrary(Settings(model_roots=[str(comfy)])), device="cpu")
    before = _run(engine, "a lamp", str(folder), seed=2)
    ours = _run(engine, "a lamp <lora:xl-glow:-0.7>", str(folder), seed=2)
    assert np.array_equal(_run(engine, "a lamp", str(folder), seed=2), before)
    engine.close()
    ref = _plain(diffusers.StableDiffusionXLPipeline, folder)
    _patch_by_hand(ref, tensors, XL_LAYERS, -0.7)
    assert np.abs(ours - _reference(ref, "a lamp", seed=2)).max() <= 1
    assert np.abs(ours - before).max() > 4
