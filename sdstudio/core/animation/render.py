"""The render loop: Deforum 2D on the engine. Each diffused frame is the previous frame warped, colour-matched,
contrast-adjusted, sharpened and noised, then img2img'd through Engine.run; with cadence N the N-1 frames
between are the last two diffused pictures warped along and cross-faded, as Deforum does.
"""

from __future__ import annotations

import functools
import io
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sdstudio.core.animation import filters
from sdstudio.core.animation.color import ColorMatcher
from sdstudio.core.animation.plan import FramePlan, make_plan
from sdstudio.core.animation.project import Project
from sdstudio.core.animation.settings import AnimationSettings
from sdstudio.core.animation.warp import warp
from sdstudio.core.errors import Cancelled
from sdstudio.core.protocols import Generator
from sdstudio.core.request import InputImage, Mode, Progress, Request

if TYPE_CHECKING:
    from PIL.Image import Image


@dataclass(frozen=True)
class AnimationProgress:
    """Frames finished so far; `step` is the running diffusion's step (None between frames)."""

    done: int
    total: int
    elapsed: float
    eta: float
    frame: Image | None = None  # the last finished frame, or None
    step: Progress | None = None

    @property
    def fraction(self) -> float:
        inner = self.step.step / max(1, self.step.total) if self.step is not None else 0.0
        return min(1.0, (self.done + inner) / max(1, self.total))


@dataclass(frozen=True)
class AnimationResult:
    project: Project
    frames: int
    seed: int
    elapsed: float
    settings: AnimationSettings


class Animator:
    """Renders one animation into its project folder on `engine` (anything with Engine.run's signature)."""

    def __init__(self, engine: Generator, settings: AnimationSettings, project: Project | Path):
        self.engine = engine
        self.settings = settings.validate()
        self.project = project if isinstance(project, Project) else Project(Path(project))

    def render(
        self,
        on_progress: Callable[[AnimationProgress], None] | None = None,
        cancel: threading.Event | None = None,
        resume: bool = False,
    ) -> AnimationResult:
        """Render every frame not yet on disk. Raises Cancelled (frames kept), ProjectError, engine errors."""
        # 1. the folder, the seed and every frame's parameters, checked before any diffusion
        init = self._init_image()
        settings = self.project.prepare(self.settings, resume)
        plan = make_plan(settings, settings.seed)
        n = settings.max_frames
        done = self.project.finished() if resume else 0
        if done >= n:
            return AnimationResult(self.project, n, settings.seed, 0.0, settings)
        start = max(d for d in plan.diffused if d <= min(done, n - 1))
        self.project.check_space(settings, n - start)
        # 2. state carried between segments: on resume it is read back from the frames on disk
        prev = self.project.read_frame(start - 1) if start > 0 else None
        coherent = settings.color_coherence != "None"
        sample = (
            ColorMatcher(self.project.read_frame(0), settings.color_coherence)
            if start > 0 and coherent
            else None
        )
        started = time.perf_counter()
        segments = [d for d in plan.diffused if d >= start]
        with ThreadPoolExecutor(1, thread_name_prefix="sdstudio-frames") as self._writer:
            self._writes: list[Future[Path]] = []
            try:
                self._loop(plan, segments, prev, sample, init, started, on_progress, cancel)
            finally:
                for f in self._writes:  # every frame handed to the writer is on disk before we return
                    f.result()
        self.project.write_thumbnail(self.project.read_frame(0))
        return AnimationResult(self.project, n, settings.seed, time.perf_counter() - started, settings)

    def _loop(
        self,
        plan: FramePlan,
        segments: list[int],
        prev: np.ndarray | None,
        sample: ColorMatcher | None,
        init: np.ndarray | None,
        started: float,
        on_progress: Callable[[AnimationProgress], None] | None,
        cancel: threading.Event | None,
    ) -> None:
        settings, n = plan.settings, plan.settings.max_frames
        for k, d in enumerate(segments):
            if cancel is not None and cancel.is_set():
                raise Cancelled()

            def report(step: Progress | None, finished: int, frame: Image | None = None, k: int = k) -> None:
                if on_progress is None:
                    return
                elapsed = time.perf_counter() - started
                per = elapsed / k if k else 0.0
                on_progress(AnimationProgress(finished, n, elapsed, per * (len(segments) - k), frame, step))

            # 3. the diffused picture
            source = self._prepare(plan, d, prev, sample, init)
            # step reports only for a listener: with none, the engine makes no step previews
            steps = functools.partial(report, finished=d) if on_progress is not None else None
            image = self._diffuse(plan, d, source, steps, cancel)
            if sample is not None and not settings.legacy_colormatch:
                image = sample(image)
            if settings.color_force_grayscale:
                image = _gray(image)
            if sample is None and settings.color_coherence != "None":
                sample = ColorMatcher(image, settings.color_coherence)  # "Match Frame 0"
            # 4. the frames of this segment: the last two diffused pictures warped along, cross-faded
            prev = self._segment(plan, d, prev, image, lambda j, im: report(None, j + 1, im))

    # -- steps -----------------------------------------------------------------------------------
    def _init_image(self) -> np.ndarray | None:
        s = self.settings
        if not s.use_init:
            return None
        from PIL import Image

        img = InputImage.from_file(Path(str(s.init_image)).expanduser(), "init_image").to_pil().convert("RGB")
        if img.size != (s.W, s.H):
            img = img.resize((s.W, s.H), Image.Resampling.LANCZOS)
        return np.asarray(img).copy()

    def _prepare(
        self,
        plan: FramePlan,
        d: int,
        prev: np.ndarray | None,
        sample: ColorMatcher | None,
        init: np.ndarray | None,
    ) -> np.ndarray | None:
        """The img2img source of frame d: None (txt2img), the init image, or the previous frame processed."""
        s = plan.settings
        if prev is None:
            return init
        x = warp(prev, plan.motion(d), s.border)
        if sample is not None:
            x = sample(x)
        if s.color_force_grayscale:
            x = _gray(x)
        x = filters.contrast(x, plan.value("contrast_schedule", d))
        x = filters.unsharp_mask(
            x,
            int(plan.value("kernel_schedule", d)),
            plan.value("sigma_schedule", d),
            plan.value("amount_schedule", d),
            plan.value("threshold_schedule", d),
        )
        perlin = (int(s.perlin_w), int(s.perlin_h), s.perlin_octaves, s.perlin_persistence)
        return filters.add_noise(x, plan.value("noise_schedule", d), plan.seeds[d], s.noise_type, perlin)

    def _diffuse(
        self,
        plan: FramePlan,
        d: int,
        source: np.ndarray | None,
        on_step: Callable[[Progress], None] | None,
        cancel: threading.Event | None,
    ) -> np.ndarray:
        from PIL import Image

        s = plan.settings
        positive, negative = plan.prompts[d]
        steps = plan.steps(d)
        request = Request(
            prompt=positive,
            negative_prompt=negative,
            steps=steps,
            cfg_scale=min(30.0, max(0.0, plan.value("cfg_scale_schedule", d))),
            width=s.W,
            height=s.H,
            seed=plan.seeds[d],
            sampler=plan.sampler(d),
            clip_skip=plan.clip_skip(d),
            model=s.model,
        )
        if source is not None:
            # Deforum's strength is how much of the picture stays: the denoising strength is 1 - strength
            keep = s.strength if d == 0 else plan.value("strength_schedule", d)
            denoise = 1.0 - min(1.0, max(0.0, keep))
            if int(steps * denoise) < 1:
                return source  # nothing to denoise: the picture stays as it is (A1111 runs no step either)
            buf = io.BytesIO()  # the init picture as an uncompressed PNG (the engine decodes it again)
            Image.fromarray(source).save(buf, format="PNG", compress_level=0)
            image = InputImage(buf.getvalue(), s.W, s.H)
            request = request.replace(mode=Mode.img2img, init_image=image, strength=denoise)
        result = self.engine.run(request, on_step=on_step, cancel=cancel)
        return np.asarray(result.images[0].image.convert("RGB")).copy()

    def _segment(
        self,
        plan: FramePlan,
        d: int,
        before: np.ndarray | None,
        image: np.ndarray,
        on_frame: Callable[[int, Image], None],
    ) -> np.ndarray:
        """Write frames d .. d+cadence-1; returns the last one (the next diffusion's source)."""
        from PIL import Image

        s = plan.settings
        end = min(d + s.diffusion_cadence, s.max_frames)
        length = end - d
        prev, nxt = before, image
        out = image
        for j in range(d, end):
            tween = (j - d + 1) / length
            if prev is not None and tween < 1.0:
                prev = warp(prev, plan.motion(j), s.border)
            if j > d:
                nxt = warp(nxt, plan.motion(j), s.border)
            if prev is not None and tween < 1.0:
                out = np.clip(np.rint(prev * (1.0 - tween) + nxt * tween), 0, 255).astype(np.uint8)
            else:
                out = nxt
            positive, negative = plan.prompts[d]
            meta = {
                "frame": j,
                "diffused_frame": d,
                "seed": plan.seeds[d],
                "prompt": positive,
                "negative": negative,
            }
            text = {"sdstudio-animation-frame": json.dumps(meta)}
            self._writes.append(self._writer.submit(self.project.write_frame, j, out, text))
            on_frame(j, Image.fromarray(out))
        return out


def _gray(image: np.ndarray) -> np.ndarray:
    y = np.rint(image.astype(np.float64) @ np.array([0.299, 0.587, 0.114]))
    return np.repeat(np.clip(y, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
