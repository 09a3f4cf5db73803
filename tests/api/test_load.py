"""Waiting holds no server thread: with 64 txt2img requests waiting, /progress and /interrupt still answer
at once; a client that goes away cancels its job, waiting or running (Open WebUI never calls /interrupt)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from sdstudio.api.server import ApiServer
from sdstudio.core.engine import Engine
from sdstudio.core.gallery import GalleryStore
from sdstudio.core.jobs import JobCancelled, JobQueue
from sdstudio.core.models import ModelLibrary
from sdstudio.core.settings import Settings
from tests.api.conftest import LIMITS, free_port

WAITING = 64


@pytest.fixture
def idle_worker(tmp_path: Path, demo_home: Path):
    """A live server whose queue has no worker yet: every job submitted waits."""
    store = GalleryStore(tmp_path / "outputs", tmp_path / "index.sqlite3")
    library = ModelLibrary(Settings())
    queue = JobQueue(engine_factory=lambda: Engine(device="cpu", library=library), store=store)
    server = ApiServer(queue, library, port=free_port(), limits=LIMITS)
    server.start()
    yield server, queue, store
    server.stop()
    store.close()


async def _until(condition, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_64_waiting_requests_leave_progress_and_interrupt_free_and_leaving_cancels(idle_worker) -> None:
    server, queue, store = idle_worker
    body = {"width": 64, "height": 64, "steps": 1}

    async def scenario() -> list[float]:
        limits = httpx.Limits(max_connections=WAITING + 8)
        async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as clients:
            posts = [
                asyncio.create_task(clients.post("/sdapi/v1/txt2img", json=body | {"prompt": f"waiting {i}"}))
                for i in range(WAITING)
            ]
            await _until(lambda: len(queue.pending()) == WAITING)
            latencies = []
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as other:
                for path in ("progress", "interrupt", "progress", "options", "progress"):
                    started = time.perf_counter()
                    r = await (other.get if path != "interrupt" else other.post)(f"/sdapi/v1/{path}")
                    latencies.append(time.perf_counter() - started)
                    assert r.status_code == 200
                    if path == "progress":
                        assert r.json()["state"]["job_count"] == WAITING
            assert len(queue.pending()) == WAITING  # /interrupt touches no waiting job
            for post in posts:  # 64 clients give up: their connections close
                post.cancel()
            await asyncio.gather(*posts, return_exceptions=True)
        await _until(lambda: not queue.pending(), 30)
        return latencies

    latencies = asyncio.run(scenario())
    assert max(latencies) < 1.0, latencies
    thread, stop = queue.start_thread()
    try:
        r = httpx.post(f"{server.url}/sdapi/v1/txt2img", json=body | {"prompt": "after"}, timeout=120)
        assert r.status_code == 200 and store.count("waiting") == 0  # none of the 64 ran
    finally:
        stop.set()
        thread.join(10)


def test_a_client_leaving_cancels_its_running_job(idle_worker) -> None:
    server, queue, store = idle_worker
    finals = []
    queue.subscribe(lambda m: finals.append(m) if isinstance(m, JobCancelled) else None)
    thread, stop = queue.start_thread()
    slow = {"prompt": "left", "width": 128, "height": 128, "steps": 8, "batch_size": 4, "seed": 1}

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
            post = asyncio.create_task(client.post("/sdapi/v1/txt2img", json=slow))
            await _until(lambda: queue.last_progress is not None and queue.current is not None)
            post.cancel()
            await asyncio.gather(post, return_exceptions=True)
        await _until(lambda: queue.current is None and finals, 60)

    try:
        asyncio.run(scenario())
        assert finals[0].job.request.prompt == "left" and store.count("left") == 0
    finally:
        stop.set()
        thread.join(10)


def test_a_job_past_the_timeout_is_cancelled_with_504(tmp_path: Path, demo_home: Path) -> None:
    store = GalleryStore(tmp_path / "outputs", tmp_path / "index.sqlite3")
    library = ModelLibrary(Settings())
    queue = JobQueue(engine_factory=lambda: Engine(device="cpu", library=library), store=store)
    server = ApiServer(queue, library, port=free_port(), limits=LIMITS, job_timeout=1.0)
    server.start()
    try:  # no worker: the job waits past its timeout
        r = httpx.post(
            f"{server.url}/sdapi/v1/txt2img", json={"width": 64, "height": 64, "steps": 1}, timeout=30
        )
        assert r.status_code == 504 and r.json()["error"] == "Timeout" and "1 s" in r.json()["detail"]
        assert queue.pending() == []
    finally:
        server.stop()
        store.close()
