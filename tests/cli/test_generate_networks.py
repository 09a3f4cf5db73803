"""`sdstudio generate` with a LoRA tag and --vae, as a real subprocess on the demo model."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from PIL import Image
from safetensors.torch import save_file

from sdstudio.core import demo
from tests.cli.test_generate import _run

KEY = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q"


def test_generate_applies_a_lora_and_a_chosen_vae(
    tmp_path: Path, sdstudio_home: Path, demo_home: Path
) -> None:
    root = tmp_path / "webui"
    (root / "models" / "Stable-diffusion").mkdir(parents=True)
    (root / "models" / "Lora").mkdir(parents=True)
    g = torch.Generator().manual_seed(1)
    save_file(
        {
            f"{KEY}.lora_up.weight": torch.randn(64, 2, generator=g),
            f"{KEY}.lora_down.weight": torch.randn(2, 64, generator=g),
        },
        str(root / "models" / "Lora" / "ink.safetensors"),
    )
    demo.tiny_components(seed=6)["vae"].save_pretrained(str(root / "models" / "VAE" / "tiny-vae"))
    (sdstudio_home / "config").mkdir(parents=True, exist_ok=True)
    (sdstudio_home / "config" / "settings.json").write_text(json.dumps({"model_roots": [str(root)]}))
    out = tmp_path / "cat.png"
    args = ("--steps", "2", "--width", "64", "--height", "64", "--seed", "3", "-o", str(out))
    res = _run("generate", "a cat <lora:ink:0.5>", "--vae", "tiny-vae", *args, home=sdstudio_home)
    assert res.returncode == 0, res.stderr
    with Image.open(out) as im:
        params = im.info["parameters"]
    assert 'Lora hashes: "ink: ' in params and "VAE: tiny-vae" in params
    res = _run("generate", "a cat", "--vae", "nope", *args, home=sdstudio_home)
    assert res.returncode != 0 and "VAE not found: nope" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
