"""The composition root builds every service once from the paths it is given."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdstudio.core.errors import EngineError
from sdstudio.core.jobs import JobFailed, JobQueue
from sdstudio.core.request import Request
from sdstudio.core.root import StudioPaths, build_services
from sdstudio.core.settings import Settings


def test_services_are_built_once_from_the_given_settings_file(tmp_path: Path) -> None:
    paths = StudioPaths.under(tmp_path / "elsewhere")
    settings_file = paths.settings_file
    Settings(outputs_dir=str(tmp_path / "pictures"), device="cpu", vae_tiling=True).save(settings_file)
    services = build_services(paths)
    try:
        assert services.library.settings is services.settings  # one Settings, shared
        assert services.store is not None and services.store.root == tmp_path / "pictures"
        assert services.store.index_path == paths.gallery_index
        engine = services.queue.engine  # the queue's factory: the settings' device preferences
        assert engine.library is services.library and engine.device == "cpu" and engine.vae_tiling
        services.settings.default_model = "mine"
        services.save_settings()
        assert Settings.load(settings_file).default_model == "mine"
    finally:
        services.close()


def test_an_unopenable_store_is_reported_for_the_window_and_raised_elsewhere(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    paths = StudioPaths.under(tmp_path)
    Settings(outputs_dir=str(blocker / "pictures")).save(paths.settings_file)
    services = build_services(paths, store_optional=True)
    assert services.store is None and services.store_error
    with pytest.raises(OSError):
        build_services(paths)


def test_a_queue_without_an_engine_factory_fails_its_jobs_clearly() -> None:
    queue = JobQueue()
    with pytest.raises(EngineError, match="without an engine"):
        _ = queue.engine
    thread, stop = queue.start_thread()
    try:
        final = queue.wait(queue.submit(Request(prompt="x", steps=1, width=64, height=64)), 10)
    finally:
        stop.set()
        thread.join(5)
    assert isinstance(final, JobFailed) and "without an engine" in final.message
