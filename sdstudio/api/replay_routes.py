"""`POST /sdstudio/v1/replay`: regenerate a picture from its own metadata and compare it with the original.

The body carries the picture (base64 PNG, as A1111's png-info takes it) and optional overrides of single
fields; the model is found by hash in the library only, inputs in the gallery's input store. The replayed
picture is returned, not saved (it is a check, not a new picture). Waiting for the job holds no server thread.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from sdstudio.api.convert import Limits, decode_bytes, png_b64
from sdstudio.core.errors import ModelError
from sdstudio.core.jobs import JobCancelled, JobFailed, JobFinished, JobQueue
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


def replay_router(queue: JobQueue, library: Any, limits: Limits) -> APIRouter:
    router = APIRouter()

    @router.post("/sdstudio/v1/replay", response_model=ReplayResponse)
    async def replay(body: ReplayBody) -> dict[str, Any]:
        from sdstudio.core.replay import ReplayError, compare, environment_changes, read_recipe

        # 1. the recipe, the model by hash, the overrides: every check before the job is queued
        data = decode_bytes(body.image, "image", limits)
        try:
            recipe = read_recipe(data, queue.store)
            request = recipe.bind(library).replace(**_overrides(body.overrides))
        except ReplayError as e:
            raise RequestError("image", str(e)) from None
        except ModelError as e:
            raise HTTPException(422, str(e)) from None
        # 2. the job on the shared queue; its result is kept here, not saved to the gallery
        kept: list[Result] = []

        def task(engine: Any, on_step: Any, cancel: Any) -> Result:
            kept.append(engine.run(request, on_step=on_step, cancel=cancel))
            return Result(request, ())

        job = queue.submit(request, source="api", task=task)
        try:
            while (final := queue.wait(job, 0)) is None:
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:  # the client went away
            queue.cancel(job.id)
            raise
        if isinstance(final, JobFailed):
            raise HTTPException(503 if "out of memory" in final.message.lower() else 422, final.message)
        if isinstance(final, JobCancelled) or not kept:
            raise HTTPException(409, "the replay was cancelled")
        assert isinstance(final, JobFinished)
        # 3. the picture and the comparison
        return _response(kept[0], data if body.verify else None, recipe, compare, environment_changes)

    return router


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
