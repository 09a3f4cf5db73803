"""`sdstudio models --install` against a stand-in hub on 127.0.0.1 (in a subprocess: huggingface_hub reads
HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE when imported): files land in the standard cache with the library linking
to them, a gated repo asks for HF_TOKEN, a wrong hash and a 404 are refused, offline mode is honoured, starters
install, --remove moves to the trash, and nothing is written outside the library, the caches and the trash."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sdstudio.core.install import hub
from tests.core.install.servers import COMMIT, Site, checkpoint_bytes, files_under, lora_bytes, serve, url

ROOT = Path(__file__).resolve().parents[2]
REPO = "someone/tiny-models"


@pytest.fixture
def hub_site():
    site = Site(hub=True)
    server = serve(site)
    yield site, server
    server.shutdown()


def _publish(site: Site, repo: str, path: str, data: bytes) -> None:
    for rev in ("main", COMMIT):
        site.files[f"/{repo}/resolve/{rev}/{path}"] = data


def _env(tmp_path: Path, server, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN")
    }
    return env | {
        "SDSTUDIO_HOME": str(tmp_path / "home"),
        "HF_HOME": str(tmp_path / "hf"),
        "HF_ENDPOINT": url(server, ""),
        "XDG_DATA_HOME": str(tmp_path / "xdg"),  # the trash
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def _models(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sdstudio", "models", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_hub_file_goes_to_the_cache_and_the_library_links_it(tmp_path: Path, hub_site) -> None:
    site, server = hub_site
    data = lora_bytes(5)
    sha = hashlib.sha256(data).hexdigest()
    _publish(site, REPO, "loras/detail.safetensors", data)
    env = _env(tmp_path, server)
    out = _models(env, "--install", f"{REPO}/loras/detail.safetensors")
    assert out.returncode == 0, out.stderr
    assert "installed lora" in out.stdout and f"sha256 {sha} (verified)" in out.stdout
    assert "100.0%" in out.stderr
    # 1. the standard cache layout: blob by sha256, snapshot by commit, refs/main
    repo_dir = tmp_path / "hf" / "hub" / "models--someone--tiny-models"
    assert (repo_dir / "blobs" / sha).read_bytes() == data
    assert (repo_dir / "refs" / "main").read_text() == COMMIT
    link = tmp_path / "home" / "data" / "library" / "models" / "Lora" / "detail.safetensors"
    assert link.is_symlink() and link.resolve() == (repo_dir / "blobs" / sha).resolve()
    # 2. huggingface_hub itself finds it offline
    code = f"from huggingface_hub import hf_hub_download; print(hf_hub_download({REPO!r}, 'loras/detail.safetensors'))"
    found = subprocess.run(
        [sys.executable, "-c", code], env=env | {"HF_HUB_OFFLINE": "1"}, capture_output=True, text=True
    )
    assert found.returncode == 0 and Path(found.stdout.strip()).resolve() == link.resolve(), found.stderr
    # 3. listed with its A1111 hash; the same file again is "already installed", not a second copy
    listing = _models(env, "--all")
    assert "[lora] detail" in listing.stdout and sha[:10] in listing.stdout
    again = _models(env, "--install", url(server, f"/{REPO}/blob/main/loras/detail.safetensors"))
    assert again.returncode == 0, again.stderr
    # 4. --remove sends it to the trash
    gone = _models(env, "--remove", "detail")
    assert gone.returncode == 0, gone.stderr
    assert not link.exists() and not link.is_symlink()
    # 5. nothing outside the library, the hash cache, the hub cache and the trash
    home = tmp_path / "home"
    assert {p.split("/")[1] for p in files_under(home)} <= {"library", "cache"}
    assert {p for p in files_under(home) if p.startswith("data/cache")} == {"data/cache/hashes.json"}


def test_gated_repo_asks_for_a_token_then_installs_with_it(tmp_path: Path, hub_site) -> None:
    site, server = hub_site
    data = checkpoint_bytes(7)
    _publish(site, "corp/gated-model", "model.safetensors", data)
    site.gated |= {f"/corp/gated-model/resolve/{r}/model.safetensors" for r in ("main", COMMIT)}
    site.token = "hf_testtoken"
    env = _env(tmp_path, server)
    refused = _models(env, "--install", "corp/gated-model/model.safetensors")
    assert refused.returncode == 2 and "HTTP 401" in refused.stderr and "HF_TOKEN" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (
        tmp_path / "home" / "data" / "library" / "models" / "Stable-diffusion" / "model.safetensors"
    ).exists()
    ok = _models(env | {"HF_TOKEN": "hf_testtoken"}, "--install", "corp/gated-model/model.safetensors")
    assert ok.returncode == 0, ok.stderr
    assert "installed checkpoint" in ok.stdout
    assert "hf_testtoken" not in ok.stdout + ok.stderr


def test_hub_wrong_hash_404_and_offline_are_refused_cleanly(tmp_path: Path, hub_site) -> None:
    site, server = hub_site
    _publish(site, REPO, "bad.safetensors", lora_bytes(1))
    site.wrong_hash |= {f"/{REPO}/resolve/{r}/bad.safetensors" for r in ("main", COMMIT)}
    env = _env(tmp_path, server)
    bad = _models(env, "--install", f"{REPO}/bad.safetensors")
    assert bad.returncode == 2 and "sha256 mismatch" in bad.stderr
    missing = _models(env, "--install", f"{REPO}/missing.safetensors")
    assert missing.returncode == 2 and "no such file" in missing.stderr
    offline = _models(env | {"HF_HUB_OFFLINE": "1"}, "--install", f"{REPO}/other.safetensors")
    assert offline.returncode == 2 and "downloads are off" in offline.stderr
    hf = tmp_path / "hf" / "hub"
    assert not [p for p in files_under(hf) if "/blobs/" in p] if hf.exists() else True
    assert not (tmp_path / "home" / "data" / "library" / "models" / "Lora").exists()


def test_a_starter_installs_every_file_into_its_folders(tmp_path: Path, hub_site) -> None:
    site, server = hub_site
    weights = lora_bytes(2)  # stands in for the TAESD weights; the starter names the kind
    _publish(site, "madebyollin/taesd", "diffusion_pytorch_model.safetensors", weights)
    _publish(site, "madebyollin/taesd", "config.json", b'{"_class_name": "AutoencoderTiny"}')
    env = _env(tmp_path, server)
    listing = _models(env, "--starter")
    assert listing.returncode == 0 and "taesd" in listing.stdout and "MIT" in listing.stdout
    out = _models(env, "--install", "taesd")
    assert out.returncode == 0, out.stderr
    folder = tmp_path / "home" / "data" / "library" / "models" / "VAE-approx" / "taesd"
    assert (folder / "diffusion_pytorch_model.safetensors").read_bytes() == weights
    assert (folder / "config.json").read_bytes().startswith(b'{"_class_name"')
    listing = _models(env, "--starter")
    assert any(line.startswith("taesd ") and "installed" in line for line in listing.stdout.splitlines())
    all_models = _models(env, "--all")
    assert "[taesd] taesd " in all_models.stdout  # named after its folder, not diffusion_pytorch_model


def test_hub_addresses_parse() -> None:
    assert hub.parse("stabilityai/sd-turbo") == ("stabilityai/sd-turbo", "", "main")
    assert hub.parse("stabilityai/sd-turbo/sd_turbo.safetensors") == (
        "stabilityai/sd-turbo",
        "sd_turbo.safetensors",
        "main",
    )
    assert hub.parse(
        "https://huggingface.co/h94/IP-Adapter/blob/main/models/ip-adapter_sd15.safetensors"
    ) == (
        "h94/IP-Adapter",
        "models/ip-adapter_sd15.safetensors",
        "main",
    )
    assert hub.parse("https://huggingface.co/stabilityai/sdxl-turbo") == (
        "stabilityai/sdxl-turbo",
        "",
        "main",
    )
    assert hub.parse("https://example.com/a/b.safetensors") is None


def test_a_hub_repo_id_installs_a_diffusers_folder_from_the_cache(tmp_path: Path, demo_home: Path) -> None:
    from sdstudio.core import demo
    from tests.core.test_models_hub import REPO as TINY
    from tests.core.test_models_hub import _serve

    server = _serve(demo.demo_path())
    try:
        env = _env(tmp_path, server, SDSTUDIO_HOME=str(tmp_path / "home"))
        out = _models(env, "--install", TINY)
    finally:
        server.shutdown()
    assert out.returncode == 0, out.stderr
    link = tmp_path / "home" / "data" / "library" / "models" / "Stable-diffusion" / "tiny-sd"
    assert link.is_symlink() and (link / "model_index.json").exists()
    assert str(link.resolve()).startswith(
        str(tmp_path / "hf" / "hub" / "models--someone--tiny-sd" / "snapshots")
    )
    listing = _models(env)
    assert "tiny-sd" in listing.stdout and "diffusers folder" in listing.stdout
