"""The model library: demo models, configured roots scanned in place, and references resolved to entries."""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sdstudio.core import demo
from sdstudio.core.errors import ModelError
from sdstudio.core.models.entries import Family, Kind, ModelEntry, Source
from sdstudio.core.models.hashing import HashCache
from sdstudio.core.models.scan import LAYOUTS, file_entry, layout_of, scan_root
from sdstudio.core.settings import Settings

if TYPE_CHECKING:
    from sdstudio.core.lora.catalog import LoraCatalog

log = logging.getLogger(__name__)
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def demo_entries() -> list[ModelEntry]:
    return [
        ModelEntry(
            demo.DEMO_NAME, Kind.checkpoint, Family.sd1, Source.demo, demo.DEMO_ID, note=demo.DEMO_NOTE
        ),
        ModelEntry(
            demo.DEMO_INPAINT_NAME,
            Kind.checkpoint,
            Family.sd1_inpaint,
            Source.demo,
            demo.DEMO_INPAINT_ID,
            note=demo.DEMO_NOTE,
        ),
    ]


class ModelLibrary:
    """Every model the user has, where it is. Scans are cached until refresh()."""

    def __init__(
        self,
        settings: Settings,
        hashes: HashCache | None = None,
        *,
        save_settings: Callable[[], None] | None = None,
    ):
        """save_settings: how changed settings are kept (the composition root's state); None: settings.save()."""
        self.settings = settings
        self.hashes = hashes or HashCache()
        self._save_settings = save_settings or settings.save
        self._entries: list[ModelEntry] | None = None
        self._loras: LoraCatalog | None = None
        self._lock = threading.Lock()

    def save_settings(self) -> None:
        """Keep the settings this library changed (model roots, VAE per model) where they came from."""
        self._save_settings()

    def refresh(self) -> None:
        with self._lock:
            self._entries = None
        if self._loras is not None:
            self._loras.refresh()

    @property
    def loras(self) -> LoraCatalog:
        """The LoRA / LyCORIS files of every root and of the library's own models/Lora folder."""
        if self._loras is None:
            from sdstudio.core.lora.catalog import LoraCatalog, lora_roots

            def roots() -> list[tuple[Path, Path]]:
                own = self.settings.library_path() / "models" / "Lora"
                return lora_roots(self.kind_folders(Kind.lora) + [own])

            self._loras = LoraCatalog(roots)
        return self._loras

    def kind_folders(self, kind: Kind) -> list[Path]:
        """The folders of the installed-models folder and the A1111 / ComfyUI roots that hold models of `kind`."""
        out = []
        for root_path in self.roots():
            root_path = root_path.expanduser()
            for sub, k in LAYOUTS.get(layout_of(root_path), []):
                if k is kind and (root_path / sub).is_dir():
                    out.append((root_path / sub).resolve())
        return out

    def entries(self, kind: Kind | None = Kind.checkpoint) -> list[ModelEntry]:
        """Entries of one kind (None: all); demo models first. Hashes filled where already known."""
        with self._lock:
            if self._entries is None:
                found = demo_entries()
                for root in self.roots():
                    found.extend(scan_root(root))
                self._entries = [self._with_cached_hash(e) for e in found]
            items = list(self._entries)
        return [e for e in items if kind is None or e.kind is kind]

    def roots(self) -> list[Path]:
        """The installed-models folder (when it exists) and then the configured roots, each once."""
        library = self.settings.library_path()
        roots = [library] if library.is_dir() else []
        for root in self.settings.model_roots:
            if Path(root) not in roots:
                roots.append(Path(root))
        return roots

    def embedding_files(self) -> dict[str, Path]:
        """Textual-inversion embeddings by name (the name written in a prompt), their files."""
        return {e.name: Path(e.location) for e in self.entries(Kind.embedding)}

    def upscaler_files(self) -> list[Path]:
        """Upscaler model files (ESRGAN, Real-ESRGAN, SwinIR, DAT, ...) from the roots' upscaler folders."""
        return [Path(e.location) for e in self.entries(Kind.upscaler)]

    def _with_cached_hash(self, entry: ModelEntry) -> ModelEntry:
        if entry.source is Source.file and not entry.sha256:
            try:
                if sha := self.hashes.cached(Path(entry.location)):
                    return dataclasses.replace(entry, sha256=sha)
            except OSError:
                pass
        return entry

    def with_hash(self, entry: ModelEntry) -> ModelEntry:
        """The entry with its sha256 computed (files only; cached by path, size and mtime)."""
        if entry.source is not Source.file or entry.sha256:
            return entry
        try:
            return dataclasses.replace(entry, sha256=self.hashes.sha256(Path(entry.location)))
        except OSError as e:
            raise ModelError(f"{entry.location}: cannot read ({e.strerror or e})") from None

    def add_root(self, root: Path) -> int:
        """Add a model root to the settings (saved); returns how many checkpoints it holds."""
        root = Path(root).expanduser().resolve()
        if not root.is_dir():
            raise ModelError(f"{root}: not a folder")
        if str(root) not in self.settings.model_roots:
            self.settings.model_roots.append(str(root))
            self.save_settings()
        self.refresh()
        return sum(1 for e in self.entries() if e.root == str(root))

    def resolve(self, ref: str, known_only: bool = False) -> ModelEntry:
        """An entry for a reference: "" (the default), a name, "name [hash]", a hash, a path or a hub repo id.

        known_only: only entries already in the library (the HTTP API: clients never name paths or hub ids).
        """
        ref = (ref or "").strip() or self.settings.default_model.strip() or demo.DEMO_ID
        for e in demo_entries():
            if ref in (e.name, e.location):
                return e
        title = re.match(r"^(.*?)\s*\[([0-9a-fA-F]{8,64})\]$", ref)
        name, want_hash = (title.group(1), title.group(2).lower()) if title else (ref, "")
        for e in self.entries():
            if want_hash and e.sha256 and not e.sha256.startswith(want_hash):
                continue
            if name in (e.name, Path(e.location).name, e.location, e.title):
                return e
        if re.fullmatch(r"[0-9a-fA-F]{10}|[0-9a-fA-F]{64}", ref):
            for e in self.entries():
                if e.sha256.startswith(ref.lower()):
                    return e
        if known_only:
            known = ", ".join(e.title for e in self.entries()[:12])
            raise ModelError(f"model not found: {ref} (not in the model library; known: {known})")
        path = Path(ref).expanduser()
        if path.is_dir():
            return ModelEntry(path.name, Kind.checkpoint, Family.unknown, Source.folder, str(path.resolve()))
        if path.is_file():
            entry = file_entry(path.resolve())
            if entry.note and entry.family is Family.unknown:
                raise ModelError(entry.note if str(path) in entry.note else f"{path}: {entry.note}")
            return entry
        if _REPO_ID.match(ref) and not path.suffix and not ref.startswith((".", "/", "~")):
            return ModelEntry(ref.split("/")[-1], Kind.checkpoint, Family.unknown, Source.hub, ref)
        known = ", ".join(e.name for e in self.entries()[:12])
        raise ModelError(
            f"model not found: {ref} (expected a model name, a file or folder, or a hub id; known: {known})"
        )
