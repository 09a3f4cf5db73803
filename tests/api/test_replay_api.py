"""POST /sdstudio/v1/replay on a live server: a picture the API made comes back identical (its input from the
gallery's input store), an override changes it, bad bodies are clear 4xx, and auth guards it."""

from __future__ import annotations

import base64
import io

import httpx
from PIL import Image

from tests.api.conftest import Live

SMALL = {"width": 64, "height": 64, "steps": 2, "sampler_name": "Euler a"}


def _picture(color: tuple[int, int, int]) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), color).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_api_pictures_replay_identically_and_overrides_change_them(live: Live) -> None:
    with httpx.Client(base_url=live.url, timeout=120) as client:
        made = client.post("/sdapi/v1/img2img", json={
            "prompt": "a fox", "seed": 5, "denoising_strength": 0.7, "init_images": [_picture((200, 90, 40))], **SMALL,
        })  # fmt: skip
        assert made.status_code == 200, made.text
        picture = made.json()["images"][0]
        same = client.post("/sdstudio/v1/replay", json={"image": picture})
        assert same.status_code == 200, same.text
        body = same.json()
        assert body["identical"] is True and body["max_difference"] == 0 and body["unhonoured"] == []
        assert body["info"].startswith("a fox\n") and "Denoising strength: 0.7" in body["info"]
        other = client.post("/sdstudio/v1/replay", json={"image": picture, "overrides": {"seed": 6}}).json()
        assert other["identical"] is False and other["max_difference"] > 0 and "Seed: 6," in other["info"]
        assert other["environment_changes"] == []  # same machine: the difference is the override

        bad = client.post(
            "/sdstudio/v1/replay", json={"image": picture, "overrides": {"model": "/etc/passwd"}}
        )
        assert bad.status_code == 422 and "overrides.model" in bad.text
        bad = client.post("/sdstudio/v1/replay", json={"image": picture, "overrides": {"steps": "many"}})
        assert bad.status_code == 422 and "must be a int" in bad.text
        plain = client.post("/sdstudio/v1/replay", json={"image": _picture((1, 2, 3))})
        assert plain.status_code == 422 and "no generation parameters" in plain.text
        garbage = client.post("/sdstudio/v1/replay", json={"image": "bm90IGEgcGljdHVyZQ=="})
        assert 400 <= garbage.status_code < 500
    assert live.store.count() == 1  # replays are checks: only the img2img picture was saved


def test_replay_needs_the_apis_credentials(live_auth: Live) -> None:
    with httpx.Client(base_url=live_auth.url, timeout=30) as client:
        assert client.post("/sdstudio/v1/replay", json={"image": _picture((0, 0, 0))}).status_code == 401
