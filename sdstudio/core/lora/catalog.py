"""The LoRA library: files in A1111 `models/Lora` + `models/LyCORIS`, ComfyUI `models/loras` and sdstudio's
own folder (subfolders too), with their alias, family, preview picture, trigger words and hashes."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sdstudio.core import paths
from sdstudio.core.errors import ModelError
from sdstudio.core.lora.files import family_from_header
from sdstudio.core.models.detect import read_header
from sdstudio.core.models.entries import Family

log = logging.getLogger(__name__)
SUFFIXES = (".safetensors", ".pt", ".ckpt", ".bin")
PREVIEWS = (
    ".preview.png",
    ".preview.jpg",
    ".preview.jpeg",
    ".preview.webp",
    ".png",
    ".jpg",
    ".jpeg",
    ".webp",
)
_SD_VERSIONS = {"sd1": Family.sd1, "sd2": Family.sd2, "sdxl": Family.sdxl}


def api_metadata(meta: dict[str, str]) -> dict[str, object]:
    """The training metadata as A1111's API gives it: values that hold JSON objects decoded."""
    out: dict[str, object] = {}
    for key, value in meta.items():
        if value[:1] == "{":
            try:
                out[key] = json.loads(value)
                continue
            except ValueError:
                pass
        out[key] = value
    return out


@dataclass(frozen=True)
class LoraInfo:
    """One LoRA file as the picker, the API and the prompt resolver see it (from its header and sidecars)."""

    name: str  # the file name without extension: what <lora:name:1> writes
    path: Path
    folder: str = ""  # subfolder below its LoRA folder ("" at the top)
    alias: str = ""  # A1111's alias: the metadata's ss_output_name, else the name
    family: Family = Family.unknown
    metadata: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    preview: Path | None = None
    trigger_words: tuple[str, ...] = ()
    preferred_weight: float = 1.0
    note: str = ""  # why the file cannot be used ("" when it reads)


def _sidecar_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _info(path: Path, folder: str) -> LoraInfo:
    """Header metadata, family and sidecars of one file; an unreadable file gets a note, never an exception."""
    meta: dict[str, str] = {}
    family, note = Family.unknown, ""
    if path.suffix.lower() == ".safetensors":
        try:
            header = read_header(path)
            meta = {str(k): str(v) for k, v in (header.get("__metadata__") or {}).items()}
            family = family_from_header(header)
        except ModelError as e:
            note = str(e)
    stem = path.with_suffix("")
    user = _sidecar_json(stem.with_name(stem.name + ".json"))  # A1111's user metadata editor
    civitai = _sidecar_json(stem.with_name(stem.name + ".civitai.info"))
    words = [w.strip() for w in str(user.get("activation text", "")).split(",") if w.strip()]
    if not words:
        words = [str(w).strip() for w in civitai.get("trainedWords") or [] if str(w).strip()]
    if family is Family.unknown:
        version = str(user.get("sd version", "")).lower()
        base = str(civitai.get("baseModel", "")).lower()
        family = _SD_VERSIONS.get(version) or (
            Family.sdxl if "xl" in base else Family.sd1 if base.startswith("sd 1") else Family.unknown
        )
    try:
        weight = float(user.get("preferred weight") or 0) or 1.0
    except (TypeError, ValueError):
        weight = 1.0
    preview = next((p for s in PREVIEWS if (p := stem.with_name(stem.name + s)).is_file()), None)
    alias = meta.get("ss_output_name", "").strip() or path.stem
    return LoraInfo(path.stem, path, folder, alias, family, meta, preview, tuple(words), weight, note)


class LoraCatalog:
    """LoRAs found below the folders `roots()` names; scanned once until refresh(), hashes cached on disk."""

    def __init__(self, roots: Callable[[], list[tuple[Path, Path]]], cache: Path | None = None):
        self._roots = roots  # (file, the LoRA folder it was found under) pairs
        self._cache_path = cache
        self._infos: list[LoraInfo] | None = None
        self._hashes: dict[str, dict] | None = None
        self._lock = threading.Lock()

    def refresh(self) -> None:
        with self._lock:
            self._infos = None

    def infos(self) -> list[LoraInfo]:
        """Every LoRA, by folder then name."""
        with self._lock:
            if self._infos is None:
                found = []
                for path, base in self._roots():
                    rel = path.parent.relative_to(base).as_posix() if base in path.parents else ""
                    found.append(_info(path, "" if rel == "." else rel))
                self._infos = sorted(found, key=lambda i: (i.folder.lower(), i.name.lower()))
            return list(self._infos)

    def find(self, name: str) -> LoraInfo:
        """The LoRA a tag names: file name, subfolder/name or alias (exact, then ignoring case)."""
        infos = self.infos()
        want = name.strip().replace("\\", "/")
        for fold in (lambda s: s, str.lower):
            for info in infos:
                keys = (info.name, f"{info.folder}/{info.name}" if info.folder else info.name, info.alias)
                if fold(want) in {fold(k) for k in keys}:
                    return info
        known = ", ".join(i.name for i in infos[:12]) or "none"
        raise ModelError(
            f"LoRA not found: {name} (looked in the A1111 models/Lora and models/LyCORIS, ComfyUI models/loras "
            f"and the library's models/Lora folders; known: {known})"
        )

    def hashes(self, info: LoraInfo) -> tuple[str, str]:
        """(sha256 of the file, A1111's AutoV3 hash: sha256 of the tensor data), cached by size and mtime."""
        st = info.path.stat()
        key = str(info.path.resolve())
        with self._lock:
            cache = self._load_cache()
            hit = cache.get(key)
            if hit and hit.get("size") == st.st_size and hit.get("mtime") == st.st_mtime_ns:
                return hit["sha256"], hit["autov3"]
        whole, tail = _digests(info.path)
        with self._lock:
            self._load_cache()[key] = {
                "size": st.st_size,
                "mtime": st.st_mtime_ns,
                "sha256": whole,
                "autov3": tail,
            }
            self._save_cache()
        return whole, tail

    def by_hash(self, short: str) -> LoraInfo | None:
        """The LoRA whose AutoV3 (A1111 infotext) or sha256 starts with `short`; None when none does."""
        short = short.strip().lower()
        if len(short) < 8:
            return None
        for info in self.infos():
            try:
                whole, tail = self.hashes(info)
            except OSError:
                continue
            if tail.startswith(short) or whole.startswith(short):
                return info
        return None

    def _load_cache(self) -> dict[str, dict]:
        if self._hashes is None:
            try:
                self._hashes = json.loads(self._path().read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self._hashes = {}
        return self._hashes

    def _path(self) -> Path:
        return self._cache_path or paths.data_dir() / "cache" / "lora-hashes.json"

    def _save_cache(self) -> None:
        from sdstudio.core.metadata_io import atomic_write

        self._path().parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self._path(), json.dumps(self._hashes).encode("utf-8"))


def _digests(path: Path) -> tuple[str, str]:
    """sha256 of the whole file and of what follows the safetensors header, in one read."""
    whole, tail = hashlib.sha256(), hashlib.sha256()
    with open(path, "rb") as f:
        head = f.read(8)
        whole.update(head)
        n = int.from_bytes(head, "little") if path.suffix.lower() == ".safetensors" and len(head) == 8 else -8
        header = f.read(n) if n > 0 else b""
        whole.update(header)
        if n < 0:
            tail.update(head)
        while chunk := f.read(4 * 2**20):
            whole.update(chunk)
            tail.update(chunk)
    return whole.hexdigest(), tail.hexdigest()


def lora_roots(folders: list[Path]) -> list[tuple[Path, Path]]:
    """LoRA files below each folder (recursively, each folder once), paired with that folder."""
    out: list[tuple[Path, Path]] = []
    for base in dict.fromkeys(f.resolve() for f in folders):
        if base.is_dir():
            out += [
                (p, base) for p in sorted(base.rglob("*")) if p.is_file() and p.suffix.lower() in SUFFIXES
            ]
    return out
