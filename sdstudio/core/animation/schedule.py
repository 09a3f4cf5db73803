"""Deforum keyframe schedules: `"0:(1.0), 30:(1.02+0.01*sin(2*3.14*t/24))"` → one value per frame.

As Deforum does: a number keyframe is interpolated linearly to the next number; an expression keyframe is
evaluated at every frame (`t` the frame, `max_f` the last frame, `s` the seed) until the next keyframe; frames
before the first keyframe and after the last hold its value. Frame keys may be expressions too (`"max_f-2"`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from sdstudio.core.animation.expr import Expression, ExpressionError, parse

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)$")


class ScheduleError(ValueError):
    """A bad schedule: names the schedule and the keyframe, and says what is wrong."""

    def __init__(self, schedule: str, keyframe: str | None, message: str):
        where = f"{schedule}: keyframe {keyframe}" if keyframe is not None else schedule
        super().__init__(f"{where}: {message}")
        self.schedule, self.keyframe, self.message = schedule, keyframe, message


@dataclass(frozen=True)
class Keyframe:
    frame: int
    text: str  # the value as written
    number: float | None  # a plain number, interpolated linearly
    expression: Expression | None  # evaluated per frame until the next keyframe
    string: str | None = None  # for string schedules (sampler names)


def _clean(text: str) -> str:
    return text.replace("'", "").replace('"', "").replace("(", "").replace(")", "").strip()


def split_keyframes(text: str) -> list[tuple[str, str]]:
    """`"0:(1), 30:(sin(t))"` → [("0", "(1)"), ("30", "(sin(t))")]; commas inside brackets or quotes stay."""
    parts: list[str] = []
    depth, quote, start = 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    if depth != 0 or quote:
        what = "a quote is not closed" if quote else "the parentheses do not balance"
        raise ValueError(f"{text.strip()!r}: {what}")
    out: list[tuple[str, str]] = []
    for part in parts:
        if not part.strip():
            continue
        key, sep, value = _split_colon(part)
        if not sep:
            raise ValueError(f"{part.strip()!r} is not written as FRAME:(VALUE), e.g. 0:(1.0)")
        out.append((key.strip(), value.strip()))
    return out


def _split_colon(part: str) -> tuple[str, str, str]:
    quote = ""
    for i, ch in enumerate(part):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == ":":
            return part[:i], ":", part[i + 1 :]
    return part, "", ""


def _frame_of(name: str, key: str, max_frames: int, seed: int) -> int:
    text = _clean(key)
    try:
        value = (
            float(text)
            if _NUMBER.match(text)
            else float(parse(text, ("max_f", "s")).evaluate(max_f=max_frames - 1, s=seed))
        )
    except ExpressionError as e:
        raise ScheduleError(name, key, f"the frame {key!r} is not a number or expression ({e})") from None
    if not np.isfinite(value) or value != int(value):
        raise ScheduleError(name, key, f"the frame {key!r} must be a whole number, got {value:g}")
    return int(value)


@dataclass(frozen=True)
class Schedule:
    name: str
    text: str
    keyframes: tuple[Keyframe, ...]

    def values(self, max_frames: int, seed: int = -1) -> np.ndarray:
        """One float per frame 0..max_frames-1, as Deforum interpolates."""
        vals = np.full(max_frames, np.nan)
        inside = [k for k in self.keyframes if 0 <= k.frame < max_frames]
        for i, k in enumerate(inside):
            end = inside[i + 1].frame if i + 1 < len(inside) else max_frames
            if k.number is not None:
                vals[k.frame] = k.number
            elif k.expression is not None:
                t = np.arange(k.frame, end, dtype=np.float64)
                got = np.broadcast_to(k.expression.evaluate(t=t, max_f=max_frames - 1, s=seed), t.shape)
                bad = ~np.isfinite(got)
                if bad.any():
                    frame = k.frame + int(np.argmax(bad))
                    raise ScheduleError(
                        self.name, str(k.frame), f"{k.text!r} is not a finite number at frame {frame}"
                    )
                vals[k.frame : end] = got
        valid = np.flatnonzero(~np.isnan(vals))
        if valid.size == 0:
            raise ScheduleError(self.name, None, f"no keyframe lies within frames 0 to {max_frames - 1}")
        vals[0], vals[-1] = vals[valid[0]], vals[valid[-1]]
        valid = np.flatnonzero(~np.isnan(vals))
        missing = np.flatnonzero(np.isnan(vals))
        vals[missing] = np.interp(missing, valid, vals[valid])
        return vals

    def strings(self, max_frames: int) -> list[str]:
        """String schedules (sampler names): each keyframe's text holds until the next one."""
        out: list[str] = []
        inside = [k for k in self.keyframes if 0 <= k.frame < max_frames and k.string is not None]
        if not inside:
            raise ScheduleError(self.name, None, f"no keyframe lies within frames 0 to {max_frames - 1}")
        current = inside[0].string or ""
        by_frame = {k.frame: k.string or "" for k in inside}
        for i in range(max_frames):
            current = by_frame.get(i, current)
            out.append(current)
        return out


def parse_schedule(name: str, text: str, max_frames: int, seed: int = -1, strings: bool = False) -> Schedule:
    """Parse a Deforum schedule; raises ScheduleError naming `name` and the keyframe at fault."""
    if not isinstance(text, str) or not text.strip():
        raise ScheduleError(name, None, "is empty; write keyframes such as 0:(1.0)")
    try:
        pairs = split_keyframes(text)
    except ValueError as e:
        raise ScheduleError(name, None, str(e)) from None
    if not pairs:
        raise ScheduleError(name, None, "has no keyframes; write keyframes such as 0:(1.0)")
    keyframes: dict[int, Keyframe] = {}
    for key, value in pairs:
        frame = _frame_of(name, key, max_frames, seed)
        cleaned = _clean(value)
        if strings:
            keyframes[frame] = Keyframe(frame, value, None, None, cleaned)
        elif _NUMBER.match(cleaned):
            keyframes[frame] = Keyframe(frame, value, float(cleaned), None)
        else:
            source = value.replace('"', "").replace("'", "")
            try:
                keyframes[frame] = Keyframe(frame, value, None, parse(source))
            except ExpressionError as e:
                raise ScheduleError(name, key, f"{value!r}: {e}") from None
    return Schedule(name, text, tuple(keyframes[f] for f in sorted(keyframes)))


def schedule_values(name: str, text: str, max_frames: int, seed: int = -1) -> np.ndarray:
    return parse_schedule(name, text, max_frames, seed).values(max_frames, seed)
