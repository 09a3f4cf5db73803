"""What an install is made of: the files to fetch, where they go, and what came of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sdstudio.core.errors import ModelError
from sdstudio.core.jsontypes import JsonObject
from sdstudio.core.models.entries import Kind


class InstallError(ModelError):
    """An install was refused or failed; the message says why and what to do, and nothing was left behind."""


class Stopped(Exception):
    """A transfer stopped on request: paused (its partial file kept for a resume) or cancelled (removed)."""

    def __init__(self, paused: bool):
        super().__init__("paused" if paused else "cancelled")
        self.paused = paused


@dataclass(frozen=True)
class HubFile:
    """A file of a hub repository, placed into the standard huggingface_hub cache."""

    repo: str
    path: str
    revision: str = "main"
    commit: str = ""
    etag: str = ""  # the blob's name in the cache (the sha256 for LFS files)


@dataclass(frozen=True)
class RemoteFile:
    url: str
    filename: str  # the name in the library (may hold a subfolder: "taesd/config.json")
    size: int | None = None
    sha256: str = ""  # the hash the source publishes ("" = none)
    kind: Kind | None = None  # None: detected from the file's header
    auth: str = ""  # whose credentials the request carries: "hf", "civitai" or "" (never stored or logged)
    hub: HubFile | None = None
    approx_size: int | None = None  # what the source announces when it gives no exact size (Civitai's KB)

    @property
    def expected(self) -> int | None:
        """Bytes to plan disk space for."""
        return self.size if self.size is not None else self.approx_size


@dataclass(frozen=True)
class Sidecars:
    """Civitai's description of a model, written beside it as A1111's extensions expect."""

    info: JsonObject  # name.civitai.info: the model version as Civitai's API returns it
    user_meta: JsonObject  # name.json: A1111's extra-networks card (description, activation text, ...)
    preview_url: str = ""  # name.preview.png


@dataclass(frozen=True)
class InstallPlan:
    source: str  # what the user typed
    title: str
    files: tuple[RemoteFile, ...] = ()
    kind: Kind | None = None  # the user's --kind, over detection
    sidecars: Sidecars | None = None
    local: Path | None = None  # a local file or folder instead of files to fetch
    snapshot: str = ""  # a whole hub repository (a diffusers folder) by id

    @property
    def total_size(self) -> int | None:
        sizes = [f.expected for f in self.files]
        return None if not sizes or None in sizes else sum(s for s in sizes if s is not None)


@dataclass(frozen=True)
class FileProgress:
    """One file's transfer: bytes done of total, speed in bytes/s and seconds left (None: not known yet)."""

    name: str
    done: int
    total: int | None
    speed: float = 0.0
    eta: float | None = None
    index: int = 1  # this file's place in the plan, 1-based
    count: int = 1


@dataclass(frozen=True)
class Installed:
    """What an install put where."""

    paths: tuple[Path, ...]
    kind: Kind
    sha256: str = ""  # of the main file ("" for folders)
    verified: bool = False  # matched a hash the source published or the user gave
    notes: tuple[str, ...] = field(default_factory=tuple)
