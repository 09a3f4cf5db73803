"""Hugging Face hub sources: repo ids, repo files and hub URLs, through huggingface_hub and its standard cache.

A single file is fetched with the resumable downloader (pause, resume, progress) and then put into the cache
exactly where huggingface_hub keeps it (blobs/<sha256>, snapshots/<commit>/<path>, refs/<revision>), so
`hf_hub_download(..., local_files_only=True)` and HF_HUB_OFFLINE find it. HF_TOKEN is sent for gated models.
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sdstudio.core.install.plan import FileProgress, HubFile, InstallError, RemoteFile, Stopped
from sdstudio.core.install.transfer import Control
from sdstudio.core.models.entries import Kind

log = logging.getLogger(__name__)
_REPO = r"[A-Za-z0-9][\w.-]*/[\w.-]+"
_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".json", ".onnx", ".gguf")
GATED_HINT = (
    "the model is gated or private: accept its licence on its hub page and set HF_TOKEN to a read token"
)


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def cache_dir() -> Path:
    """The standard huggingface_hub cache (HF_HUB_CACHE, or HF_HOME/hub, or ~/.cache/huggingface/hub)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface"
    )
    return Path(home).expanduser() / "hub"


def offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def parse(text: str) -> tuple[str, str, str] | None:
    """(repo, path in the repo or "" for the whole repo, revision) for a hub id, repo file or hub URL."""
    text = text.strip()
    parts = urlsplit(text)
    if parts.scheme in ("http", "https"):
        hosts = {"huggingface.co", "www.huggingface.co", "hf.co", urlsplit(endpoint()).netloc}
        if parts.netloc not in hosts:
            return None
        path = unquote(parts.path).strip("/")
        m = re.fullmatch(rf"({_REPO})/(?:resolve|blob)/([^/]+)/(.+)", path)
        if m:
            return m.group(1), m.group(3), m.group(2)
        m = re.fullmatch(rf"({_REPO})(?:/tree/([^/]+))?", path)
        return (m.group(1), "", m.group(2) or "main") if m else None
    if re.fullmatch(_REPO, text) and not Path(text).suffix and not os.path.exists(text):
        return text, "", "main"
    m = re.fullmatch(rf"({_REPO})/(.+)", text)
    if m and text.lower().endswith(_FILE_SUFFIXES) and not os.path.exists(text):
        return m.group(1), m.group(2), "main"
    return None


def _error(e: Exception, what: str) -> InstallError:
    from huggingface_hub import errors

    if isinstance(e, errors.GatedRepoError):
        return InstallError(f"{what}: access denied (HTTP 401); {GATED_HINT}")
    if isinstance(e, errors.RepositoryNotFoundError):
        return InstallError(f"{what}: no such hub repository (or it is private: set HF_TOKEN)")
    if isinstance(e, errors.RevisionNotFoundError):
        return InstallError(f"{what}: no such revision on the hub")
    if isinstance(e, errors.EntryNotFoundError):
        return InstallError(f"{what}: no such file in the repository (HTTP 404)")
    if isinstance(e, errors.LocalEntryNotFoundError):
        return InstallError(
            f"{what}: not in the local cache and downloads are off (HF_HUB_OFFLINE or no network)"
        )
    first = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
    return InstallError(f"{what}: the hub refused ({first})")


def file_plan(
    repo: str, path: str, revision: str = "main", kind: Kind | None = None, name: str = ""
) -> RemoteFile:
    """A hub file: its commit, sha256 (the LFS etag) and size from the hub, or the cached copy when offline."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url, try_to_load_from_cache

    what = f"{repo}/{path}"
    target = name or path.rsplit("/", 1)[-1]
    if offline():
        cached = try_to_load_from_cache(repo, path, cache_dir=cache_dir(), revision=revision)
        if not isinstance(cached, str):
            raise InstallError(f"{what}: not in the local cache and downloads are off (HF_HUB_OFFLINE)")
        return RemoteFile(
            "", target, Path(cached).stat().st_size, "", kind, "hf", HubFile(repo, path, revision)
        )
    try:
        meta = get_hf_file_metadata(hf_hub_url(repo, path, revision=revision, endpoint=endpoint()))
    except Exception as e:  # huggingface_hub's errors (and httpx's), each mapped to one line
        raise _error(e, what) from None
    if not meta.commit_hash or not meta.etag:
        raise InstallError(f"{what}: the hub gave no commit or etag for this file")
    sha = meta.etag if re.fullmatch(r"[0-9a-f]{64}", meta.etag or "") else ""  # LFS files: the sha256
    url = hf_hub_url(repo, path, revision=meta.commit_hash, endpoint=endpoint())
    hub = HubFile(repo, path, revision, meta.commit_hash, meta.etag)
    return RemoteFile(url, target, meta.size, sha, kind, "hf", hub)


def auth_headers() -> dict[str, str]:
    """The hub's headers for a download: the user agent and, with HF_TOKEN or a saved login, the token."""
    from huggingface_hub.utils import build_hf_headers

    return {k: v for k, v in build_hf_headers().items() if k.lower() in ("authorization", "user-agent")}


def cached_file(hub: HubFile) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(
        hub.repo, hub.path, cache_dir=cache_dir(), revision=hub.commit or hub.revision
    )
    return Path(found) if isinstance(found, str) else None


def repo_folder(repo: str) -> Path:
    return cache_dir() / ("models--" + repo.replace("/", "--"))


def blob_part(hub: HubFile) -> Path:
    """Where a hub file's partial download lives: beside the cache's blobs, so placing it is a rename."""
    return repo_folder(hub.repo) / "blobs" / f"{hub.etag}.sdstudio.incomplete"


def put_in_cache(downloaded: Path, hub: HubFile) -> Path:
    """Move a verified download into the standard cache layout; returns the snapshot path."""
    folder = repo_folder(hub.repo)
    blob = folder / "blobs" / hub.etag
    snapshot = folder / "snapshots" / hub.commit / hub.path
    blob.parent.mkdir(parents=True, exist_ok=True)
    os.replace(downloaded, blob)
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    if snapshot.is_symlink() or snapshot.exists():
        snapshot.unlink()
    try:
        snapshot.symlink_to(os.path.relpath(blob, snapshot.parent))
    except OSError:  # no symlinks (Windows without developer mode): the cache holds the file itself
        os.replace(blob, snapshot)
    if hub.revision != hub.commit:
        ref = folder / "refs" / hub.revision
        ref.parent.mkdir(parents=True, exist_ok=True)
        ref.write_text(hub.commit, encoding="utf-8")
    return snapshot


SNAPSHOT_PATTERNS = ["*.json", "*.txt", "*.model", "*.safetensors"]


def snapshot(
    repo: str, revision: str, on_progress: Callable[[FileProgress], None] | None, control: Control
) -> Path:
    """A whole repository (a diffusers folder) into the cache; progress counts files; cancel between files."""
    from huggingface_hub import snapshot_download
    from tqdm.auto import tqdm

    class _Report(tqdm):  # huggingface_hub drives its bars with this class
        def __init__(self, *args: object, **kwargs: object):
            kwargs["file"] = io.StringIO()  # sdstudio shows progress itself
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            control.check()
            out = super().update(n)
            if on_progress is not None and self.total and str(self.desc).startswith("Fetching"):
                on_progress(FileProgress(repo, int(self.n), int(self.total)))
            return out

    try:
        return Path(
            snapshot_download(
                repo,
                revision=revision,
                cache_dir=cache_dir(),
                endpoint=endpoint(),
                allow_patterns=SNAPSHOT_PATTERNS,
                tqdm_class=_Report,
            )
        )
    except Stopped:
        raise
    except Exception as e:  # huggingface_hub's errors, mapped to one line
        raise _error(e, repo) from None
