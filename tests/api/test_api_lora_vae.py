"""/sdapi/v1/loras, refresh-loras, sd-vae and sd_vae (options and override_settings) as A1111 serves them."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import torch
from safetensors.torch import save_file

from sdstudio.core import demo
from tests.api.conftest import Live

KEY = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q"


def _lora(path: Path, meta: dict[str, str] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(1)
    tensors = {
        f"{KEY}.lora_up.weight": torch.randn(64, 2, generator=g),
        f"{KEY}.lora_down.weight": torch.randn(2, 64, generator=g),
    }
    save_file(tensors, str(path), metadata=meta)


def test_loras_vaes_and_sd_vae(live: Live, tmp_path: Path) -> None:
    root = tmp_path / "webui"
    (root / "models" / "Stable-diffusion").mkdir(parents=True)
    _lora(
        root / "models" / "Lora" / "ink.safetensors",
        {"ss_output_name": "inkAlias", "ss_tag_frequency": json.dumps({"ink": {"sketch": 3}})},
    )
    demo.tiny_components(seed=6)["vae"].save_pretrained(str(root / "models" / "VAE" / "tiny-vae"))
    live.library.add_root(root)
    with httpx.Client(base_url=live.url, timeout=120) as c:
        (lora,) = c.get("/sdapi/v1/loras").json()
        assert lora == {
            "name": "ink",
            "alias": "inkAlias",
            "path": str((root / "models" / "Lora" / "ink.safetensors").resolve()),
            "metadata": {"ss_output_name": "inkAlias", "ss_tag_frequency": {"ink": {"sketch": 3}}},
        }
        _lora(root / "models" / "LyCORIS" / "sub" / "loha-thing.safetensors")
        assert [x["name"] for x in c.get("/sdapi/v1/loras").json()] == ["ink"]  # scanned once...
        assert c.post("/sdapi/v1/refresh-loras").status_code == 200
        assert [x["name"] for x in c.get("/sdapi/v1/loras").json()] == [
            "ink",
            "loha-thing",
        ]  # ...until refreshed

        assert c.get("/sdapi/v1/sd-vae").json() == [
            {"model_name": "tiny-vae", "filename": str((root / "models" / "VAE" / "tiny-vae").resolve())}
        ]
        assert c.get("/sdapi/v1/options").json()["sd_vae"] == "Automatic"
        assert c.post("/sdapi/v1/options", json={"sd_vae": "tiny-vae"}).status_code == 200
        assert c.get("/sdapi/v1/options").json()["sd_vae"] == "tiny-vae"
        r = c.post("/sdapi/v1/options", json={"sd_vae": "../../etc/passwd"})
        assert r.status_code == 422 and "VAE not found" in r.json()["detail"]

        body = {"prompt": "a fox <lora:inkAlias:0.5>", "width": 64, "height": 64, "steps": 2, "seed": 3}
        info = json.loads(c.post("/sdapi/v1/txt2img", json=body).json()["info"])
        text = info["infotexts"][0]
        assert 'Lora hashes: "inkAlias: ' in text and "VAE: tiny-vae" in text
        body["override_settings"] = {"sd_vae": "None"}
        info = json.loads(c.post("/sdapi/v1/txt2img", json=body).json()["info"])
        assert "VAE:" not in info["infotexts"][0]
        body["prompt"] = "a fox <lora:missing:1>"
        r = c.post("/sdapi/v1/txt2img", json=body)
        assert r.status_code == 422 and "LoRA not found: missing" in r.json()["detail"]
