"""IP-Adapter units over the A1111 ControlNet extension's API: webuiapi's ControlNetUnit with an `ip-adapter_*`
module gives the CLI's `--ref PATH:0.8:reference` picture; the adapter is listed; a missing one is a 422."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import numpy as np
import webuiapi
from PIL import Image, ImageDraw

from sdstudio.core import demo
from sdstudio.core.models.hashing import legacy_hash
from tests.api.conftest import Live, webuiapi_and_cli
from tests.core.ipadapter_fixtures import save_adapter, tiny_adapter, tiny_encoder


def test_a_webuiapi_ip_adapter_unit_gives_the_cli_ref_picture(
    live: Live, tmp_path: Path, sdstudio_home: Path
) -> None:
    from diffusers import UNet2DConditionModel

    root = tmp_path / "webui"
    (root / "models" / "Stable-diffusion").mkdir(parents=True)
    unet = UNet2DConditionModel.from_pretrained(str(demo.demo_path() / "unet"))
    save_adapter(tiny_adapter(unet), root / "models" / "ControlNet" / "ip-adapter_sd15_tiny.safetensors")
    tiny_encoder(root / "extensions/sd-webui-controlnet/annotator/downloads/clip_vision/clip_h")
    live.library.add_root(root)
    ref = tmp_path / "ball.png"
    picture = Image.new("RGB", (64, 48), "white")
    ImageDraw.Draw(picture).ellipse((8, 4, 56, 44), fill=(30, 160, 40))
    picture.save(ref)

    with httpx.Client(base_url=f"http://127.0.0.1:{live.port}", timeout=120) as c:
        assert "ip-adapter_clip_sd15" in c.get("/controlnet/module_list").json()["module_list"]
        (model,) = c.get("/controlnet/model_list").json()["model_list"]
        assert model.startswith("ip-adapter_sd15_tiny")
        b64 = base64.b64encode(ref.read_bytes()).decode()
        unit = {"module": "ip-adapter_clip_sd15", "model": "ip-adapter_nope", "image": b64, "enabled": True}
        body = {"prompt": "a ball", "steps": 1, "width": 64, "height": 64}
        r = c.post("/sdapi/v1/txt2img", json=body | {"alwayson_scripts": {"controlnet": {"args": [unit]}}})
        assert r.status_code == 422 and "IP-Adapter not found: ip-adapter_nope" in r.json()["detail"], r.text
        odd = unit | {"model": model, "ip_kind": "face"}
        r = c.post("/sdapi/v1/txt2img", json=body | {"alwayson_scripts": {"controlnet": {"args": [odd]}}})
        assert r.status_code == 422 and "'face' is not a valid IpKind" in r.json()["detail"], r.text

    short = legacy_hash(root / "models" / "ControlNet" / "ip-adapter_sd15_tiny.safetensors")
    model = f"ip-adapter_sd15_tiny [{short}]"  # as A1111's model list names it (its old 8-digit hash)
    unit = webuiapi.ControlNetUnit(image=picture, module="ip-adapter_clip_sd15", model=model, weight=0.8)
    api, cli = webuiapi_and_cli(
        live.port, "a ball", unit, f"{ref}:0.8:reference", tmp_path / "cli.png", sdstudio_home
    )
    assert (
        f'ControlNet 0: "Module: ip-adapter_clip_sd15, Model: {model}, Weight: 0.8' in api.info["parameters"]
    )
    assert "Module: ip-adapter-auto, Model: ip-adapter_sd15_tiny [" in cli.info["parameters"]
    assert np.array_equal(np.asarray(cli.convert("RGB")), np.asarray(api.convert("RGB")))
