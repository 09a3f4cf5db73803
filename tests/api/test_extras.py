"""Upscaling over the API: real upscalers listed, /sdapi/v1/extra-single-image through webuiapi."""

from __future__ import annotations

import httpx
import numpy as np
import torch
import webuiapi
from PIL import Image

from sdstudio.core.upscale.model import import_spandrel
from tests.api.conftest import Live


def _install_tiny_esrgan(live: Live, tmp_path) -> None:
    torch.manual_seed(0)
    net = import_spandrel().architectures.ESRGAN.ESRGAN(num_filters=8, num_blocks=1, scale=2)
    folder = tmp_path / "ComfyUI" / "models" / "upscale_models"
    folder.mkdir(parents=True)
    (tmp_path / "ComfyUI" / "models" / "checkpoints").mkdir()
    torch.save(net.state_dict(), folder / "2x_Tiny.pth")
    live.library.add_root(tmp_path / "ComfyUI")


def test_upscalers_and_extra_single_image(live: Live, tmp_path) -> None:
    _install_tiny_esrgan(live, tmp_path)
    listed = httpx.get(f"{live.url}/sdapi/v1/upscalers").json()
    assert [u["name"] for u in listed] == ["None", "Lanczos", "Nearest", "2x_Tiny"]
    assert listed[3]["scale"] == 2 and listed[3]["model_path"].endswith("2x_Tiny.pth")
    modes = [m["name"] for m in httpx.get(f"{live.url}/sdapi/v1/latent-upscale-modes").json()]
    assert modes[0] == "Latent" and "Latent (nearest-exact)" in modes

    api = webuiapi.WebUIApi(host="127.0.0.1", port=live.port)
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 255, (24, 32, 3), dtype=np.uint8), "RGB")
    res = api.extra_single_image(image=picture, upscaler_1="2x_Tiny", upscaling_resize=2)
    assert res.image.size == (64, 48)
    res = api.extra_single_image(
        image=picture, upscaler_1="Nearest", resize_mode=1, upscaling_resize_w=40, upscaling_resize_h=40
    )
    assert res.image.size == (40, 40)

    bad = httpx.post(f"{live.url}/sdapi/v1/extra-single-image", json={"image": "", "upscaler_1": "Lanczos"})
    assert bad.status_code == 422 and "image" in bad.json()["detail"]
    unknown = httpx.post(
        f"{live.url}/sdapi/v1/extra-single-image",
        json={"image": webuiapi.raw_b64_img(picture), "upscaler_1": "4x-Missing"},
    )
    assert unknown.status_code == 422 and "known: None, Lanczos, Nearest, 2x_Tiny" in unknown.json()["detail"]
