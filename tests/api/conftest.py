"""A live API server on 127.0.0.1 (a free port) over a real queue and engine on the demo model."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sdstudio.api.convert import Limits
from sdstudio.api.server import ApiServer
from sdstudio.core.engine import Engine
from sdstudio.core.gallery import GalleryStore
from sdstudio.core.jobs import JobQueue
from sdstudio.core.models import ModelLibrary
from sdstudio.core.settings import Settings

LIMITS = Limits(
    max_body_bytes=2 * 2**20,
    max_image_pixels=512 * 512,
    max_output_pixels=128 * 128,
    max_steps=8,
    max_images=4,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Live:
    server: ApiServer
    queue: JobQueue
    store: GalleryStore
    port: int
    auth: str | None
    library: ModelLibrary

    @property
    def url(self) -> str:
        return self.server.url


def _live(tmp_path: Path, auth: str | None = None) -> Any:
    store = GalleryStore(tmp_path / "outputs", tmp_path / "index.sqlite3")
    library = ModelLibrary(Settings())
    queue = JobQueue(engine_factory=lambda: Engine(library, device="cpu"), store=store)
    thread, stop = queue.start_thread()
    port = free_port()
    server = ApiServer(queue, library, port=port, auth=auth, limits=LIMITS)
    server.start()
    return Live(server, queue, store, port, auth, library), (thread, stop)


@pytest.fixture
def live(tmp_path: Path, demo_home: Path) -> Live:
    srv, (thread, stop) = _live(tmp_path)
    yield srv
    srv.server.stop()
    stop.set()
    thread.join(10)
    srv.store.close()


@pytest.fixture
def live_auth(tmp_path: Path, demo_home: Path) -> Live:
    srv, (thread, stop) = _live(tmp_path, auth="artist:s3cret")
    yield srv
    srv.server.stop()
    stop.set()
    thread.join(10)
    srv.store.close()
