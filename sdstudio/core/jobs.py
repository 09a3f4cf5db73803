"""The one job queue shared by the studio window and the HTTP API; progress as typed messages."""

from __future__ import annotations

import itertools
import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sdstudio.core.errors import Cancelled, CancelToken, EngineError, ErrorKind, JobError, SaveError, classify
from sdstudio.core.listeners import Listeners
from sdstudio.core.protocols import EngineService, PictureStore
from sdstudio.core.request import Progress, Request, Result

if TYPE_CHECKING:
    from PIL.Image import Image

    from sdstudio.core.gallery.index import Record

log = logging.getLogger(__name__)


# A job's work other than one generation (an animation): called on the worker with the engine, the step
# callback and the cancel event; returns the Result to report (its pictures, if any, go to the store).
Task = Callable[[EngineService, Callable[[Progress], None], threading.Event], Result]


@dataclass(eq=False)
class Job:
    id: int
    request: Request  # for a task: the request that describes it (its first frame)
    source: str = "gui"
    save: bool = True  # False (A1111's save_images=false): the pictures go back to the caller only
    cancel: CancelToken = field(default_factory=CancelToken, repr=False)
    task: Task | None = field(default=None, repr=False)


@dataclass(frozen=True)
class JobQueued:
    job: Job


@dataclass(frozen=True)
class JobStarted:
    job: Job


@dataclass(frozen=True)
class JobProgress:
    job: Job
    progress: Progress


@dataclass(frozen=True)
class JobFinished:
    job: Job
    result: Result
    records: tuple[Record, ...] = ()
    save_error: str | None = None  # the pictures are in `result`, but (some) could not be saved


@dataclass(frozen=True)
class JobFailed:
    job: Job
    error: JobError

    @property
    def message(self) -> str:
        return self.error.message

    @property
    def kind(self) -> ErrorKind:
        return self.error.kind


@dataclass(frozen=True)
class JobCancelled:
    job: Job
    partial: Result | None = None  # an interrupt's pictures decoded from the latents reached


@dataclass(frozen=True)
class QueueChanged:
    jobs: tuple[Job, ...]  # the running job first (if any), then the waiting ones


Message = JobQueued | JobStarted | JobProgress | JobFinished | JobFailed | JobCancelled | QueueChanged
Final = JobFinished | JobFailed | JobCancelled


KEPT_FINALS = 64  # finished jobs remembered for wait(); a waiter that took its own leaves no trace


class JobQueue:
    """Jobs run one at a time on the worker thread that calls run_forever; listeners hear every message there."""

    def __init__(
        self, engine_factory: Callable[[], EngineService] | None = None, store: PictureStore | None = None
    ):
        """`engine_factory` is called on the worker thread at the first job; without one, jobs fail."""
        self._engine_factory = engine_factory
        self._engine: EngineService | None = None
        self.store = store
        self._ids = itertools.count(1)
        self._pending: deque[Job] = deque()
        self._cond = threading.Condition()
        self._listeners: Listeners[Message] = Listeners("job")
        self._finals: OrderedDict[int, Final] = OrderedDict()
        self.current: Job | None = None
        self.last_progress: Progress | None = None
        self.last_preview: Image | None = (
            None  # the running job's latest preview (steps may come without one)
        )

    # -- submitting ------------------------------------------------------------------------------
    def submit(
        self, request: Request, source: str = "gui", task: Task | None = None, save: bool = True
    ) -> Job:
        """Validate and enqueue; RequestError goes to the caller and nothing is queued."""
        request.validate()
        with self._cond:
            job = Job(next(self._ids), request, source, save, task=task)
        self._emit(
            JobQueued(job)
        )  # announced before the worker can see it: "queued" always precedes "started"
        with self._cond:
            self._pending.append(job)
            self._cond.notify_all()
        self._emit_changed()
        return job

    def remove(self, job_id: int) -> bool:
        """Remove a waiting job; the running one is cancelled with cancel()."""
        with self._cond:
            job = next((j for j in self._pending if j.id == job_id), None)
            if job is None:
                return False
            self._pending.remove(job)
            self._remember(JobCancelled(job))
        self._emit(JobCancelled(job))
        self._emit_changed()
        return True

    def cancel(self, job_id: int | None = None, keep_partial: bool = False) -> bool:
        """Cancel the running job (or the given one, running or waiting); it stops within one step.
        keep_partial (A1111's interrupt): the running job ends with the pictures decoded so far."""
        with self._cond:
            current = self.current
        if job_id is None or (current is not None and current.id == job_id):
            if current is None:
                return False
            current.cancel.set(keep_partial)
            return True
        return self.remove(job_id)

    def cancel_all(self) -> None:
        for job in self.pending():
            self.remove(job.id)
        self.cancel()

    def pending(self) -> list[Job]:
        with self._cond:
            return list(self._pending)

    def jobs(self) -> tuple[Job, ...]:
        with self._cond:
            return ((self.current,) if self.current else ()) + tuple(self._pending)

    # -- listening -------------------------------------------------------------------------------
    def subscribe(self, listener: Callable[[Message], None]) -> Callable[[], None]:
        return self._listeners.add(listener)

    def _emit(self, message: Message) -> None:
        self._listeners.emit(message)

    def _emit_changed(self) -> None:
        self._emit(QueueChanged(self.jobs()))

    def wait(self, job: Job, timeout: float | None = None) -> Final | None:
        """Block until the job ends; its final message, or None on timeout."""
        with self._cond:
            self._cond.wait_for(lambda: job.id in self._finals, timeout)
            return self._finals.get(job.id)

    def take(self, job: Job) -> Final | None:
        """The job's final message if it has ended (forgotten then: memory stays flat), else None."""
        with self._cond:
            return self._finals.pop(job.id, None)

    def _remember(self, final: Final) -> None:
        """Keep a final message for wait(), at most KEPT_FINALS of them (caller holds the lock)."""
        self._finals[final.job.id] = final
        while len(self._finals) > KEPT_FINALS:
            self._finals.popitem(last=False)
        self._cond.notify_all()

    # -- the worker ------------------------------------------------------------------------------
    @property
    def engine(self) -> EngineService:
        """The engine, created on the worker thread at first use (torch loads there, not at start-up)."""
        if self._engine is None:
            if self._engine_factory is None:  # a queue built without one (views under test) runs no job
                raise EngineError("no engine: this queue was built without an engine factory")
            self._engine = self._engine_factory()
        return self._engine

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            with self._cond:
                self._cond.wait_for(lambda: self._pending or stop.is_set(), timeout=0.25)
                if stop.is_set() or not self._pending:
                    continue
                job = self._pending.popleft()
                self.current, self.last_progress, self.last_preview = job, None, None
            self._run(job)

    def run_pending(self) -> None:
        """Run every waiting job on the calling thread, then return (scripts and tests)."""
        while True:
            with self._cond:
                if not self._pending:
                    return
                job = self._pending.popleft()
                self.current, self.last_progress, self.last_preview = job, None, None
            self._run(job)

    def start_thread(self) -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        thread = threading.Thread(target=self.run_forever, args=(stop,), name="sdstudio-jobs", daemon=True)
        thread.start()
        return thread, stop

    def _run(self, job: Job) -> None:
        self._emit(JobStarted(job))
        self._emit_changed()
        final: Final
        try:
            engine = self.engine
            if hasattr(engine, "on_download"):  # hub downloads report through the same messages
                engine.on_download = lambda p: self._progress(job, p)
            on_step = lambda p: self._progress(job, p)  # noqa: E731
            if job.task is not None:
                result = job.task(engine, on_step, job.cancel)
            else:
                result = engine.run(job.request, on_step=on_step, cancel=job.cancel)
            final = self._save(job, result)
        except Cancelled as e:
            final = JobCancelled(job, e.partial if isinstance(e.partial, Result) else None)
        except Exception as e:  # never let the worker die
            error = classify(e)
            if error.kind is ErrorKind.internal:
                log.error("job %s failed", job.id, exc_info=e)
            final = JobFailed(job, error)
        with self._cond:
            self.current = None
            self._remember(final)
        self._emit(final)
        self._emit_changed()

    def _save(self, job: Job, result: Result) -> JobFinished:
        """Save into the gallery (unless the request says not to); a failed save keeps the pictures."""
        if self.store is None or not job.save or not result.images:
            return JobFinished(job, result)
        try:
            records = tuple(self.store.add(result))
        except SaveError as e:
            log.error("job %s: %s", job.id, e)
            return JobFinished(job, result, e.records, str(e))
        return JobFinished(job, result, records)

    def _progress(self, job: Job, progress: Progress) -> None:
        self.last_progress = progress
        if progress.preview is not None:
            self.last_preview = progress.preview
        self._emit(JobProgress(job, progress))
