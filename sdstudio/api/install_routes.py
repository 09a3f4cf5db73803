"""Model installs over HTTP: off unless the settings' api_install is on, and only behind the API's auth.

POST /sdstudio/v1/models/install {"source", "sha256", "kind", "name"} queues a remote install (hub, Civitai or a
URL; never a path on the server's disk); GET /sdstudio/v1/models/install/{id} reports it. A finished install
refreshes the library, so /sdapi/v1/sd-models lists the new model.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from sdstudio.core.install.plan import InstallError
from sdstudio.core.install.queue import DownloadQueue, InstallRequest, Job, State
from sdstudio.core.install.sources import check_sha256, parse_kind


class InstallBody(BaseModel):
    source: str = Field(min_length=1, max_length=2000, description="hub id or file, Civitai or https address")
    sha256: str = Field("", max_length=64)
    kind: str = Field("", max_length=32)
    name: str = Field("", max_length=200)


def _job(job: Job) -> dict[str, Any]:
    p = job.progress
    return {
        "id": job.id,
        "title": job.title,
        "state": job.state.name,
        "message": job.message,
        "done_bytes": p.done if p else 0,
        "total_bytes": p.total if p else None,
        "speed": p.speed if p else 0.0,
        "eta": p.eta if p else None,
        "paths": [str(x) for x in job.result.paths] if job.result else [],
    }


def register(app: FastAPI, guard: list[Any], library: Any, auth_enabled: bool) -> None:
    queue: DownloadQueue | None = None

    def _allowed() -> DownloadQueue:
        nonlocal queue
        if not getattr(library.settings, "api_install", False):
            raise HTTPException(
                403, "model installs through the API are off (turn on api_install in the settings)"
            )
        if not auth_enabled:
            raise HTTPException(403, "model installs through the API need the API's auth (serve --api-auth)")
        if queue is None:
            queue = DownloadQueue(library.settings, library.hashes, save_settings=library.save_settings)
            queue.subscribe(lambda job: library.refresh() if job.state is State.done else None)
        return queue

    @app.post("/sdstudio/v1/models/install", dependencies=guard)
    def install_model(body: InstallBody) -> dict[str, Any]:
        q = _allowed()
        source = body.source.strip()
        if source.lower().startswith("file:"):
            raise HTTPException(
                422, "installs through the API come from the hub, Civitai or the web, not from paths"
            )
        try:
            kind = parse_kind(body.kind or None)
            sha = check_sha256(body.sha256)
        except InstallError as e:
            raise HTTPException(422, str(e)) from None
        job_id = q.add(InstallRequest(source, kind=kind, name=body.name, sha256=sha, local=False))
        return {"id": job_id}

    @app.get("/sdstudio/v1/models/install/{job_id}", dependencies=guard)
    def install_status(job_id: int) -> dict[str, Any]:
        q = _allowed()
        job = next((j for j in q.jobs() if j.id == job_id), None)
        if job is None:
            raise HTTPException(404, f"no install {job_id}")
        return _job(job)
