"""The shared job queue runs real jobs on the demo model, one at a time, with typed messages."""

from __future__ import annotations

import threading

import pytest

from sdstudio.core.engine import Engine
from sdstudio.core.jobs import (
    JobCancelled,
    JobFailed,
    JobFinished,
    JobProgress,
    JobQueue,
    JobStarted,
    QueueChanged,
)
from sdstudio.core.models import ModelLibrary
from sdstudio.core.request import Request, RequestError
from sdstudio.core.settings import Settings


def _req(**kw) -> Request:
    return Request(**({"prompt": "q", "steps": 3, "width": 64, "height": 64, "seed": 1} | kw))


@pytest.fixture
def queue(demo_home) -> JobQueue:
    return JobQueue(engine_factory=lambda: Engine(ModelLibrary(Settings.load()), device="cpu"))


def test_jobs_run_in_order_with_typed_messages(queue: JobQueue) -> None:
    messages = []
    queue.subscribe(messages.append)
    a, b = queue.submit(_req(prompt="first")), queue.submit(_req(prompt="second"))
    assert [j.id for j in queue.pending()] == [a.id, b.id]
    queue.run_pending()
    kinds = [(type(m).__name__, m.job.id) for m in messages if not isinstance(m, QueueChanged)]
    assert kinds[:2] == [("JobQueued", a.id), ("JobQueued", b.id)]
    run = [k for k in kinds[2:]]
    assert run == [("JobStarted", a.id)] + [("JobProgress", a.id)] * 3 + [
        ("JobFinished", a.id),
        ("JobStarted", b.id),
    ] + [("JobProgress", b.id)] * 3 + [("JobFinished", b.id)]
    final = queue.wait(b, timeout=1)
    assert isinstance(final, JobFinished) and final.result.images[0].request.prompt == "second"
    assert isinstance(messages[-1], QueueChanged) and messages[-1].jobs == ()


def test_invalid_request_is_refused_at_submit(queue: JobQueue) -> None:
    with pytest.raises(RequestError, match="width"):
        queue.submit(_req(width=65))
    assert queue.pending() == []


def test_queued_job_can_be_removed(queue: JobQueue) -> None:
    a, b = queue.submit(_req()), queue.submit(_req())
    assert queue.remove(b.id) and not queue.remove(b.id)
    queue.run_pending()
    assert isinstance(queue.wait(a, 1), JobFinished) and isinstance(queue.wait(b, 1), JobCancelled)


def test_failed_job_reports_and_queue_goes_on(queue: JobQueue, tmp_path) -> None:
    bad = queue.submit(_req(model=str(tmp_path / "missing")))
    good = queue.submit(_req())
    queue.run_pending()
    failed = queue.wait(bad, 1)
    assert isinstance(failed, JobFailed) and "not found" in failed.message
    assert isinstance(queue.wait(good, 1), JobFinished)


def test_cancel_running_job_on_worker_thread(queue: JobQueue) -> None:
    started = threading.Event()

    def listen(m) -> None:
        if isinstance(m, JobProgress) and m.progress.step == 1:
            started.set()

    queue.subscribe(listen)
    thread, stop = queue.start_thread()
    try:
        job = queue.submit(_req(steps=50))
        assert started.wait(60)
        assert queue.current is job and queue.last_progress is not None
        assert queue.cancel()
        assert isinstance(queue.wait(job, 30), JobCancelled)
        after = queue.submit(_req())
        assert isinstance(queue.wait(after, 60), JobFinished)
    finally:
        stop.set()
        thread.join(5)


class _Store:
    def __init__(self) -> None:
        self.results = []

    def add(self, result):
        self.results.append(result)
        return [f"record-{len(self.results)}"]


def test_results_are_saved_to_the_store(demo_home) -> None:
    store = _Store()
    queue = JobQueue(engine_factory=lambda: Engine(ModelLibrary(Settings.load()), device="cpu"), store=store)
    job = queue.submit(_req())
    seen = []
    queue.subscribe(seen.append)
    queue.run_pending()
    final = queue.wait(job, 1)
    assert final.records == ("record-1",) and store.results[0] is final.result
    assert any(isinstance(m, JobStarted) for m in seen)
