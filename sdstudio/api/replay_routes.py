"""`POST /sdstudio/v1/replay`: regenerate a picture from its own metadata and compare it with the original.

The body carries the picture (base64 PNG, as A1111's png-info takes it) and optional overrides of single
fields; the model is found by hash in the library only, inputs in the gallery's input store. The replayed
picture is returned, not saved (it is a check, not a new picture). Waiting for the job holds no server thread.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from sdstudio.api import errors
from sdstudio.api.convert import Limits, decode_bytes, png_b64
from sdstudio.api.waiting import Disconnected, Waiters
from sdstudio.core.errors import ModelError
from sdstudio.core.jobs import JobFailed, JobFinished
from sdstudio.core.request import RequestError, Result

# the fields a client may override: plain values only (no model paths, no input pictures)
OVERRIDABLE = {
    "prompt": str,
    "negative_prompt": str,
    "steps": int,
    "cfg_scale": float,
    "seed": int,
    "sampler": str,
    "width": int,
    "height": int,
    "strength": float,
    "clip_skip": int,
}


class ReplayBody(BaseModel):
    image: str = Field(description="the picture, base64 PNG or a data URI")
    overrides: dict[str, Any] = Field(default_factory=dict, description="fields to change, e.g. {'seed': 5}")
    verify: bool = Field(True, description="compare the result with the picture's pixels")


class ReplayResponse(BaseModel):
    images: list[str]
    info: str  # A1111's parameters text of the replayed picture
    identical: bool | None = None
    max_difference: int | None = None
    mean_difference: float | None = None
    unhonoured: list[str] = Field(default_factory=list)
    environment_changes: list[str] = Field(default_factory=list)


def replay_router(waiters: Waiters, library: Any, limits: Limits, job_timeout: float | None) -> APIRouter:
    router = APIRouter()

    @router.post("/sdstudio/v1/replay", response_model=ReplayResponse)
    async def replay(body: ReplayBody, client: Request) -> Any:
        from sdstudio.core.replay import compare, environment_changes

        # 1. the recipe, the model by hash, the overrides: every check before the job is queued (off the loop)
        data, recipe, request = await run_in_threadpool(_prepare, body, waiters.queue.store, library, limits)
        # 2. the job on the shared queue, waited for without a thread; a check, so nothing is saved
        try:
            final = await waiters.run(request, client, save=False, timeout=job_timeout)
        except Disconnected:
            return Response(status_code=499)  # nobody reads it; the job was cancelled
        if isinstance(final, JobFailed):
            raise errors.job_error(final.error)
        if not isinstance(final, JobFinished):
            raise HTTPException(409, "the replay was cancelled")
        # 3. the picture and the comparison
        original = data if body.verify else None
        return await run_in_threadpool(
            _response, final.result, original, recipe, compare, environment_changes
        )

    return router


def _prepare(body: ReplayBody, store: Any, library: Any, limits: Limits) -> tuple[bytes, Any, Any]:
    from sdstudio.core.replay import ReplayError, read_recipe

    data = decode_bytes(body.image, "image", limits)
    try:
        recipe = read_recipe(data, store)
        return data, recipe, recipe.bind(library).replace(**_overrides(body.overrides))
    except ReplayError as e:
        raise RequestError("image", str(e)) from None
    except ModelError as e:
        raise HTTPException(422, str(e)) from None


def _overrides(values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        kind = OVERRIDABLE.get(key)
        if kind is None:
            raise RequestError(
                f"overrides.{key}", f"cannot be overridden; use one of {', '.join(OVERRIDABLE)}"
            )
        if not isinstance(value, kind) or isinstance(value, bool):
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            else:
                raise RequestError(f"overrides.{key}", f"must be a {kind.__name__}")
        out[key] = value
    return out


def _response(
    result: Result, original: bytes | None, recipe: Any, compare: Any, changes: Any
) -> dict[str, Any]:
    import io

    from PIL import Image

    from sdstudio.core.gallery.metadata import infotext, png_bytes

    gen = result.images[0]
    out: dict[str, Any] = {
        "images": [png_b64(png_bytes(g, result)) for g in result.images],
        "info": infotext(gen, result),
        "unhonoured": list(recipe.unhonoured),
    }
    if original is not None:
        with Image.open(io.BytesIO(original)) as picture:
            cmp = compare(picture, gen.image)
        out |= {
            "identical": cmp.identical,
            "max_difference": cmp.max_difference,
            "mean_difference": cmp.mean_difference,
            "environment_changes": [] if cmp.identical else changes(recipe.environment, result.environment),
        }
    return out
