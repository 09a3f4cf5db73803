"""The API and installs: /sdapi/v1/refresh-checkpoints sees newly installed files; the install endpoint is off
by default, needs the API's auth when on, never installs from a path on the server, and lists what it installed."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sdstudio.api.app import create_app
from sdstudio.core.install.installer import install
from sdstudio.core.install.sources import resolve
from sdstudio.core.jobs import JobQueue
from sdstudio.core.models import ModelLibrary
from sdstudio.core.settings import Settings
from tests.core.install.servers import Site, checkpoint_bytes, serve, url

AUTH = "artist:pw"
HEADERS = {"Authorization": "Basic " + base64.b64encode(AUTH.encode()).decode()}


def _client(settings: Settings, auth: str | None = None) -> tuple[TestClient, ModelLibrary]:
    library = ModelLibrary(settings)
    app = create_app(JobQueue(), library, auth=auth, allowed_hosts=("testserver",))  # TestClient's Host
    return TestClient(app), library


def _names(client: TestClient) -> list[str]:
    return [m["model_name"] for m in client.get("/sdapi/v1/sd-models", headers=HEADERS).json()]


def test_refresh_checkpoints_sees_a_newly_installed_file(tmp_path: Path) -> None:
    settings = Settings()
    client, _ = _client(settings)
    before = _names(client)
    src = tmp_path / "fresh.safetensors"
    src.write_bytes(checkpoint_bytes(4))
    install(resolve(str(src), settings), settings)
    assert _names(client) == before  # scans are cached until a refresh
    assert client.post("/sdapi/v1/refresh-checkpoints").status_code == 200
    assert _names(client) == [*before, "fresh"]


def test_install_endpoint_is_off_by_default_and_needs_auth() -> None:
    client, _ = _client(Settings())
    r = client.post("/sdstudio/v1/models/install", json={"source": "someone/model"})
    assert r.status_code == 403 and "api_install" in r.json()["detail"]
    client, _ = _client(Settings(api_install=True))
    r = client.post("/sdstudio/v1/models/install", json={"source": "someone/model"})
    assert r.status_code == 403 and "auth" in r.json()["detail"]
    client, _ = _client(Settings(api_install=True), auth=AUTH)
    assert client.post("/sdstudio/v1/models/install", json={"source": "someone/model"}).status_code == 401


def _wait(client: TestClient, job_id: int) -> dict:
    for _ in range(200):
        status = client.get(f"/sdstudio/v1/models/install/{job_id}", headers=HEADERS).json()
        if status["state"] in ("done", "failed", "cancelled"):
            return status
        time.sleep(0.05)
    raise AssertionError(status)


@pytest.fixture
def site():
    s = Site()
    server = serve(s)
    yield s, server
    server.shutdown()


def test_install_endpoint_installs_from_a_url_and_never_from_a_path(site, tmp_path: Path) -> None:
    s, server = site
    s.files["/m/web-model.safetensors"] = checkpoint_bytes(9)
    client, _ = _client(Settings(api_install=True), auth=AUTH)
    r = client.post(
        "/sdstudio/v1/models/install",
        json={"source": url(server, "/m/web-model.safetensors")},
        headers=HEADERS,
    )
    assert r.status_code == 200, r.text
    done = _wait(client, r.json()["id"])
    assert done["state"] == "done" and done["total_bytes"] == len(s.files["/m/web-model.safetensors"])
    assert "web-model" in _names(client)  # the library was refreshed when it finished
    # a file on the server's own disk is not a source over HTTP
    local = tmp_path / "secret.safetensors"
    local.write_bytes(checkpoint_bytes(1))
    r = client.post("/sdstudio/v1/models/install", json={"source": str(local)}, headers=HEADERS)
    failed = _wait(client, r.json()["id"])
    assert failed["state"] == "failed" and "secret" not in _names(client)
    bad = client.post("/sdstudio/v1/models/install", json={"source": "x/y", "sha256": "zz"}, headers=HEADERS)
    assert bad.status_code == 422 and "64 hex" in bad.json()["detail"]
