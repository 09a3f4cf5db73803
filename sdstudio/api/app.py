"""The AUTOMATIC1111-compatible HTTP API over the shared job queue (FastAPI).

Generation endpoints are async: a request waits for its job on an asyncio future (no worker thread held),
so /progress and /interrupt answer at once however many jobs wait; a client that disconnects cancels its job.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from sdstudio import __version__
from sdstudio.api import controlnet, convert, errors, extras, install_routes, scripts
from sdstudio.api.deforum import deforum_router
from sdstudio.api.errors import ERROR_RESPONSES
from sdstudio.api.replay_routes import replay_router
from sdstudio.api.routes_info import add_info_routes
from sdstudio.api.schemas import (
    ImagesResponse,
    Img2ImgBody,
    PngInfoBody,
    PngInfoResponse,
    ProgressResponse,
    ProgressState,
    Txt2ImgBody,
)
from sdstudio.api.security import LOOPBACK_HOSTS, FailedLogins, Guard
from sdstudio.api.waiting import Disconnected, Waiters
from sdstudio.core.jobs import JobCancelled, JobFailed, JobFinished, JobQueue
from sdstudio.core.protocols import Library


@dataclass
class ApiState:
    """What the API remembers between calls: the checkpoint chosen through /options, and its options dict."""

    model: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False
    job_timestamp: str = "0"
    lock: threading.Lock = field(default_factory=threading.Lock)


def create_app(
    queue: JobQueue,
    library: Library,
    *,
    auth: str | dict[str, str] | None = None,
    model: str = "",
    limits: convert.Limits | None = None,
    job_timeout: float | None = None,
    allowed_hosts: Iterable[str] | None = LOOPBACK_HOSTS,
    allowed_origins: Iterable[str] = (),
    failed_logins: FailedLogins | None = None,
) -> FastAPI:
    """The app; `queue` is the one shared with the studio window (or the headless server's own).
    `auth`: A1111's "user:pass,user2:pass2" or a dict; `allowed_hosts` None: any Host header."""
    from sdstudio.api.security import parse_credentials

    limits = limits or convert.Limits()
    credentials = parse_credentials(auth) if isinstance(auth, str) else auth
    state = ApiState(model=model)
    app = FastAPI(
        title="sdstudio API",
        version=__version__,
        description="AUTOMATIC1111-compatible web UI API. Errors answer in A1111's shape (ErrorResponse).",
        responses=ERROR_RESPONSES,
    )
    app.add_middleware(
        Guard,
        max_body=limits.max_body_bytes,
        allowed_hosts=allowed_hosts,
        allowed_origins=allowed_origins,
        credentials=credentials,
        failures=failed_logins,
    )
    errors.install(app)
    app.state.sd = state
    app.include_router(controlnet.controlnet_router(library, limits))
    app.include_router(  # Deforum's own shapes for its 400/404 answers (its clients read `message`)
        deforum_router(queue, lambda: state.model, lambda: library.settings.outputs_path(), limits),
        responses={400: {"description": "Deforum's {message}"}, 404: {"description": "Deforum's NOT FOUND"}},
    )

    def _started(job: Any) -> None:
        state.interrupted = False  # A1111 clears it when the next job starts
        state.job_timestamp = time.strftime("%Y%m%d%H%M%S")

    waiters = Waiters(queue, on_start=_started)
    app.state.unsubscribe = waiters.unsubscribe
    app.include_router(replay_router(waiters, library, limits, job_timeout))

    def _library_model(name: str) -> str:
        """A checkpoint a client named: looked up in the library only (ModelError -> 422), never a path."""
        entry = library.resolve(name, known_only=True)
        return entry.location if entry.source.value != "demo" else entry.name

    def _check_networks(request: Any) -> None:
        """LoRAs and the VAE a request names must be in the library: a 422 now, not a failed job later."""
        from sdstudio.core.lora import resolve_tags
        from sdstudio.core.prompt import effective_prompts
        from sdstudio.core.vae import choice_for

        prompt, _ = effective_prompts(request.prompt, request.negative_prompt, request.styles)
        resolve_tags(library.loras, prompt, request.steps)
        controlnet.check(library, request)
        if request.vae:
            choice_for(library, request.vae, library.resolve(request.model, known_only=True).location)

    async def _run(body: Txt2ImgBody, client: Request) -> Any:
        # 1. convert (decodes pictures, looks up the model, LoRAs and VAE) off the event loop
        warnings = convert.warnings_for(body)
        request = await run_in_threadpool(convert.to_request, body, state.model, limits, _library_model)
        script = await run_in_threadpool(scripts.plan, body, request, limits)  # x/y/z plot, prompt matrix
        await run_in_threadpool(_check_networks, request)
        task = script.task(queue.store if body.save_images else None) if script else None
        # 2. wait for the job without holding a thread
        try:
            final = await waiters.run(request, client, save=body.save_images, timeout=job_timeout, task=task)
        except Disconnected:
            return Response(status_code=499)  # nobody reads it; the job was cancelled
        # 3. answer as A1111 does: pictures (partial ones after an interrupt), or a typed error
        if isinstance(final, JobFailed):
            raise errors.job_error(final.error)
        if isinstance(final, JobFinished):
            result = script.response_result(final.result) if script else final.result
            if final.save_error:
                warnings.append(f"save_images: {final.save_error}")
        else:
            assert isinstance(final, JobCancelled)
            result = final.partial
        return await run_in_threadpool(convert.images_response, body, result, request, warnings)

    @app.post("/sdapi/v1/txt2img", response_model=ImagesResponse)
    async def txt2img(body: Txt2ImgBody, client: Request) -> Any:
        return await _run(body, client)

    @app.post("/sdapi/v1/img2img", response_model=ImagesResponse)
    async def img2img(body: Img2ImgBody, client: Request) -> Any:
        return await _run(body, client)

    @app.get("/sdapi/v1/progress", response_model=ProgressResponse)
    def progress(skip_current_image: bool = False) -> dict[str, Any]:
        current, p = queue.current, queue.last_progress
        jobs = queue.jobs()
        live = p if current is not None else None
        image = None
        preview = queue.last_preview
        if not skip_current_image and live is not None and preview is not None:
            buf = io.BytesIO()
            preview.save(buf, format="PNG")
            image = convert.png_b64(buf.getvalue())
        st = ProgressState(
            interrupted=state.interrupted,
            job=f"task({current.id})" if current else "",
            job_count=len(jobs),
            job_timestamp=state.job_timestamp,
            job_no=live.batch_index if live else 0,
            sampling_step=live.step if live else 0,
            sampling_steps=live.total if live else 0,
        )
        return {
            "progress": live.fraction if live else 0.0,
            "eta_relative": live.eta if live else 0.0,
            "state": st,
            "current_image": image,
            "textinfo": None,
        }

    @app.post("/sdapi/v1/interrupt")
    def interrupt() -> dict[str, Any]:
        """The running job stops and answers with the pictures reached (A1111's interrupt); waiting ones stay."""
        if queue.cancel(keep_partial=True):
            state.interrupted = True
        return {}

    @app.post("/sdapi/v1/skip")
    def skip() -> dict[str, Any]:
        # sdstudio stops the running job as a whole, keeping what it reached (A1111 skips one image of a batch)
        queue.cancel(keep_partial=True)
        return {}

    def _options() -> dict[str, Any]:
        entry = library.resolve(state.model)
        return {
            "sd_model_checkpoint": entry.title,
            "sd_checkpoint_hash": entry.sha256 or None,
            "sd_vae": library.settings.vae_by_model.get(entry.location, "Automatic"),
            "CLIP_stop_at_last_layers": 1,
            "samples_format": "png",
            "save_images_add_number": True,
            "outdir_samples": "",
            "enable_pnginfo": True,
            "sd_checkpoint_cache": 0,
            "eta_noise_seed_delta": 0,
        } | state.options

    @app.get("/sdapi/v1/options")
    def get_options() -> dict[str, Any]:
        return _options()

    @app.post("/sdapi/v1/options")
    def set_options(options: dict[str, Any]) -> dict[str, Any]:
        # The whole dict may come back (clients post what they read): other keys are accepted and ignored,
        # the ones we know are checked before any is applied.
        for key, value in options.items():
            convert.check_option(key, value, "options")
        with state.lock:
            ckpt = options.get("sd_model_checkpoint")
            if ckpt:
                state.model = _library_model(ckpt)  # ModelError -> 422 with the reason
            vae = options.get("sd_vae")
            if vae:  # A1111's VAE choice, remembered for the current model
                from sdstudio.core.vae import choice_for, remember

                entry = library.resolve(state.model)
                choice_for(library, vae, entry.location)  # ModelError -> 422 naming the known VAEs
                remember(library, entry.location, vae)
            state.options |= {
                k: v
                for k, v in options.items()
                if k in convert.OPTIONS and k not in ("sd_model_checkpoint", "sd_checkpoint_hash", "sd_vae")
            }
        return {}

    add_info_routes(app, library)
    extras.register(app, [], library, limits)  # credentials are checked by the Guard, before any route
    install_routes.register(app, [], library, auth_enabled=bool(credentials))

    @app.post("/sdapi/v1/png-info", response_model=PngInfoResponse)
    def png_info(body: PngInfoBody) -> dict[str, Any]:
        from sdstudio.core.gallery.metadata import parse_infotext
        from sdstudio.core.gallery.reading import read_parameters

        if not body.image:
            return {"info": "", "items": {}, "parameters": {}}
        params = read_parameters(convert.decode_bytes(body.image, "image", limits))
        parsed = parse_infotext(params.infotext) if params.infotext else {}
        return {
            "info": params.infotext,
            "items": {"parameters": params.infotext} if params.infotext else {},
            "parameters": parsed,
        }

    return app
