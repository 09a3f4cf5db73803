"""Carrying out an install plan: fetch (resumable, verified), detect the kind, place atomically, record the hash."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from sdstudio.core.errors import ModelError
from sdstudio.core.install import civitai, hub, layout
from sdstudio.core.install.plan import FileProgress, Installed, InstallError, InstallPlan, RemoteFile
from sdstudio.core.install.transfer import Control, fetch
from sdstudio.core.models.detect import detect_kind, read_header
from sdstudio.core.models.entries import Kind
from sdstudio.core.models.hashing import HashCache
from sdstudio.core.models.scan import MODEL_SUFFIXES, layout_of
from sdstudio.core.settings import Settings

log = logging.getLogger(__name__)
MODES = ("copy", "move", "link")
Progress = Callable[[FileProgress], None]


def install(
    plan: InstallPlan,
    settings: Settings,
    *,
    control: Control | None = None,
    on_progress: Progress | None = None,
    mode: str = "copy",
    hashes: HashCache | None = None,
    save_settings: Callable[[], None] | None = None,
) -> Installed:
    """Put what the plan names into the library's folder for its kind. Nothing half-done is ever listed.
    `save_settings` keeps a model root an A1111/ComfyUI install adds (None: settings.save())."""
    control = control or Control()
    library = settings.library_path()
    hashes = hashes or HashCache()
    if plan.local is not None:
        return _install_local(plan, library, settings, mode, hashes, save_settings)
    layout.prepare(library)
    if plan.snapshot:
        return _install_snapshot(plan, library, control, on_progress)
    # 1. room for all of it, before any byte
    if (total := plan.total_size) is not None:
        layout.check_space(layout.downloads_folder(library), total)
    placed: list[Path] = []
    main_sha, verified, notes = "", True, []
    for i, remote in enumerate(plan.files, 1):
        report = _numbered(on_progress, i, len(plan.files))
        path, sha, kind = _install_file(remote, plan.kind, library, settings.civitai_api_key, control, report)
        hashes.record(path, sha)
        placed.append(path)
        if i == 1:
            main_sha, main_kind = sha, kind
        verified = verified and bool(remote.sha256)
    # 2. Civitai's description beside the model
    if plan.sidecars is not None:
        notes += civitai.write_sidecars(placed[0], plan.sidecars)
    if not verified:
        notes.append("no published hash to check against (pass --sha256 to verify)")
    return Installed(tuple(placed), main_kind, main_sha, verified, tuple(notes))


def _numbered(on_progress: Progress | None, index: int, count: int) -> Progress | None:
    if on_progress is None:
        return None
    return lambda p: on_progress(FileProgress(p.name, p.done, p.total, p.speed, p.eta, index, count))


def _headers(remote: RemoteFile, settings_key: str) -> tuple[dict[str, str], str]:
    if remote.auth == "hf":
        return hub.auth_headers(), hub.GATED_HINT
    if remote.auth == "civitai":
        key = civitai.api_key(settings_key)
        return ({"Authorization": f"Bearer {key}"} if key else {}), civitai.AUTH_HINT
    return {}, ""


def _install_file(
    remote: RemoteFile,
    kind: Kind | None,
    library: Path,
    civitai_key: str,
    control: Control,
    on_progress: Progress | None,
) -> tuple[Path, str, Kind]:
    """One file: fetched (or found in the hub cache), verified, its kind detected, then placed."""
    name = layout.safe_name(remote.filename) if remote.filename else ""
    # 1. a hub file already in the cache is not fetched again
    cached = hub.cached_file(remote.hub) if remote.hub is not None else None
    if cached is not None:
        sha = _sha256(cached)
        if remote.sha256 and sha != remote.sha256:
            raise InstallError(
                f"{name}: the cached copy does not match the hub's sha256; delete it and retry"
            )
        return _place_link(cached, name, kind or remote.kind, library, sha)
    if not remote.url:
        raise InstallError(f"{name}: nothing to download from")
    # 2. fetch into a partial file the scanner never sees
    part = partial_path(remote, library)
    if name:
        _refuse_existing(library, name, kind or remote.kind)
    headers, hint = _headers(remote, civitai_key)
    got = fetch(
        remote.url,
        part,
        headers=headers,
        size=remote.size,
        sha256=remote.sha256,
        control=control,
        on_progress=on_progress,
        name=name or remote.url.rsplit("/", 1)[-1],
        auth_hint=hint,
    )
    name = name or layout.safe_name(got.filename or "download")
    # 3. the kind from the file itself (unless the user or the source said), then the move into place
    if remote.hub is not None:
        in_cache = hub.put_in_cache(got.path, remote.hub)
        return _place_link(in_cache, name, kind or remote.kind, library, got.sha256)
    try:
        name = _with_model_suffix(got.path, name)
        found = kind or remote.kind or _detect(got.path, name)
        dest = _destination(library, name, found)
    except ModelError:
        got.path.unlink(missing_ok=True)
        raise
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(got.path, dest)
    return dest, got.sha256, found


def partial_path(remote: RemoteFile, library: Path) -> Path:
    """Where a file's download grows until it is verified (the hub's beside its cache blobs)."""
    if remote.hub is not None and remote.hub.etag:
        return hub.blob_part(remote.hub)
    return layout.downloads_folder(library) / f"{hashlib.sha1(remote.url.encode()).hexdigest()[:16]}.part"


def _with_model_suffix(path: Path, name: str) -> str:
    if Path(name).suffix.lower() in MODEL_SUFFIXES:
        return name
    try:
        read_header(path)
    except ModelError:
        raise InstallError(
            f"{name}: not a model file (no .safetensors/.ckpt/.pt/.pth/.bin name and no safetensors header); "
            "the download was deleted"
        ) from None
    return name + ".safetensors"


def _detect(path: Path, name: str) -> Kind:
    found, _family = detect_kind(path, Path(name).suffix)
    if found is None:
        raise InstallError(
            f"{name}: cannot tell what kind of model this is from its header; pass --kind "
            f"({', '.join(k.value for k in Kind)})"
        )
    return found


def _refuse_existing(library: Path, name: str, kind: Kind | None) -> None:
    kinds = [kind] if kind is not None else list(layout.KIND_FOLDERS)
    for k in kinds:
        target = layout.kind_folder(library, k) / name
        if target.exists() or target.is_symlink():
            raise InstallError(f"{target} already exists; remove it or choose another --name")


def _destination(library: Path, name: str, kind: Kind) -> Path:
    dest = layout.kind_folder(library, kind) / name
    if dest.exists() or dest.is_symlink():
        raise InstallError(f"{dest} already exists; remove it or choose another --name")
    return dest


def _place_link(
    source: Path, name: str, kind: Kind | None, library: Path, sha: str
) -> tuple[Path, str, Kind]:
    """A hub file stays in the cache; the library holds a link to it (a copy where links are impossible)."""
    found = kind or _detect(source, name)
    dest = layout.kind_folder(library, found) / name
    if dest.is_symlink() and dest.resolve() == source.resolve():
        return dest, sha, found  # already installed
    _destination(library, name, found)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _link_or_copy(source, dest)
    return dest, sha, found


def _link_or_copy(source: Path, dest: Path) -> None:
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        tmp.symlink_to(source)
    except OSError:
        log.info("no symlinks here; copying %s into the library", source.name)
        shutil.copyfile(source, tmp)
    os.replace(tmp, dest)


def _sha256(path: Path) -> str:
    return HashCache().sha256(path)


def _install_snapshot(
    plan: InstallPlan, library: Path, control: Control, on_progress: Progress | None
) -> Installed:
    folder = hub.snapshot(plan.snapshot, "main", on_progress, control)
    if not (folder / "model_index.json").exists():
        raise InstallError(
            f"{plan.snapshot}: not a diffusers pipeline (no model_index.json); name one of its files"
        )
    name = layout.safe_name(plan.title)
    dest = layout.kind_folder(library, Kind.checkpoint) / name
    if not (dest.is_symlink() and dest.resolve() == folder.resolve()):
        _destination(library, name, Kind.checkpoint)
        _link_or_copy_tree(folder, dest)
    return Installed((dest,), Kind.checkpoint, "", True, ("kept in the hub cache; the library links to it",))


def _place(source: Path, dest: Path, mode: str) -> None:
    """A file or folder linked (copied where links fail), moved, or copied through a temporary name."""
    if mode == "link":
        (_link_or_copy_tree if source.is_dir() else _link_or_copy)(source, dest)
    elif mode == "move":
        shutil.move(str(source), str(dest))
    else:
        tmp = dest.with_name(f".{dest.name}.tmp")
        if source.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(source, tmp)
        else:
            shutil.copyfile(source, tmp)
        os.replace(tmp, dest)


def _link_or_copy_tree(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        dest.symlink_to(source, target_is_directory=True)
    except OSError:
        shutil.copytree(source, dest)


def _install_local(
    plan: InstallPlan,
    library: Path,
    settings: Settings,
    mode: str,
    hashes: HashCache,
    save_settings: Callable[[], None] | None = None,
) -> Installed:
    """A file or folder on disk: copied, moved or linked in; A1111/ComfyUI installs are used in place."""
    from sdstudio.core.models.library import ModelLibrary

    source = plan.local
    assert source is not None
    if mode not in MODES:
        raise InstallError(f"unknown mode {mode!r} (copy, move or link)")
    if source.is_dir() and layout_of(source) != "folder":
        count = ModelLibrary(settings, save_settings=save_settings).add_root(source)
        return Installed(
            (source,),
            Kind.checkpoint,
            notes=(f"{layout_of(source)} install used in place ({count} checkpoints)",),
        )
    layout.prepare(library)
    if source.is_dir():
        if not (source / "model_index.json").exists():
            raise InstallError(
                f"{source}: not a diffusers model folder (no model_index.json) nor an A1111/ComfyUI install"
            )
        kind, name = plan.kind or Kind.checkpoint, layout.safe_name(plan.title)
        dest = _destination(library, name, kind)
        _place(source, dest, mode)
        return Installed((dest,), kind)
    name = layout.safe_name(plan.title if Path(plan.title).suffix else plan.title + source.suffix)
    if Path(name).suffix.lower() not in MODEL_SUFFIXES:
        raise InstallError(f"{source}: not a model file (expected .safetensors, .ckpt, .pt, .pth or .bin)")
    kind = plan.kind or _detect(source, name)
    dest = _destination(library, name, kind)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _place(source, dest, mode)
    sha = hashes.sha256(dest)
    return Installed((dest,), kind, sha)
