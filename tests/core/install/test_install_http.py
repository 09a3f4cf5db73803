"""Plain HTTPS-style sources against a stand-in server: ranges, a dropped connection and a resume, pause and
cancel through the queue, a wrong hash, a 404 and a 401 — and nothing written outside the library."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save

from sdstudio.core.install.installer import install
from sdstudio.core.install.plan import InstallError
from sdstudio.core.install.queue import DownloadQueue, InstallRequest, State
from sdstudio.core.install.sources import resolve
from sdstudio.core.models import Kind, ModelLibrary
from sdstudio.core.models.hashing import HashCache
from sdstudio.core.settings import Settings
from tests.core.install.servers import Site, checkpoint_bytes, files_under, lora_bytes, serve, url


@pytest.fixture
def site():
    s = Site()
    server = serve(s)
    yield s, server
    server.shutdown()


def _install(text: str, **kw) -> tuple:
    settings = Settings()
    plan = resolve(text, settings, **kw)
    return install(plan, settings), settings


def test_dropped_connection_resumes_with_a_range_and_lands_verified(site, sdstudio_home: Path) -> None:
    s, server = site
    data = checkpoint_bytes(pad=300_000)
    s.files["/files/my-model.safetensors"] = data
    s.drop_once["/files/my-model.safetensors"] = len(data) // 3
    sha = hashlib.sha256(data).hexdigest()
    done, settings = _install(url(server, "/files/my-model.safetensors"), sha256=sha)
    # 1. the second request asked for the rest only, with If-Range
    gets = [r for r in s.seen if r.method == "GET"]
    assert len(gets) == 2 and "Range" not in gets[0].headers
    assert (
        gets[1].headers["Range"] == f"bytes={len(data) // 3}-" and gets[1].headers["If-Range"] == f'"{sha}"'
    )
    # 2. the whole file, in the checkpoint folder (kind from its header), verified and hashed for A1111
    path = settings.library_path() / "models" / "Stable-diffusion" / "my-model.safetensors"
    assert done.paths == (path,) and done.kind is Kind.checkpoint and done.verified
    assert path.read_bytes() == data and done.sha256 == sha
    assert HashCache().cached(path) == sha
    entry = next(e for e in ModelLibrary(settings).entries() if e.name == "my-model")
    assert entry.short_hash == sha[:10] and entry.family.value == "SD 1.x"
    assert files_under(settings.library_path() / ".downloads") == set()


def test_kind_from_the_header_puts_a_lora_in_the_lora_folder(site) -> None:
    s, server = site
    s.files["/get"] = lora_bytes()
    # no file name in the URL: the server's Content-Disposition is absent, so the name comes from --name
    done, settings = _install(url(server, "/get"), name="detail-tweaker")
    assert done.kind is Kind.lora
    assert done.paths[0] == settings.library_path() / "models" / "Lora" / "detail-tweaker.safetensors"
    library = ModelLibrary(settings)
    assert [e.name for e in library.entries(Kind.lora)] == ["detail-tweaker"]
    assert library.loras.find("detail-tweaker").path == done.paths[0]  # <lora:detail-tweaker:0.8> resolves
    assert "no published hash" in " ".join(done.notes)


def test_wrong_hash_is_refused_and_nothing_is_left(site, sdstudio_home: Path) -> None:
    s, server = site
    s.files["/files/a.safetensors"] = lora_bytes()
    with pytest.raises(InstallError, match="sha256 mismatch.*nothing was installed"):
        _install(url(server, "/files/a.safetensors"), sha256="ab" * 32)
    library = Settings().library_path()
    assert files_under(library) == set()
    assert (
        ModelLibrary(Settings()).entries(None) == ModelLibrary(Settings()).entries(None)[:2]
    )  # the demos only


def test_404_and_401_are_one_clear_line_and_write_nothing(site, sdstudio_home: Path) -> None:
    s, server = site
    s.files["/private.safetensors"] = lora_bytes()
    s.private.add("/private.safetensors")
    s.token = "secret"
    with pytest.raises(InstallError, match=r"not found \(HTTP 404\)"):
        _install(url(server, "/missing.safetensors"))
    with pytest.raises(InstallError, match=r"access denied \(HTTP 401\)"):
        _install(url(server, "/private.safetensors"))
    assert files_under(Settings().library_path()) == set()
    with pytest.raises(InstallError, match="64 hex digits"):
        _install(url(server, "/x.safetensors"), sha256="nothex")
    with pytest.raises(InstallError, match="not a source sdstudio knows"):
        _install("no-such-thing.safetensors")


def test_unrecognised_file_needs_a_kind_and_is_not_kept(site) -> None:
    s, server = site
    s.files["/notes.safetensors"] = save({"something.else": np.zeros(3, dtype=np.float32)})
    with pytest.raises(InstallError, match="pass --kind"):
        _install(url(server, "/notes.safetensors"))
    assert files_under(Settings().library_path()) == set()
    done, _ = _install(url(server, "/notes.safetensors"), kind=Kind.vae)
    assert done.paths[0].parent.name == "VAE"


def test_queue_pause_keeps_a_hidden_partial_and_resume_finishes_with_a_range(site) -> None:
    s, server = site
    data = checkpoint_bytes(pad=400_000)  # 1.6 MB sent in 64 KiB steps
    s.files["/big.safetensors"] = data
    s.delay = 0.02
    settings = Settings()
    queue = DownloadQueue(settings)
    seen: list = []
    queue.subscribe(seen.append)
    job = queue.add(InstallRequest(url(server, "/big.safetensors")))
    # 1. pause once some bytes arrived
    for _ in range(400):
        jobs = queue.jobs()
        if jobs[0].progress is not None and jobs[0].progress.done > 200_000:
            break
        time.sleep(0.01)
    queue.pause(job)
    paused = queue.wait(job, 10)
    assert paused.state is State.paused
    parts = list((settings.library_path() / ".downloads").glob("*.part"))
    assert len(parts) == 1 and 0 < parts[0].stat().st_size < len(data)
    assert [e.name for e in ModelLibrary(settings).entries() if e.source.value == "single file"] == []
    # 2. resume asks for the rest
    kept = parts[0].stat().st_size
    s.delay = 0.002
    queue.resume(job)
    done = queue.wait(job, 20)
    assert done.state is State.done, done.message
    last_get = [r for r in s.seen if r.method == "GET"][-1]
    assert last_get.headers["Range"] == f"bytes={kept}-"
    assert (settings.library_path() / "models" / "Stable-diffusion" / "big.safetensors").read_bytes() == data
    progress = [j.progress for j in seen if j.progress is not None]
    assert progress[-1].done == progress[-1].total == len(data)
    assert any(p.speed > 0 and p.eta is not None for p in progress)
    queue.close()


def test_queue_cancel_removes_the_partial(site) -> None:
    s, server = site
    s.files["/big.safetensors"] = checkpoint_bytes(pad=400_000)
    s.delay = 0.02
    settings = Settings()
    queue = DownloadQueue(settings)
    job = queue.add(InstallRequest(url(server, "/big.safetensors")))
    for _ in range(400):
        p = queue.jobs()[0].progress
        if p is not None and p.done > 0:
            break
        time.sleep(0.01)
    queue.cancel(job)
    assert queue.wait(job, 10).state is State.cancelled
    assert files_under(settings.library_path()) == set()
    queue.close()


def test_local_files_copy_move_or_link(tmp_path: Path) -> None:
    src = tmp_path / "outside" / "style.safetensors"
    src.parent.mkdir()
    src.write_bytes(lora_bytes(1))
    settings = Settings()
    loras = settings.library_path() / "models" / "Lora"
    install(resolve(str(src), settings, name="copied"), settings, mode="copy")
    install(resolve(str(src), settings, name="linked"), settings, mode="link")
    assert (loras / "copied.safetensors").read_bytes() == src.read_bytes()
    assert (loras / "linked.safetensors").resolve() == src.resolve()
    install(resolve(str(src), settings), settings, mode="move")
    assert not src.exists() and (loras / "style.safetensors").exists()
    with pytest.raises(InstallError, match="already exists"):
        install(resolve(str(loras / "copied.safetensors"), settings, name="style"), settings)


def test_an_a1111_install_is_used_in_place(tmp_path: Path) -> None:
    webui = tmp_path / "stable-diffusion-webui"
    (webui / "models" / "Stable-diffusion").mkdir(parents=True)
    (webui / "models" / "Stable-diffusion" / "mine.safetensors").write_bytes(checkpoint_bytes(3))
    settings = Settings()
    done = install(resolve(str(webui), settings), settings)
    assert done.paths == (webui.resolve(),) and "used in place" in done.notes[0]
    assert Settings.load().model_roots == [str(webui.resolve())]
    assert not settings.library_path().exists()  # nothing copied
    assert "mine" in [e.name for e in ModelLibrary(Settings.load()).entries()]


def test_an_unfinished_install_comes_back_paused_after_a_restart(site) -> None:
    s, server = site
    data = checkpoint_bytes(pad=400_000)
    s.files["/big.safetensors"] = data
    s.delay = 0.02
    settings = Settings()
    first = DownloadQueue(settings, remember=True)
    job = first.add(InstallRequest(url(server, "/big.safetensors"), name="kept"))
    for _ in range(400):
        p = first.jobs()[0].progress
        if p is not None and p.done > 100_000:
            break
        time.sleep(0.01)
    first.close()  # the studio closes mid-download
    assert first.wait(job, 10).state is State.paused
    # 1. the next start lists it, paused, and resuming asks only for the rest
    second = DownloadQueue(settings, remember=True)
    (restored,) = second.jobs()
    assert restored.state is State.paused and "Resume" in restored.message
    s.delay = 0.001
    second.resume(restored.id)
    assert second.wait(restored.id, 20).state is State.done
    assert [r.headers.get("Range", "") for r in s.seen if r.method == "GET"][-1].startswith("bytes=")
    assert (settings.library_path() / "models" / "Stable-diffusion" / "kept.safetensors").read_bytes() == data
    # 2. finished installs are forgotten
    assert DownloadQueue(settings, remember=True).jobs() == []
    second.close()
