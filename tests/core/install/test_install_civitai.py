"""Civitai sources against a stand-in API: version pages, model pages and AIR ids; the published sha256 checked;
the key sent to Civitai only (never to the CDN it redirects to, never in a message); A1111's sidecars written."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest
from PIL import Image

from sdstudio.core.install import civitai
from sdstudio.core.install.installer import install
from sdstudio.core.install.plan import InstallError
from sdstudio.core.install.sources import resolve
from sdstudio.core.models import Kind, ModelLibrary
from sdstudio.core.settings import Settings
from tests.core.install.servers import Site, files_under, lora_bytes, png_bytes, serve, url

KEY = "civitai-secret-key-123"


@pytest.fixture
def civ(monkeypatch: pytest.MonkeyPatch):
    """Civitai's API on one server, its CDN on another; model 4201 (a LoRA), version 130072."""
    api, cdn = Site(token=KEY), Site()
    api_server, cdn_server = serve(api), serve(cdn)
    monkeypatch.setenv("CIVITAI_ENDPOINT", url(api_server, ""))
    data = lora_bytes(3)
    cdn.files["/blob/handfix.safetensors"] = data
    cdn.files["/img/preview.jpeg"] = png_bytes()
    version = {
        "id": 130072,
        "modelId": 4201,
        "name": "v2.0",
        "baseModel": "SD 1.5",
        "trainedWords": ["goodhands", "detailed fingers"],
        "description": "<p>second version</p>",
        "downloadUrl": url(api_server, "/api/download/models/130072"),
        "files": [
            {
                "name": "handfix-training.zip",
                "type": "Training Data",
                "downloadUrl": url(api_server, "/nope"),
            },
            {
                "name": "handfix_v20.safetensors",
                "type": "Model",
                "primary": True,
                "sizeKB": len(data) / 1024,
                "metadata": {"format": "SafeTensor"},
                "hashes": {"SHA256": hashlib.sha256(data).hexdigest().upper(), "AutoV2": "X"},
                "downloadUrl": url(api_server, "/api/download/models/130072"),
            },
        ],
        "images": [
            {"url": url(cdn_server, "/img/clip.mp4"), "type": "video"},
            {"url": url(cdn_server, "/img/preview.jpeg"), "type": "image"},
        ],
    }
    api.json["/api/v1/model-versions/130072"] = version
    api.json["/api/v1/models/4201"] = {
        "id": 4201,
        "name": "Hand Fix",
        "type": "LORA",
        "description": "<p>Fixes <b>hands</b> &amp; fingers.</p>",
        "modelVersions": [version],
    }
    api.redirects["/api/download/models/130072"] = url(cdn_server, "/blob/handfix.safetensors")
    api.private.add("/api/download/models/130072")
    yield api, cdn, api_server, data
    api_server.shutdown()
    cdn_server.shutdown()


def _run(text: str, key: str = KEY, **kw):
    settings = Settings(civitai_api_key=key)
    return install(resolve(text, settings, **kw), settings), settings


@pytest.mark.parametrize(
    "source",
    [
        "{base}/models/4201/hand-fix?modelVersionId=130072",
        "urn:air:sd1:lora:civitai:4201@130072",
        "{base}/models/4201",
    ],
)
def test_civitai_installs_the_lora_with_its_sidecars(
    civ, source: str, caplog: pytest.LogCaptureFixture
) -> None:
    api, cdn, api_server, data = civ
    caplog.set_level(logging.DEBUG)
    done, settings = _run(source.format(base=url(api_server, "")))
    model = settings.library_path() / "models" / "Lora" / "handfix_v20.safetensors"
    assert done.paths == (model,) and done.kind is Kind.lora and done.verified
    assert model.read_bytes() == data and done.sha256 == hashlib.sha256(data).hexdigest()
    # 1. the key went to Civitai's download endpoint, not to the CDN, and appears nowhere else
    download = [r for r in api.seen if r.path.startswith("/api/download/")]
    assert download and download[0].headers["Authorization"] == f"Bearer {KEY}"
    assert all("Authorization" not in r.headers for r in cdn.seen)
    assert all(KEY not in r.path for r in api.seen + cdn.seen)
    assert KEY not in caplog.text
    # 2. A1111's sidecars: Civitai's record, the extra-networks card, the preview as PNG
    info = json.loads(model.with_suffix(".civitai.info").read_text())
    assert info["id"] == 130072 and info["model"]["name"] == "Hand Fix"
    card = json.loads(model.with_suffix(".json").read_text())
    assert card["activation text"] == "goodhands, detailed fingers"
    assert card["sd version"] == "SD1" and card["description"] == "Fixes hands & fingers."
    with Image.open(model.with_name("handfix_v20.preview.png")) as im:
        assert im.format == "PNG" and im.size == (8, 8)
    library = ModelLibrary(settings)
    assert [e.name for e in library.entries(Kind.lora)] == ["handfix_v20"]
    # 3. the LoRA picker reads the sidecars: trigger words, family, preview
    info = library.loras.find("handfix_v20")
    assert info.trigger_words == ("goodhands", "detailed fingers") and info.family.value == "SD 1.x"
    assert info.preview == model.with_name("handfix_v20.preview.png")


def test_civitai_wrong_published_hash_is_refused(civ) -> None:
    api, _cdn, _server, _data = civ
    api.json["/api/v1/model-versions/130072"]["files"][1]["hashes"]["SHA256"] = "00" * 32
    with pytest.raises(InstallError, match="sha256 mismatch"):
        _run("civitai:4201@130072")
    assert files_under(Settings().library_path()) == set()


def test_civitai_without_a_key_says_how_to_get_in(civ) -> None:
    with pytest.raises(InstallError, match=r"HTTP 401.*Civitai API key in the settings"):
        _run("civitai:4201@130072", key="")
    assert files_under(Settings().library_path()) == set()


def test_civitai_disk_space_is_checked_before_any_download(civ) -> None:
    api, cdn, _server, _data = civ
    api.json["/api/v1/model-versions/130072"]["files"][1]["sizeKB"] = 10.0**12  # a petabyte
    with pytest.raises(InstallError, match="not enough disk space"):
        _run("civitai:4201@130072")
    assert cdn.seen == [] and not [r for r in api.seen if r.path.startswith("/api/download/")]


def test_civitai_types_sdstudio_does_not_use_need_a_kind(civ) -> None:
    api, _cdn, _server, _data = civ
    api.json["/api/v1/models/4201"]["type"] = "Wildcards"
    with pytest.raises(InstallError, match="Wildcards.*pass --kind"):
        _run("civitai:4201@130072")


def test_civitai_addresses_parse() -> None:
    assert civitai.parse("https://civitai.com/models/4201/realistic?modelVersionId=130072") == (4201, 130072)
    assert civitai.parse("https://civitai.com/api/download/models/130072") == (None, 130072)
    assert civitai.parse("urn:air:sdxl:checkpoint:civitai:133005@357609") == (133005, 357609)
    assert civitai.parse("civitai:7371") == (7371, None)
    assert civitai.parse("https://example.com/models/1") is None
    assert civitai.parse("someone/model") is None
