"""sha256 of model files, computed once and cached by (path, size, mtime)."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

from sdstudio.core import paths

CHUNK = 4 * 2**20


class HashCache:
    """A JSON cache under the data folder: a 7 GB checkpoint is hashed only once."""

    def __init__(self, path: Path | None = None):
        self.path = path or paths.data_dir() / "cache" / "hashes.json"
        self._lock = threading.Lock()
        self._data: dict[str, dict] | None = None
        self.computed = 0  # files actually read (for tests and logs)

    def _load(self) -> dict[str, dict]:
        if self._data is None:
            try:
                self._data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self._data = {}
        return self._data

    def cached(self, file: Path) -> str | None:
        st = file.stat()
        with self._lock:
            hit = self._load().get(str(file.resolve()))
        if hit and hit.get("size") == st.st_size and hit.get("mtime") == st.st_mtime_ns:
            return hit["sha256"]
        return None

    def sha256(self, file: Path) -> str:
        file = Path(file)
        if (hit := self.cached(file)) is not None:
            return hit
        st = file.stat()
        digest = hashlib.sha256()
        with open(file, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
        value = digest.hexdigest()
        self.computed += 1
        with self._lock:
            self._load()[str(file.resolve())] = {"size": st.st_size, "mtime": st.st_mtime_ns, "sha256": value}
            self._save()
        return value

    def record(self, file: Path, sha256: str) -> None:
        """Remember a hash computed elsewhere (a download hashes as it streams), keyed like sha256()."""
        st = Path(file).stat()
        with self._lock:
            self._load()[str(Path(file).resolve())] = {
                "size": st.st_size,
                "mtime": st.st_mtime_ns,
                "sha256": sha256,
            }
            self._save()

    def _save(self) -> None:
        from sdstudio.core.metadata_io import atomic_write

        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, json.dumps(self._data).encode("utf-8"))


def legacy_hash(file: Path) -> str:
    """A1111's old short model hash (the ControlNet extension's `name [hash]`): the first 8 hex digits of the
    sha256 of the 64 KiB at offset 1 MiB (of nothing, for smaller files)."""
    with open(file, "rb") as f:
        f.seek(0x100000)
        return hashlib.sha256(f.read(0x10000)).hexdigest()[:8]
