"""The A1111 ControlNet extension's API: webuiapi's ControlNetUnit in alwayson_scripts gives the CLI's `--ref`
picture; model and module lists; bad units and server-file tags are 422s."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import numpy as np
import webuiapi
from PIL import Image, ImageDraw

from sdstudio.core import demo
from tests.api.conftest import Live, webuiapi_and_cli
from tests.core.test_control_engine import _tiny_controlnet


def test_a_webuiapi_controlnet_unit_gives_the_cli_ref_picture(
    live: Live, tmp_path: Path, sdstudio_home: Path
) -> None:
    from diffusers import UNet2DConditionModel

    root = tmp_path / "webui"
    (root / "models" / "Stable-diffusion").mkdir(parents=True)
    unet = UNet2DConditionModel.from_pretrained(str(demo.demo_path() / "unet"))
    _tiny_controlnet(unet, 1).save_pretrained(str(root / "models" / "ControlNet" / "tiny_sd15_canny"))
    live.library.add_root(root)
    ref = tmp_path / "box.png"
    picture = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(picture).rectangle((12, 12, 50, 50), outline="black", width=3)
    picture.save(ref)

    base64_png = base64.b64encode(ref.read_bytes()).decode()
    with httpx.Client(base_url=f"http://127.0.0.1:{live.port}", timeout=120) as c:
        assert c.get("/controlnet/module_list").json()["module_list"][:2] == ["none", "canny"]
        (model,) = c.get("/controlnet/model_list").json()["model_list"]
        assert model.startswith("tiny_sd15_canny")
        bad = {"prompt": "a box", "steps": 1, "width": 64, "height": 64}
        r = c.post(
            "/sdapi/v1/txt2img", json=bad | {"alwayson_scripts": {"controlnet": {"args": [{"module": "x"}]}}}
        )
        assert r.status_code == 422 and "unknown preprocessor 'x'" in r.json()["detail"]
        odd = {"module": ["canny"], "processor_res": "big", "image": 7}
        for key, value in odd.items():
            unit = {"module": "canny", key: value}
            r = c.post("/sdapi/v1/txt2img", json=bad | {"alwayson_scripts": {"controlnet": {"args": [unit]}}})
            assert r.status_code == 422 and "controlnet.args[0]" in r.json()["field"], r.text
        r = c.post("/sdapi/v1/txt2img", json=bad | {"prompt": "a box {image:/etc/hosts:canny}"})
        assert r.status_code == 422 and "a file on the server" in r.json()["detail"]
        r = c.post("/sdapi/v1/txt2img", json=bad | {"prompt": "a box {image:http://127.0.0.1:9/a.png:canny}"})
        assert r.status_code == 422 and "api_allow_network" in r.json()["detail"]  # off: nothing is fetched
        depth = {"module": "depth_anything", "model": model, "image": base64_png}
        r = c.post("/sdapi/v1/txt2img", json=bad | {"alwayson_scripts": {"controlnet": {"args": [depth]}}})
        assert r.status_code == 422 and r.json()["field"] == "controls[0].module", r.text
        assert "needs a Depth Anything model" in r.json()["detail"]  # before queueing: no job runs

    unit = webuiapi.ControlNetUnit(
        image=picture, module="canny", model=model, weight=0.7, resize_mode="Crop and Resize",
        threshold_a=100, threshold_b=200,
    )  # fmt: skip
    api, cli = webuiapi_and_cli(
        live.port, "a box", unit, f"{ref}:0.7:canny", tmp_path / "cli.png", sdstudio_home
    )
    assert 'ControlNet 0: "Module: canny, Model: tiny_sd15_canny [' in api.info["parameters"]
    assert np.array_equal(np.asarray(cli.convert("RGB")), np.asarray(api.convert("RGB")))
