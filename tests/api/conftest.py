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


def webuiapi_and_cli(port: int, prompt: str, unit: Any, ref: str, out: Path, home: Path) -> tuple[Any, Any]:
    """The same job twice: webuiapi's txt2img with one ControlNetUnit, and `sdstudio generate --ref REF`
    (2 steps, CFG 7, Euler, 64x64, seed 3); returns (the API's picture, the CLI's picture, loaded)."""
    import webuiapi
    from PIL import Image

    from tests.cli.test_generate import _run

    res = webuiapi.WebUIApi(host="127.0.0.1", port=port).txt2img(
        prompt=prompt, seed=3, width=64, height=64, steps=2, cfg_scale=7, sampler_name="Euler",
        controlnet_units=[unit], alwayson_scripts={},  # webuiapi mutates its shared default dict otherwise
    )  # fmt: skip
    args = (
        "--steps",
        "2",
        "--cfg",
        "7",
        "--sampler",
        "Euler",
        "--width",
        "64",
        "--height",
        "64",
        "--seed",
        "3",
    )
    done = _run("generate", prompt, "--ref", ref, *args, "-o", str(out), home=home)
    assert done.returncode == 0, done.stderr
    with Image.open(out) as cli:
        return res.images[0], cli.copy()  # copy() keeps the PNG's text chunks (info)
