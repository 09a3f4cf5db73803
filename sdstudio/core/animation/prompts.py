"""Prompts keyed by frame, as Deforum writes them: `{"0": "a cat --neg blurry", "max_f/2": "a dog"}`.

Each keyframe's prompt holds until the next one; `--neg` splits positive from negative; text between
backticks is an expression of `t` and `max_f` (`(cat:`0.5+t/100`)`); the global positive and negative
prompts are added to every frame. A1111 prompt syntax inside passes through unchanged to the engine.
"""

from __future__ import annotations

import re

import numpy as np

from sdstudio.core.animation.expr import ExpressionError, parse
from sdstudio.core.animation.schedule import ScheduleError

_BACKTICK = re.compile(r"`([^`]*)`")
_INT = re.compile(r"^\s*[+-]?\d+\s*$")


def prompt_keyframes(prompts: dict[str, str], max_frames: int) -> dict[int, str]:
    """Frame → prompt text; keys may be expressions of `max_f`. Raises ScheduleError naming the key."""
    if not prompts:
        raise ScheduleError("prompts", None, 'no prompt given; write at least {"0": "your prompt"}')
    out: dict[int, str] = {}
    for key, text in prompts.items():
        key = str(key)
        if not isinstance(text, str):
            raise ScheduleError("prompts", key, f"the prompt must be text, got {type(text).__name__}")
        if _INT.match(key):
            frame = int(key)
        else:
            try:
                value = float(parse(key.strip("\"' "), ("max_f",)).evaluate(max_f=max_frames - 1))
            except ExpressionError as e:
                raise ScheduleError(
                    "prompts", repr(key), f"the frame is not a number or expression ({e})"
                ) from None
            if not np.isfinite(value):
                raise ScheduleError("prompts", repr(key), "the frame is not a finite number")
            frame = int(value)
        out[frame] = text
    return dict(sorted(out.items()))


def _expand_backticks(text: str, frame: int, max_frames: int) -> str:
    def one(m: re.Match[str]) -> str:
        try:
            value = float(parse(m.group(1)).evaluate(t=frame, max_f=max_frames - 1, s=0))
        except ExpressionError as e:
            raise ScheduleError("prompts", f"`{m.group(1)}`", str(e)) from None
        return f"{value:g}"

    return _BACKTICK.sub(one, text)


def split_negative(text: str) -> tuple[str, str]:
    """`"a cat --neg blurry"` → ("a cat", "blurry"); every part after a `--neg` is negative."""
    positive, *negatives = text.split("--neg")
    return positive.strip(), " ".join(n.strip() for n in negatives if n.strip())


def frame_prompts(
    prompts: dict[str, str], max_frames: int, positive: str = "", negative: str = ""
) -> list[tuple[str, str]]:
    """(positive, negative) for every frame 0..max_frames-1."""
    keys = prompt_keyframes(prompts, max_frames)
    frames = sorted(keys)
    out: list[tuple[str, str]] = []
    current = keys[frames[0]]
    for i in range(max_frames):
        current = keys.get(i, current)
        pos, neg = split_negative(_expand_backticks(current, i, max_frames))
        pos = " ".join(p for p in (positive.strip(), pos) if p)
        extra = negative.replace("--neg", "").strip()
        neg = ", ".join(n for n in (neg, "" if extra and extra in neg else extra) if n)
        out.append((pos, neg))
    return out
