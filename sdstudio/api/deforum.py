"""The Deforum extension's API (`/deforum_api/...`): batches of settings objects run as jobs of the one queue.

Shapes as Deforum's deforum_api.py: POST /deforum_api/batches → 202 {message, batch_id, job_ids};
GET /deforum_api/batches/{id} → the jobs' statuses; DELETE cancels; /deforum_api/jobs[/{id}] likewise.
Settings are checked before anything is queued: a bad one is a 400 naming the batch entry and the key.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel

from sdstudio.api.convert import Limits
from sdstudio.core.animation.schedule import schedule_values
from sdstudio.core.jobs import JobQueue


class Batch(BaseModel):
    deforum_settings: dict[str, Any] | list[dict[str, Any]] | None = None
    options_overrides: dict[str, Any] | None = None


@dataclass(frozen=True)
class JobStatus:
    """Deforum's DeforumJobStatus, field for field."""

    id: str
    status: str = "ACCEPTED"  # ACCEPTED, SUCCEEDED, FAILED, CANCELLED
    phase: str = "QUEUED"  # QUEUED, PREPARING, GENERATING, POST_PROCESSING, DONE
    error_type: str = "NONE"  # NONE, RETRYABLE, TERMINAL
    phase_progress: float = 0.0
    started_at: float = field(default_factory=time.time)
    last_updated: float = field(default_factory=time.time)
    execution_time: float = 0.0
    update_interval_time: float = 0.0
    updates: int = 0
    message: str | None = None
    outdir: str | None = None
    timestring: str | None = None
    deforum_settings: Any = None
    options_overrides: dict[str, Any] | None = None


class Tracker:
    """Batches and job statuses, updated from the worker thread and read by the endpoints."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: dict[str, JobStatus] = {}
        self.batches: dict[str, list[str]] = {}
        self.queue_ids: dict[str, int] = {}

    def update(self, job_id: str, **changes: Any) -> None:
        with self.lock:
            old = self.statuses.get(job_id)
            if old is None or old.status != "ACCEPTED":  # a finished job's status is final
                return
            now = time.time()
            self.statuses[job_id] = replace(
                old,
                last_updated=now,
                execution_time=now - old.started_at,
                update_interval_time=now - old.last_updated,
                updates=old.updates + 1,
                **changes,
            )

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self.lock:
            status = self.statuses.get(job_id)
        return asdict(status) if status is not None else None


def check_limits(settings: Any, limits: Limits) -> None:
    """An API client's animation within the server's limits; it names no file on the server."""
    if settings.use_init:
        raise ValueError("use_init: the API reads no files on the server; render without an init image")
    if settings.W * settings.H > limits.max_output_pixels:
        raise ValueError(
            f"W, H: {settings.W}x{settings.H} is over this server's {limits.max_output_pixels} pixels"
        )
    steps = settings.steps
    if settings.enable_steps_scheduling:
        steps = int(schedule_values("steps_schedule", settings.steps_schedule, settings.max_frames).max())
    if steps > limits.max_steps:
        raise ValueError(f"steps: {steps} is over this server's {limits.max_steps}")
    if settings.max_frames > limits.max_frames:
        raise ValueError(f"max_frames: {settings.max_frames} is over this server's {limits.max_frames}")


def deforum_router(
    queue: JobQueue, model: Callable[[], str], outputs: Callable[[], Path], limits: Limits
) -> APIRouter:
    """The /deforum_api routes over `queue`; `model` gives the current checkpoint, `outputs` the folder."""
    from sdstudio.core.animation.job import animation_task, describe
    from sdstudio.core.animation.render import AnimationProgress
    from sdstudio.core.animation.settings import settings_from_dict
    from sdstudio.core.jobs import JobCancelled, JobFailed, Message

    router = APIRouter()
    tracker = Tracker()

    def on_message(message: Message) -> None:
        """Jobs that end outside the task (removed while waiting, the model failing to load)."""
        if not isinstance(message, (JobFailed, JobCancelled)):
            return
        with tracker.lock:
            job_id = next((k for k, v in tracker.queue_ids.items() if v == message.job.id), None)
        if job_id is None:
            return
        if isinstance(message, JobFailed):
            tracker.update(job_id, status="FAILED", error_type="TERMINAL", message=message.message)
        else:
            tracker.update(job_id, status="CANCELLED", message="Cancelled due to user request.")

    queue.subscribe(on_message)

    def _task(job_id: str, settings: Any, folder: Path) -> Any:
        def on_frames(p: AnimationProgress) -> None:
            tracker.update(job_id, phase="GENERATING", phase_progress=round(p.fraction, 4))

        def on_done(result: Any, video: Path | None) -> None:
            tracker.update(job_id, status="SUCCEEDED", phase="DONE", phase_progress=1.0)

        inner = animation_task(
            settings,
            folder,
            folder / "video.mp4",
            on_animation=on_frames,
            on_done=on_done,
            gallery=queue.store,
        )

        def task(engine: Any, on_step: Any, cancel: threading.Event) -> Any:
            from sdstudio.core.errors import Cancelled

            tracker.update(job_id, phase="PREPARING")
            try:
                return inner(engine, on_step, cancel)
            except Cancelled:
                tracker.update(job_id, status="CANCELLED", message="Cancelled due to user request.")
                raise
            except Exception as e:
                tracker.update(job_id, status="FAILED", error_type="TERMINAL", message=str(e))
                raise

        return task

    @router.post("/deforum_api/batches", status_code=202)
    def run_batch(batch: Batch, response: Response) -> dict[str, Any]:
        data = batch.deforum_settings
        if not data:
            response.status_code = 400
            return {
                "message": "No settings files provided. Please provide an element 'deforum_settings' "
                "of type list in the request JSON payload."
            }
        items = data if isinstance(data, list) else [data]
        # 1. every settings object checked before anything is queued
        parsed = []
        for i, item in enumerate(items):
            try:
                loaded = settings_from_dict(item)
                settings = loaded.settings.replace(model=model()).validate()  # clients name no model path
                check_limits(settings, limits)
                describe(settings).validate()
            except ValueError as e:
                response.status_code = 400
                return {"message": f"deforum_settings[{i}]: {e}"}
            parsed.append((settings, loaded.notes))
        # 2. one queue job per settings object
        batch_id = f"batch({random.randint(0, 10**9)})"
        job_ids = [f"{batch_id}-{i}" for i in range(len(parsed))]
        stamp = time.strftime("%Y%m%d%H%M%S")
        with tracker.lock:
            tracker.batches[batch_id] = job_ids
            for job_id, item, (_, notes) in zip(job_ids, items, parsed, strict=True):
                message = "; ".join(notes) or None
                tracker.statuses[job_id] = JobStatus(
                    job_id,
                    message=message,
                    deforum_settings=[item],
                    options_overrides=batch.options_overrides,
                )
        for job_id, (settings, _) in zip(job_ids, parsed, strict=True):
            folder = outputs() / "animations" / f"{stamp}-{job_id.replace('(', '').replace(')', '')}"
            tracker.update(job_id, outdir=str(folder), timestring=stamp)
            job = queue.submit(describe(settings), source="api", task=_task(job_id, settings, folder))
            with tracker.lock:
                tracker.queue_ids[job_id] = job.id
        return {"message": "Job(s) accepted", "batch_id": batch_id, "job_ids": job_ids}

    @router.get("/deforum_api/batches")
    def list_batches() -> dict[str, list[str]]:
        with tracker.lock:
            return {k: list(v) for k, v in tracker.batches.items()}

    @router.get("/deforum_api/batches/{id}")
    def get_batch(id: str, response: Response) -> Any:
        with tracker.lock:
            ids = list(tracker.batches.get(id, ()))
        if not ids:
            response.status_code = 404
            return {"id": id, "status": "NOT FOUND"}
        return [tracker.get(j) for j in ids]

    def _cancel(job_id: str) -> bool:
        status = tracker.get(job_id)
        if status is None:
            raise KeyError(job_id)
        if status["status"] != "ACCEPTED":
            return False
        queue_id = tracker.queue_ids.get(job_id)
        if queue_id is not None:
            queue.cancel(queue_id)
        tracker.update(job_id, status="CANCELLED", message="Cancelled due to user request.")
        return True

    @router.delete("/deforum_api/batches/{id}")
    def cancel_batch(id: str, response: Response) -> dict[str, Any]:
        with tracker.lock:
            ids = list(tracker.batches.get(id, ()))
        if not ids:
            response.status_code = 404
            return {"id": id, "status": "NOT FOUND"}
        cancelled = [j for j in ids if _cancel(j)]
        message = f"{len(cancelled)} job(s) cancelled."
        return {"ids": cancelled, "message": message, "message:": message}  # Deforum spells it "message:"

    @router.get("/deforum_api/jobs")
    def list_jobs() -> dict[str, Any]:
        with tracker.lock:
            ids = list(tracker.statuses)
        return {j: tracker.get(j) for j in ids}

    @router.get("/deforum_api/jobs/{id}")
    def get_job(id: str, response: Response) -> Any:
        status = tracker.get(id)
        if status is None:
            response.status_code = 404
            return {"id": id, "status": "NOT FOUND"}
        return status

    @router.delete("/deforum_api/jobs/{id}")
    def cancel_job(id: str, response: Response) -> dict[str, Any]:
        try:
            if _cancel(id):
                return {"id": id, "message": "Job cancelled."}
        except KeyError:
            response.status_code = 404
            return {"id": id, "message": f"Job with ID {id} not found."}
        response.status_code = 400
        return {"id": id, "message": f"Job with ID {id} not in a cancellable state. Has it already finished?"}

    return router
