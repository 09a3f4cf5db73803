"""Property-based run over /openapi.json: whatever schemathesis sends, no endpoint answers 5xx."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from sdstudio.api.app import create_app
from sdstudio.core.engine import Engine
from sdstudio.core.gallery import GalleryStore
from sdstudio.core.jobs import JobQueue
from sdstudio.core.models import ModelLibrary
from sdstudio.core.settings import Settings
from tests.api.conftest import LIMITS


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, demo_home: Path):
    import os

    old = os.environ.get("SDSTUDIO_HOME")
    os.environ["SDSTUDIO_HOME"] = str(demo_home)
    tmp = tmp_path_factory.mktemp("schemathesis")
    store = GalleryStore(tmp / "out", tmp / "index.sqlite3")
    library = ModelLibrary(Settings())
    queue = JobQueue(engine_factory=lambda: Engine(library, device="cpu"), store=store)
    thread, stop = queue.start_thread()
    yield create_app(queue, library, limits=LIMITS, job_timeout=60)
    stop.set()
    thread.join(10)
    store.close()
    if old is not None:
        os.environ["SDSTUDIO_HOME"] = old


def test_no_endpoint_answers_5xx(app) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=10,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case) -> None:
            response = case.call()
            assert response.status_code < 500, (
                f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"
            )

        check()
        checked.append(operation.path)
    assert "/sdapi/v1/txt2img" in checked and "/sdapi/v1/img2img" in checked and len(checked) >= 20
