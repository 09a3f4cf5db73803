"""Waiting for a queued job without holding a thread: an asyncio future per API job, resolved from the
queue's worker thread; a client that goes away cancels its job."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from sdstudio.api.errors import ApiError
from sdstudio.core.jobs import (
    Final,
    JobCancelled,
    JobFailed,
    JobFinished,
    JobQueue,
    JobStarted,
    Message,
    Task,
)
from sdstudio.core.request import Request

POLL_S = 0.25  # how often a waiting request looks for its client having gone


class Disconnected(Exception):
    """The client went away; its job was cancelled."""


class Waiters:
    def __init__(self, queue: JobQueue, on_start: Any = None):
        self.queue = queue
        self._on_start = on_start
        self._futures: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[Final]]] = {}
        self._lock = threading.Lock()
        self.unsubscribe = queue.subscribe(self._on_message)

    def _on_message(self, message: Message) -> None:
        """On the worker thread: hand a final message to the loop that waits for it."""
        if isinstance(message, JobStarted) and self._on_start is not None:
            self._on_start(message.job)
        if not isinstance(message, (JobFinished, JobFailed, JobCancelled)):
            return
        with self._lock:
            entry = self._futures.pop(message.job.id, None)
        if entry is not None:
            loop, future = entry
            loop.call_soon_threadsafe(_resolve, future, message)

    async def run(
        self,
        request: Request,
        client: Any,
        *,
        save: bool = True,
        timeout: float | None = None,
        task: Task | None = None,
    ) -> Final:
        """Submit and wait; raises Disconnected (job cancelled) or ApiError 504 (job cancelled, too slow)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Final] = loop.create_future()
        job = self.queue.submit(request, source="api", task=task, save=save)
        with self._lock:
            self._futures[job.id] = (loop, future)
        early = self.queue.take(job)  # it may have ended before we listened
        if early is not None and not future.done():
            future.set_result(early)
        deadline = None if timeout is None else loop.time() + timeout
        try:
            while True:
                try:
                    final = await asyncio.wait_for(asyncio.shield(future), POLL_S)
                    self.queue.take(job)  # keep the queue's memory flat
                    return final
                except asyncio.TimeoutError:
                    pass
                if await client.is_disconnected():
                    self.queue.cancel(job.id)
                    raise Disconnected()
                if deadline is not None and loop.time() > deadline:
                    self.queue.cancel(job.id)
                    raise ApiError(
                        504, "Timeout", f"the job did not finish within {timeout:g} s; it was cancelled"
                    )
        finally:
            with self._lock:
                self._futures.pop(job.id, None)


def _resolve(future: asyncio.Future[Final], message: Final) -> None:
    if not future.done():
        future.set_result(message)
