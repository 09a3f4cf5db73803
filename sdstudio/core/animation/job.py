"""An animation as a job of the one queue: it renders and encodes on the worker, reporting frames as
Progress (phase "frames"), so the window's status bar and /sdapi/v1/progress show it like any job."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sdstudio.core.animation.encode import encode_animation
from sdstudio.core.animation.render import AnimationProgress, AnimationResult, Animator
from sdstudio.core.animation.settings import AnimationSettings
from sdstudio.core.protocols import EngineService
from sdstudio.core.request import Mode, Progress, Request, Result

if TYPE_CHECKING:
    from sdstudio.core.gallery.index import Record


log = logging.getLogger(__name__)


class VideoGallery(Protocol):
    """Where a finished animation is registered (the gallery store)."""

    def add_video(self, video: Path, project: Path) -> Record: ...


def register_video(gallery: VideoGallery | None, video: Path | None, project: Path) -> Record | None:
    """Put a finished video in the gallery; a failure is logged and loses nothing (video and frames stay)."""
    if gallery is None or video is None:
        return None
    try:
        return gallery.add_video(video, project)
    except (OSError, ValueError, sqlite3.Error) as e:
        log.warning("the animation %s could not be added to the gallery: %s", video, e)
        return None


def describe(settings: AnimationSettings) -> Request:
    """The request that stands for the animation in the queue: its first frame."""
    from sdstudio.core.animation.prompts import frame_prompts

    positive, negative = frame_prompts(
        dict(settings.prompts), 1, settings.positive_prompts, settings.negative_prompts
    )[0]
    return Request(
        prompt=positive,
        negative_prompt=negative,
        mode=Mode.txt2img,
        steps=settings.steps,
        width=settings.W,
        height=settings.H,
        seed=settings.seed,
        sampler=settings.sampler,
        model=settings.model,
    )


def as_progress(p: AnimationProgress) -> Progress:
    preview = p.frame if p.frame is not None else (p.step.preview if p.step is not None else None)
    return Progress(p.done, p.total, p.elapsed, p.eta, preview, phase="frames")


def animation_task(
    settings: AnimationSettings,
    project: Path,
    output: Path | None,
    resume: bool = False,
    on_animation: Callable[[AnimationProgress], None] | None = None,
    on_done: Callable[[AnimationResult, Path | None], None] | None = None,
    gallery: VideoGallery | None = None,
) -> Callable[[EngineService, Callable[[Progress], None], threading.Event], Result]:
    """A queue task rendering `settings` into `project`, then encoding `output` (None: frames only) and
    registering the video in `gallery`."""

    def task(engine: EngineService, on_step: Callable[[Progress], None], cancel: threading.Event) -> Result:
        def progress(p: AnimationProgress) -> None:
            on_step(as_progress(p))
            if on_animation is not None:
                on_animation(p)

        result = Animator(engine, settings, project).render(progress, cancel, resume)
        video = (
            encode_animation(result.project.frame_paths(), output, result.settings)
            if output is not None
            else None
        )
        register_video(gallery, video, result.project.root)
        if on_done is not None:
            on_done(result, video)
        request = describe(result.settings)
        return Result(request, (), engine.model_name, engine.model_hash, result.elapsed)

    return task
