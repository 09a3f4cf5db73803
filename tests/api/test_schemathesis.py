"""Property-based run over /openapi.json: whatever schemathesis sends, no endpoint answers 5xx, and every
answer (errors included, in A1111's shape) matches the documented schema, status code and content type."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sdstudio.api.app import create_app
from sdstudio.core.engine import Engine
from sdstudio.core.gallery import GalleryStore
from sdstudio.core.jobs import JobQueue
from sdstudio.core.models import ModelLibrary
from sdstudio.core.settings import Settings
from tests.api.conftest import LIMITS

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


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
    hosts = ("localhost", "testserver", "127.0.0.1")  # the test client's Host names
    yield create_app(queue, library, limits=LIMITS, job_timeout=60, allowed_hosts=hosts)
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
            case.call_and_validate(checks=CHECKS)

        check()
        checked.append(operation.path)
    assert "/sdapi/v1/txt2img" in checked and "/sdapi/v1/img2img" in checked and len(checked) >= 20
