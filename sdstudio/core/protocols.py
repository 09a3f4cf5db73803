"""The seams between the services as typing Protocols: what the queue, the API, the window and the extensions
need of the engine, the gallery store and the model library (the real classes satisfy them; mypy checks it)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sdstudio.core.request import Progress, Request, Result

if TYPE_CHECKING:
    from sdstudio.core.gallery.index import Record
    from sdstudio.core.lora.catalog import LoraCatalog
    from sdstudio.core.models.entries import Kind, ModelEntry
    from sdstudio.core.models.hashing import HashCache
    from sdstudio.core.settings import Settings

StepCallback = Callable[[Progress], None]


class Generator(Protocol):
    """Runs one request (the animator and the replay need no more of an engine)."""

    def run(
        self, request: Request, on_step: StepCallback | None = None, cancel: threading.Event | None = None
    ) -> Result: ...


class LibraryGenerator(Generator, Protocol):
    """An engine and the library it runs from (a grid checks its models before the first cell)."""

    @property
    def library(self) -> Library: ...


class EngineService(Generator, Protocol):
    """The engine as the job queue drives it."""

    on_download: StepCallback | None  # hub download progress, reported as the job's progress

    @property
    def model_name(self) -> str: ...

    @property
    def model_hash(self) -> str: ...

    def close(self) -> None: ...


class PictureStore(Protocol):
    """Where finished pictures are kept (the gallery store)."""

    root: Path

    def add(self, result: Result) -> list[Record]: ...

    def add_video(self, video: Path, project: Path) -> Record: ...

    def close(self) -> None: ...


class Library(Protocol):
    """The user's models, LoRAs, embeddings and upscalers, and the settings they come from."""

    settings: Settings
    hashes: HashCache

    @property
    def loras(self) -> LoraCatalog: ...

    def entries(self, kind: Kind | None = ...) -> list[ModelEntry]: ...

    def resolve(self, ref: str, known_only: bool = False) -> ModelEntry: ...

    def with_hash(self, entry: ModelEntry) -> ModelEntry: ...

    def embedding_files(self) -> dict[str, Path]: ...

    def kind_folders(self, kind: Kind) -> list[Path]: ...

    def upscaler_files(self) -> list[Path]: ...

    def add_root(self, root: Path) -> int: ...

    def save_settings(self) -> None: ...

    def refresh(self) -> None: ...
