"""The composition root: the one place that builds Settings → ModelLibrary → GalleryStore → Engine → JobQueue.

The window (gui/app.py), `serve`, `generate` and the other commands call `build_services` (or, for a single
engine, `engine_for`); no constructor below loads settings or builds a default collaborator itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sdstudio.core.persistence import StudioPaths, StudioState, open_state
from sdstudio.core.settings import Settings

if TYPE_CHECKING:
    from sdstudio.core.engine import Engine
    from sdstudio.core.gallery import GalleryStore
    from sdstudio.core.jobs import JobQueue
    from sdstudio.core.models import ModelLibrary

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What the studio runs on. The engine is made on the worker thread at the first job (torch loads there)."""

    state: StudioState  # the settings and the autosaved studio (core/persistence.py)
    library: ModelLibrary
    store: GalleryStore | None  # None: the store could not open (store_error says why); results are not kept
    queue: JobQueue
    store_error: str = ""
    device: str | None = None  # overrides the settings' device preference

    @property
    def settings(self) -> Settings:
        return self.state.settings

    def make_engine(self) -> Engine:
        return engine_for(self.library, self.device)

    def save_settings(self) -> None:
        self.state.save_settings()

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def load_settings(studio_paths: StudioPaths | None = None) -> Settings:
    return Settings.load((studio_paths or StudioPaths.default()).settings_file)


def open_library(settings: Settings, state: StudioState | None = None) -> ModelLibrary:
    """The library over these settings; with a state, settings it changes (roots, VAEs) are saved there."""
    from sdstudio.core.models import ModelLibrary

    return ModelLibrary(settings, save_settings=state.save_settings if state is not None else None)


def engine_for(library: ModelLibrary, device: str | None = None) -> Engine:
    """An engine with the library's settings' device preferences (`device` overrides them)."""
    from sdstudio.core.engine import Engine

    return Engine.from_settings(library, device)


def build_services(
    studio_paths: StudioPaths | None = None,
    *,
    settings: Settings | None = None,
    device: str | None = None,
    store_optional: bool = False,
) -> Services:
    """Settings and autosaved state, library, store and queue, built once. `store_optional`: a store that cannot open is reported
    in `store_error` (the window still runs) instead of raising OSError/sqlite3.Error."""
    from sdstudio.core.gallery import GalleryStore
    from sdstudio.core.jobs import JobQueue

    # 1. paths, settings and the autosaved studio
    studio_paths = studio_paths or StudioPaths.default()
    state = open_state(studio_paths, settings)
    settings = state.settings
    # 2. the library of models, LoRAs, embeddings, upscalers
    library = open_library(settings, state)
    # 3. the gallery store
    store, store_error = None, ""
    try:
        store = GalleryStore(studio_paths.outputs or settings.outputs_path(), studio_paths.gallery_index)
    except Exception as e:
        if not store_optional:
            raise
        log.warning("gallery store unavailable: %s", e)
        store_error = str(e)
    # 4. the queue, whose worker makes the engine at the first job
    queue = JobQueue(engine_factory=lambda: engine_for(library, device), store=store)
    return Services(state, library, store, queue, store_error, device)
