"""Real clients against a live server: the webuiapi package, Open WebUI and SillyTavern request bodies."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from pathlib import Path

import httpx
import pytest
import webuiapi
from PIL import Image

from sdstudio.core import demo
from tests.api.conftest import Live


def _client(live: Live) -> webuiapi.WebUIApi:
    return webuiapi.WebUIApi(host="127.0.0.1", port=live.port, sampler="Euler a", steps=3)


def test_txt2img_through_webuiapi(live: Live) -> None:
    api = _client(live)
    res = api.txt2img(
        prompt="a lighthouse",
        negative_prompt="fog",
        seed=42,
        width=64,
        height=64,
        steps=3,
        batch_size=2,
        save_images=True,
    )
    assert len(res.images) == 2 and res.images[0].size == (64, 64)
    assert res.info["all_seeds"] == [42, 43] and res.info["sd_model_name"] == demo.DEMO_NAME
    assert res.info["sampler_name"] == "Euler a" and res.info["infotexts"][0].startswith(
        "a lighthouse\nNegative prompt: fog"
    )
    assert "Seed: 42" in res.images[0].info["parameters"]  # the PNG carries A1111's parameters
    assert live.store.count("lighthouse") == 2  # and landed in the gallery
    api.txt2img(prompt="unsaved lighthouse", width=64, height=64, steps=1)  # webuiapi's save_images=False
    assert live.store.count("unsaved") == 0  # as A1111: not written


def test_img2img_with_mask_through_webuiapi(live: Live) -> None:
    api = _client(live)
    init = Image.new("RGB", (64, 64), (200, 30, 30))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    res = api.img2img(
        images=[init],
        mask_image=mask,
        prompt="fix",
        seed=1,
        width=64,
        height=64,
        steps=3,
        denoising_strength=0.9,
        mask_blur=0,
        inpaint_full_res=False,
        save_images=True,
    )
    (out,) = res.images
    assert out.convert("RGB").getpixel((2, 2)) == (200, 30, 30)  # outside the mask: untouched
    assert "Mask blur: 0" in res.info["infotexts"][0]
    (record,) = live.store.search("fix")
    assert record.mode == "inpaint"


def test_progress_during_a_run_and_interrupt(live: Live) -> None:
    api = _client(live)
    out: dict = {}
    t = threading.Thread(
        target=lambda: out.setdefault(
            "res", api.txt2img(prompt="slow", width=128, height=128, steps=8, batch_size=4, seed=3)
        )
    )
    t.start()
    seen, deadline = None, time.monotonic() + 60
    while time.monotonic() < deadline and t.is_alive():
        p = api.get_progress()
        if p["state"]["sampling_step"] >= 1:
            seen = p
            break
        time.sleep(0.02)
    assert seen is not None, "no progress seen"
    assert (
        seen["state"]["sampling_steps"] == 8 and seen["state"]["job_count"] == 1 and 0 < seen["progress"] <= 1
    )
    assert seen["current_image"] and Image.open(io.BytesIO(base64.b64decode(seen["current_image"]))).size == (
        16,
        16,
    )
    api.interrupt()
    t.join(60)
    # A1111's interrupt: the pictures decoded from the latents reached come back (SillyTavern reads
    # images[0]); nothing is saved
    assert len(out["res"].images) == 4 and out["res"].images[0].size == (128, 128)
    assert live.store.count("slow") == 0
    idle = api.get_progress()
    assert idle["progress"] == 0 and idle["state"]["job_count"] == 0 and idle["state"]["interrupted"]
    api.txt2img(prompt="next", width=64, height=64, steps=1, seed=1)
    assert not api.get_progress()["state"]["interrupted"]  # reset when the next job starts


def test_second_job_waits_its_turn_with_correct_job_count(live: Live) -> None:
    api = _client(live)
    results = []
    threads = [
        threading.Thread(
            target=lambda i=i: results.append(
                api.txt2img(prompt=f"turn {i}", width=64, height=64, steps=6, seed=i)
            )
        )
        for i in range(2)
    ]
    for t in threads:
        t.start()
    counts = set()
    for _ in range(300):
        counts.add(api.get_progress()["state"]["job_count"])
        if len(results) == 2:
            break
        time.sleep(0.01)
    for t in threads:
        t.join(60)
    assert len(results) == 2 and 2 in counts


def test_options_models_samplers_and_png_info(live: Live) -> None:
    api = _client(live)
    models = api.get_sd_models()
    titles = [m["title"] for m in models]
    assert demo.DEMO_NAME in titles and {
        "title",
        "model_name",
        "hash",
        "sha256",
        "filename",
        "config",
    } <= set(models[0])
    opts = api.get_options()
    assert opts["sd_model_checkpoint"] == demo.DEMO_NAME
    api.set_options(opts | {"sd_model_checkpoint": demo.DEMO_INPAINT_NAME})  # the whole dict posted back
    assert api.get_options()["sd_model_checkpoint"] == demo.DEMO_INPAINT_NAME
    assert api.util_get_current_model() == demo.DEMO_INPAINT_NAME
    res = api.txt2img(prompt="with the other model", width=64, height=64, steps=2, seed=1)
    assert res.info["sd_model_name"] == demo.DEMO_INPAINT_NAME
    names = [s["name"] for s in api.get_samplers()]
    assert {"Euler a", "DPM++ 2M Karras", "DPM++ SDE Karras", "UniPC", "LCM"} <= set(names)
    assert [s["name"] for s in api.get_schedulers()][:3] == ["automatic", "uniform", "karras"]
    info = api.png_info(res.images[0])
    assert "Seed: 1" in info.info and info.parameters["Prompt"] == "with the other model"
    with httpx.Client(base_url=live.url) as c:
        for path in (
            "sd-vae",
            "loras",
            "upscalers",
            "latent-upscale-modes",
            "scripts",
            "cmd-flags",
            "embeddings",
        ):
            assert c.get(f"/sdapi/v1/{path}").status_code == 200, path
        assert c.post("/sdapi/v1/refresh-checkpoints").status_code == 200
        assert c.get("/openapi.json").json()["paths"]["/sdapi/v1/txt2img"]
        assert c.get("/docs").status_code == 200
        r = c.post("/sdapi/v1/options", json={"sd_model_checkpoint": "no-such-model"})
        assert r.status_code == 422 and "model not found" in r.json()["detail"]


def test_clients_never_name_paths_or_hub_ids(live: Live, tmp_path) -> None:
    folder = tmp_path / "not-in-library"
    folder.mkdir()
    (folder / "model_index.json").write_text("{}")
    with httpx.Client(base_url=live.url, timeout=60) as c:
        for ref in (str(folder), "/etc/passwd", "someone/some-model"):
            r = c.post("/sdapi/v1/options", json={"sd_model_checkpoint": ref})
            assert r.status_code == 422 and "not in the model library" in r.json()["detail"], ref
            body = {
                "prompt": "x",
                "width": 64,
                "height": 64,
                "steps": 1,
                "override_settings": {"sd_model_checkpoint": ref},
            }
            r = c.post("/sdapi/v1/txt2img", json=body)
            assert r.status_code == 422 and "not in the model library" in r.json()["detail"], ref
        assert c.get("/sdapi/v1/options").json()["sd_model_checkpoint"] == demo.DEMO_NAME


OPEN_WEBUI = {
    "prompt": "a cozy cabin",
    "batch_size": 1,
    "width": 64,
    "height": 64,
    "steps": 2,
    "negative_prompt": "",
    "cfg_scale": 7,
    "sampler_name": "Euler a",
    "scheduler": "Automatic",
}
SILLYTAVERN = {
    "prompt": "portrait of a knight",
    "negative_prompt": "lowres",
    "sampler_name": "DPM++ 2M",
    "scheduler": "Karras",
    "steps": 2,
    "cfg_scale": 7,
    "width": 64,
    "height": 64,
    "restore_faces": False,
    "enable_hr": False,
    "hr_upscaler": "Latent",
    "hr_scale": 2,
    "hr_additional_modules": [],
    "denoising_strength": 0.7,
    "hr_second_pass_steps": 0,
    "seed": 7,
    "override_settings": {"CLIP_stop_at_last_layers": 2},
    "override_settings_restore_afterwards": True,
    "clip_skip": 2,
    "save_images": True,
    "send_images": True,
    "do_not_save_grid": False,
    "do_not_save_samples": False,
    "alwayson_scripts": {},
}


@pytest.mark.parametrize(
    ("body", "headers"),
    [(OPEN_WEBUI, {"authorization": ""}), (SILLYTAVERN, {"Content-Type": "application/json"})],
)
def test_open_webui_and_sillytavern_bodies_succeed(live: Live, body: dict, headers: dict) -> None:
    with httpx.Client(base_url=live.url, timeout=120) as c:
        r = c.post("/sdapi/v1/txt2img", json=body, headers=headers)
    assert r.status_code == 200, r.text
    data = r.json()
    info = json.loads(data["info"])
    assert len(data["images"]) == 1 and info["prompt"] == body["prompt"]
    if body is SILLYTAVERN:
        assert info["clip_skip"] == 2 and info["sampler_name"] == "DPM++ 2M" and info["scheduler"] == "Karras"


def test_bad_input_gets_4xx_and_server_keeps_serving(live: Live) -> None:
    with httpx.Client(base_url=live.url, timeout=60) as c:
        r = c.post("/sdapi/v1/txt2img", content=b"{not json", headers={"Content-Type": "application/json"})
        assert r.status_code == 422
        r = c.post("/sdapi/v1/txt2img", json={"prompt": "x", "steps": "many"})
        assert r.status_code == 422 and "steps" in r.text
        r = c.post("/sdapi/v1/txt2img", json={"prompt": "x", "width": 100, "height": 64, "steps": 1})
        assert r.status_code == 422 and "multiple of 8" in r.json()["detail"]
        r = c.post("/sdapi/v1/txt2img", json={"prompt": "x", "width": 4096, "height": 4096})
        assert r.status_code == 422 and "limit" in r.json()["detail"]
        r = c.post(
            "/sdapi/v1/txt2img",
            json={"prompt": "x", "sampler_name": "Bogus", "steps": 1, "width": 64, "height": 64},
        )
        assert r.status_code == 422 and "Euler a" in r.json()["detail"]
        big = Image.new("RGB", (1024, 1024))
        buf = io.BytesIO()
        big.save(buf, format="PNG")
        r = c.post(
            "/sdapi/v1/img2img",
            json={
                "init_images": [base64.b64encode(buf.getvalue()).decode()],
                "width": 64,
                "height": 64,
                "steps": 1,
            },
        )
        assert r.status_code == 413 and "pixels" in r.json()["detail"]
        r = c.post(
            "/sdapi/v1/img2img",
            json={"init_images": ["data:image/png;base64,AAAA"], "width": 64, "height": 64, "steps": 1},
        )
        assert r.status_code == 422 and "not a readable image" in r.json()["detail"]
        r = c.post(
            "/sdapi/v1/txt2img", content=b"x" * (3 * 2**20), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 413
        r = c.post("/sdapi/v1/txt2img", json={"prompt": "still alive", "width": 64, "height": 64, "steps": 1})
        assert r.status_code == 200 and len(r.json()["images"]) == 1


def test_basic_auth(live_auth: Live) -> None:
    with httpx.Client(base_url=live_auth.url, timeout=60) as c:
        assert c.get("/sdapi/v1/sd-models").status_code == 401
        assert c.get("/sdapi/v1/sd-models", auth=("artist", "wrong")).status_code == 401
        assert c.get("/sdapi/v1/sd-models", headers={"authorization": ""}).status_code == 401
        assert c.get("/sdapi/v1/sd-models", auth=("artist", "s3cret")).status_code == 200
    api = webuiapi.WebUIApi(host="127.0.0.1", port=live_auth.port, username="artist", password="s3cret")
    assert api.txt2img(prompt="authorised", width=64, height=64, steps=1, seed=1).images


def test_prompt_styles_and_embeddings_are_listed_as_a1111_lists_them(live: Live, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    webui = tmp_path / "stable-diffusion-webui"
    (webui / "models" / "Stable-diffusion").mkdir(parents=True)
    (webui / "embeddings").mkdir()
    save_file({"emb_params": torch.zeros(3, 32)}, str(webui / "embeddings" / "soft-light.safetensors"))
    (webui / "embeddings" / "broken.pt").write_bytes(b"not a pickle")
    live.library.add_root(webui)
    with httpx.Client(base_url=live.url) as c:
        styles = {s["name"]: s for s in c.get("/sdapi/v1/prompt-styles").json()}
        assert "bent fingers" in styles["hands"]["negative_prompt"]
        emb = c.get("/sdapi/v1/embeddings").json()
    assert emb["loaded"]["soft-light"]["vectors"] == 3 and emb["loaded"]["soft-light"]["shape"] == 32
    assert list(emb["skipped"]) == ["broken"]


def test_hires_fix_and_variations_through_webuiapi(live: Live) -> None:
    api = _client(live)
    res = api.txt2img(
        prompt="a tower",
        seed=5,
        width=64,
        height=64,
        steps=2,
        enable_hr=True,
        hr_scale=2,
        denoising_strength=0.5,
        subseed=11,
        subseed_strength=0.3,
        batch_size=2,
    )
    assert [im.size for im in res.images] == [(128, 128), (128, 128)]  # the doubled size
    assert res.info["all_seeds"] == [5, 5] and res.info["all_subseeds"] == [11, 12]
    assert res.info["subseed_strength"] == 0.3 and res.info["denoising_strength"] == 0.5
    assert res.info["extra_generation_params"] == {"Hires upscale": "2", "Hires upscaler": "Latent"}
    params = res.images[1].info["parameters"]
    assert "Variation seed: 12, Variation seed strength: 0.3" in params and "Hires upscale: 2" in params
    too_big = httpx.post(
        f"{live.url}/sdapi/v1/txt2img",
        json={"prompt": "x", "width": 128, "height": 128, "steps": 2, "enable_hr": True},
    )
    assert too_big.status_code == 422 and "hires size 256x256" in too_big.text
