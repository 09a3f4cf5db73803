"""Every frame's parameters computed up front from the settings: motion, strengths, prompts and seeds.

Seeds follow Deforum's behaviours (iter, fixed, random, ladder, alternate, schedule), advancing once per
diffused frame; "random" and a scheduled -1 draw from a generator seeded by the run's seed, so a resumed run
gets the same seeds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from sdstudio.core.animation.prompts import frame_prompts
from sdstudio.core.animation.schedule import parse_schedule
from sdstudio.core.animation.settings import AnimationSettings
from sdstudio.core.animation.warp import Motion2D
from sdstudio.core.request import MAX_SEED, RANDOM_SEEDS


def seed_sequence(settings: AnimationSettings, seed: int, frames: list[int]) -> list[int]:
    """The seed of each diffused frame (in `frames` order), as Deforum's next_seed advances it."""
    rng = random.Random(seed)
    scheduled = None
    if settings.seed_behavior == "schedule":
        schedule = parse_schedule("seed_schedule", settings.seed_schedule, settings.max_frames, seed)
        scheduled = schedule.values(settings.max_frames, seed)
    out: list[int] = []
    current, internal = seed, 0
    for frame in frames:
        if scheduled is not None:
            value = int(scheduled[frame])
            current = value if value >= 0 else rng.randrange(RANDOM_SEEDS)
        out.append(current % (MAX_SEED + 1))
        # advance as Deforum's next_seed does after a diffused frame
        behavior = settings.seed_behavior
        if behavior == "iter":
            current += 1 if internal % settings.seed_iter_N == 0 else 0
            internal += 1
        elif behavior in ("ladder", "alternate"):
            up = 2 if behavior == "ladder" else 1
            current += up if internal == 0 else -1
            internal = 1 - internal
        elif behavior == "random":
            current = rng.randrange(RANDOM_SEEDS)
    return out


@dataclass(frozen=True)
class FramePlan:
    settings: AnimationSettings
    seed: int  # the run's resolved seed
    series: dict[str, np.ndarray]  # schedule name → one value per frame
    samplers: tuple[str, ...]
    prompts: tuple[tuple[str, str], ...]
    diffused: tuple[int, ...]  # the frames that are diffused; the others are warped in-betweens
    seeds: dict[int, int]  # diffused frame → seed

    def motion(self, frame: int) -> Motion2D:
        s = self.series
        flip = None
        if self.settings.enable_perspective_flip:
            flip = tuple(float(s[f"perspective_flip_{k}"][frame]) for k in ("theta", "phi", "gamma", "fv"))
        return Motion2D(
            zoom=float(s["zoom"][frame]),
            angle=float(s["angle"][frame]),
            translation_x=float(s["translation_x"][frame]),
            translation_y=float(s["translation_y"][frame]),
            center_x=float(s["transform_center_x"][frame]),
            center_y=float(s["transform_center_y"][frame]),
            flip=flip,  # type: ignore[arg-type]
        )

    def value(self, name: str, frame: int) -> float:
        return float(self.series[name][frame])

    def steps(self, frame: int) -> int:
        if self.settings.enable_steps_scheduling:
            return max(1, int(self.series["steps_schedule"][frame]))
        return self.settings.steps

    def sampler(self, frame: int) -> str:
        return self.samplers[frame] if self.settings.enable_sampler_scheduling else self.settings.sampler

    def clip_skip(self, frame: int) -> int:
        if self.settings.enable_clipskip_scheduling:
            return min(12, max(1, int(self.series["clipskip_schedule"][frame])))
        return 1


def make_plan(settings: AnimationSettings, seed: int) -> FramePlan:
    """The plan for validated `settings` rendered with the resolved `seed`."""
    n = settings.max_frames
    series = {
        name: parse_schedule(name, getattr(settings, name), n, seed).values(n, seed)
        for name in AnimationSettings.schedule_fields()
    }
    samplers = parse_schedule("sampler_schedule", settings.sampler_schedule, n, strings=True).strings(n)
    prompts = frame_prompts(dict(settings.prompts), n, settings.positive_prompts, settings.negative_prompts)
    diffused = list(range(0, n, settings.diffusion_cadence))
    seeds = dict(zip(diffused, seed_sequence(settings, seed, diffused), strict=True))
    return FramePlan(settings, seed, series, tuple(samplers), tuple(prompts), tuple(diffused), seeds)
