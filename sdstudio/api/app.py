"""The AUTOMATIC1111-compatible HTTP API over the shared job queue (FastAPI)."""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.middleware.base import BaseHTTPMiddleware

from sdstudio import __version__
from sdstudio.api import controlnet, convert, extras, install_routes, scripts
from sdstudio.api.deforum import deforum_router
from sdstudio.api.replay_routes import replay_router
from sdstudio.api.schemas import (
    ImagesResponse,
    Img2ImgBody,
    PngInfoBody,
    PngInfoResponse,
    ProgressResponse,
    ProgressState,
    Txt2ImgBody,
)
from sdstudio.core.errors import ModelError
from sdstudio.core.jobs import JobCancelled, JobFailed, JobFinished, JobQueue
from sdstudio.core.protocols import Library
from sdstudio.core.request import RequestError
from sdstudio.core.samplers import SAMPLERS


@dataclass
class ApiState:
    """What the API remembers between calls: the checkpoint chosen through /options, and its options dict."""

    model: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False
    job_timestamp: str = "0"
    lock: threading.Lock = field(default_factory=threading.Lock)


class _BodyLimit(BaseHTTPMiddleware):
    def __init__(self, app: Any, limit: int):
        super().__init__(app)
        self.limit = limit

    async def dispatch(self, request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > self.limit:
            return JSONResponse(
                {"error": "PayloadTooLarge", "detail": f"request body is over {self.limit:,} bytes"}, 413
            )
        return await call_next(request)


def _auth_dependency(credentials: str | None):
    """HTTP Basic auth compared in constant time; with no credentials configured anything passes."""
    if not credentials:
        return lambda: None
    expected = credentials.encode()

    def check(request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        try:
            given = base64.b64decode(token.strip(), validate=True) if scheme.lower() == "basic" else b""
        except (binascii.Error, ValueError):
            given = b""
        if not hmac.compare_digest(given, expected):
            raise HTTPException(401, "Incorrect username or password", headers={"WWW-Authenticate": "Basic"})

    return check


def create_app(
    queue: JobQueue,
    library: Library,
    *,
    auth: str | None = None,
    model: str = "",
    limits: convert.Limits | None = None,
    job_timeout: float | None = None,
) -> FastAPI:
    """The app; `queue` is the one shared with the studio window (or the headless server's own)."""
    limits = limits or convert.Limits()
    state = ApiState(model=model)
    app = FastAPI(
        title="sdstudio API", version=__version__, description="AUTOMATIC1111-compatible web UI API"
    )
    app.add_middleware(_BodyLimit, limit=limits.max_body_bytes)
    app.state.sd = state
    guard = [Depends(_auth_dependency(auth))]
    app.include_router(replay_router(queue, library, limits), dependencies=guard)
    app.include_router(controlnet.controlnet_router(library), dependencies=guard)
    app.include_router(
        deforum_router(queue, lambda: state.model, lambda: library.settings.outputs_path(), limits),
        dependencies=guard,
    )

    @app.exception_handler(RequestError)
    async def _bad_request(request: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse({"error": "RequestError", "detail": str(exc), "field": exc.field}, 422)

    @app.exception_handler(convert.TooLarge)
    async def _too_large(request: Request, exc: convert.TooLarge) -> JSONResponse:
        return JSONResponse({"error": "PayloadTooLarge", "detail": str(exc)}, 413)

    @app.exception_handler(ModelError)
    async def _model_error(request: Request, exc: ModelError) -> JSONResponse:
        return JSONResponse({"error": "ModelError", "detail": str(exc)}, 422)

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

    def _run(body: Txt2ImgBody) -> dict[str, Any]:
        override = (body.override_settings or {}).get("sd_model_checkpoint")
        if isinstance(override, str) and override:  # a library entry only, never a client-named path
            entry = library.resolve(override, known_only=True)
            body.override_settings = dict(body.override_settings or {}) | {
                "sd_model_checkpoint": entry.location if entry.source.value != "demo" else entry.name
            }
        request = convert.to_request(body, state.model, limits)
        script = scripts.plan(body, request, limits)
        _check_networks(request)
        state.interrupted = False
        state.job_timestamp = time.strftime("%Y%m%d%H%M%S")
        job = queue.submit(request, source="api", task=script.task(queue.store) if script else None)
        final = queue.wait(job, job_timeout)
        if isinstance(final, JobFinished):
            result = script.response_result(final.result) if script else final.result
            return convert.images_response(body, result, request)
        if isinstance(final, JobCancelled) or final is None:
            if final is None:
                queue.cancel(job.id)
            return convert.images_response(body, None, request)
        assert isinstance(final, JobFailed)
        raise HTTPException(500, final.message)

    @app.post("/sdapi/v1/txt2img", response_model=ImagesResponse, dependencies=guard)
    def txt2img(body: Txt2ImgBody) -> dict[str, Any]:
        return _run(body)

    @app.post("/sdapi/v1/img2img", response_model=ImagesResponse, dependencies=guard)
    def img2img(body: Img2ImgBody) -> dict[str, Any]:
        return _run(body)

    @app.get("/sdapi/v1/progress", response_model=ProgressResponse, dependencies=guard)
    def progress(skip_current_image: bool = False) -> dict[str, Any]:
        current, p = queue.current, queue.last_progress
        jobs = queue.jobs()
        done = p.fraction if (current is not None and p is not None) else 0.0
        eta = p.eta if p is not None and current is not None else 0.0
        image = None
        preview = queue.last_preview
        if not skip_current_image and p is not None and preview is not None and current is not None:
            buf = io.BytesIO()
            preview.save(buf, format="PNG")
            image = convert.png_b64(buf.getvalue())
        st = ProgressState(
            interrupted=state.interrupted,
            job=f"task({current.id})" if current else "",
            job_count=len(jobs),
            job_timestamp=state.job_timestamp,
            job_no=p.batch_index if p is not None and current is not None else 0,
            sampling_step=p.step if p is not None and current is not None else 0,
            sampling_steps=p.total if p is not None and current is not None else 0,
        )
        return {"progress": done, "eta_relative": eta, "state": st, "current_image": image, "textinfo": None}

    @app.post("/sdapi/v1/interrupt", dependencies=guard)
    def interrupt() -> dict[str, Any]:
        state.interrupted = True
        queue.cancel()
        return {}

    @app.post("/sdapi/v1/skip", dependencies=guard)
    def skip() -> dict[str, Any]:
        # sdstudio cancels the running job as a whole (A1111 skips one image of a batch)
        queue.cancel()
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

    @app.get("/sdapi/v1/options", dependencies=guard)
    def get_options() -> dict[str, Any]:
        return _options()

    @app.post("/sdapi/v1/options", dependencies=guard)
    def set_options(options: dict[str, Any]) -> dict[str, Any]:
        # The whole dict may come back (clients post what they read): only the keys we act on matter.
        with state.lock:
            ckpt = options.get("sd_model_checkpoint")
            if isinstance(ckpt, str) and ckpt:
                entry = library.resolve(ckpt, known_only=True)  # ModelError -> 422 with the reason
                state.model = entry.location if entry.source.value != "demo" else entry.name
            vae = options.get("sd_vae")
            if isinstance(vae, str) and vae:  # A1111's VAE choice, remembered for the current model
                from sdstudio.core.vae import choice_for, remember

                entry = library.resolve(state.model)
                choice_for(library, vae, entry.location)  # ModelError -> 422 naming the known VAEs
                remember(library, entry.location, vae)
            known = set(_options())
            state.options |= {
                k: v
                for k, v in options.items()
                if k in known and k not in ("sd_model_checkpoint", "sd_checkpoint_hash", "sd_vae")
            }
        return {}

    @app.get("/sdapi/v1/sd-models", dependencies=guard)
    def sd_models() -> list[dict[str, Any]]:
        return [
            {
                "title": e.title,
                "model_name": e.name,
                "hash": e.short_hash or None,
                "sha256": e.sha256 or None,
                "filename": e.location,
                "config": None,
            }
            for e in library.entries()
        ]

    @app.post("/sdapi/v1/refresh-checkpoints", dependencies=guard)
    def refresh_checkpoints() -> dict[str, Any]:
        library.refresh()
        return {}

    @app.get("/sdapi/v1/samplers", dependencies=guard)
    def samplers() -> list[dict[str, Any]]:
        return [
            {
                "name": s.name,
                "aliases": list(s.aliases),
                "options": {"scheduler": s.schedule.lower()} if s.schedule != "Automatic" else {},
            }
            for s in SAMPLERS.values()
        ]

    @app.get("/sdapi/v1/schedulers", dependencies=guard)
    def schedulers() -> list[dict[str, Any]]:
        return [
            {
                "name": "automatic",
                "label": "Automatic",
                "aliases": None,
                "default_rho": -1,
                "need_inner_model": False,
            },
            {
                "name": "karras",
                "label": "Karras",
                "aliases": None,
                "default_rho": 7.0,
                "need_inner_model": False,
            },
        ]

    @app.get("/sdapi/v1/sd-vae", dependencies=guard)
    def sd_vae() -> list[dict[str, Any]]:
        from sdstudio.core.vae import vae_choices

        return [{"model_name": c.name, "filename": str(c.path)} for c in vae_choices(library)]

    @app.post("/sdapi/v1/refresh-vae", dependencies=guard)
    def refresh_vae() -> dict[str, Any]:
        library.refresh()
        return {}

    @app.get("/sdapi/v1/loras", dependencies=guard)
    def loras() -> list[dict[str, Any]]:
        from sdstudio.core.lora.catalog import api_metadata

        return [
            {"name": i.name, "alias": i.alias, "path": str(i.path), "metadata": api_metadata(i.metadata)}
            for i in library.loras.infos()
        ]

    @app.post("/sdapi/v1/refresh-loras", dependencies=guard)
    def refresh_loras() -> dict[str, Any]:
        library.refresh()
        return {}

    extras.register(app, guard, library, limits)

    @app.get("/sdapi/v1/scripts", dependencies=guard)
    def script_list() -> dict[str, Any]:
        return {"txt2img": list(scripts.SCRIPTS), "img2img": list(scripts.SCRIPTS)}

    @app.get("/sdapi/v1/script-info", dependencies=guard)
    def script_info() -> list[Any]:
        return []

    @app.get("/sdapi/v1/prompt-styles", dependencies=guard)
    def prompt_styles() -> list[dict[str, Any]]:
        from sdstudio.core.prompt import all_styles

        try:
            styles = all_styles()
        except ValueError:  # a broken styles file: the built-in presets still serve
            from sdstudio.core.prompt import builtin_presets

            styles = builtin_presets()
        return [
            {"name": s.name, "prompt": s.prompt, "negative_prompt": s.negative_prompt}
            for s in styles.values()
        ]

    from sdstudio.core.prompt.embeddings import EmbeddingCatalog

    catalog = EmbeddingCatalog(library.embedding_files)

    @app.get("/sdapi/v1/embeddings", dependencies=guard)
    def embeddings() -> dict[str, Any]:
        """A1111's shape: usable embeddings under "loaded" (vectors, width), unreadable ones under "skipped"."""
        loaded, skipped = {}, {}
        for name, shape in catalog.shapes().items():
            if shape is None:
                skipped[name] = {}
            else:
                loaded[name] = {
                    "step": None,
                    "sd_checkpoint": None,
                    "sd_checkpoint_name": None,
                    "shape": shape[1],
                    "vectors": shape[0],
                }
        return {"loaded": loaded, "skipped": skipped}

    @app.get("/sdapi/v1/cmd-flags", dependencies=guard)
    def cmd_flags() -> dict[str, Any]:
        return {"api": True, "nowebui": True, "listen": False}

    @app.get("/sdapi/v1/memory", dependencies=guard)
    def memory() -> dict[str, Any]:
        import os

        try:
            pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            pages = 0
        return {"ram": {"total": pages}, "cuda": {"error": "not reported"}}

    @app.post("/sdapi/v1/png-info", response_model=PngInfoResponse, dependencies=guard)
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

    install_routes.register(app, guard, library, auth_enabled=bool(auth))
    return app
