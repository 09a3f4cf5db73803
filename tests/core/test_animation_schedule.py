"""Deforum schedules, expressions and prompts: a table of what Deforum writes and the values it means."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sdstudio.core.animation.expr import ExpressionError, parse
from sdstudio.core.animation.prompts import frame_prompts
from sdstudio.core.animation.schedule import ScheduleError, parse_schedule, schedule_values

SCHEDULES = [
    ("0: (1.0)", 4, [1.0, 1.0, 1.0, 1.0]),
    ("0:(0), 10:(10)", 12, list(range(11)) + [10]),
    ("0: (0), 2: (1), 4: (0)", 5, [0, 0.5, 1, 0.5, 0]),
    ("5:(2)", 8, [2] * 8),  # before the first keyframe: its value
    ("0:(t)", 4, [0, 1, 2, 3]),
    ("0:(t*2), 3:(1)", 5, [0, 2, 4, 1, 1]),  # an expression runs until the next keyframe
    ("0:(0), 4:(t*2), 8:(1)", 10, [0, 2, 4, 6, 8, 10, 12, 14, 1, 1]),  # numbers interpolate up to it
    ("0:(max_f)", 3, [2, 2, 2]),
    ('0:(0), "max_f":(10)', 11, list(range(11))),  # a quoted expression as the frame
    ('0:(s), 1:(-1), "max_f-2":(-1), "max_f-1":(s)', 6, [42, -1, -1, -1, 42, 42]),
    ("0: (1.0025+0.002*sin(1.25*3.14*t/30))", 2, [1.0025, 1.0025 + 0.002 * math.sin(1.25 * 3.14 / 30)]),
    ("0:(2**3), 1:(-2**2), 2:(7 % 3), 3:(10/4)", 4, [8, -4, 1, 2.5]),
    ("0:(where(t > 1, 5, 1))", 3, [1, 1, 5]),
    ("0:(abs(-3) + floor(1.7) + ceil(0.2) + sqrt(16))", 1, [9]),
    ("0:(arctan2(1, 1) * 4)", 1, [math.pi]),
    ("0: (1), 1: (2), ", 2, [1, 2]),  # a trailing comma is harmless
    ("0:(0),100:(100)", 3, [0, 0, 0]),  # keyframes past the last frame are ignored, as in Deforum
]


@pytest.mark.parametrize("text,frames,expected", SCHEDULES)
def test_schedule_values(text: str, frames: int, expected: list[float]) -> None:
    got = schedule_values("zoom", text, frames, seed=42)
    assert np.allclose(got, expected), got


BAD = [
    ("", "zoom: is empty"),
    ("0:(1", "zoom: '0:(1': the parentheses do not balance"),
    ("0 (1)", "zoom: '0 (1)' is not written as FRAME:(VALUE)"),
    ("0:(1), 30:(sin(t)", "the parentheses do not balance"),
    ("0:(1), 30:(foo*t)", "zoom: keyframe 30: '(foo*t)': unknown name 'foo' at column 1"),
    ("0:(1), 30:(1+)", "zoom: keyframe 30: '(1+)': expected a number, name or '(' at column 3, found ')'"),
    ("0:(1), 30:(1/(t-31))", "zoom: keyframe 30: '(1/(t-31))' is not a finite number at frame 31"),
    ("0:(1), x:(2)", "zoom: keyframe x: the frame 'x' is not a number or expression"),
    ("0:(1), 2.5:(2)", "zoom: keyframe 2.5: the frame '2.5' must be a whole number"),
    ("0:(sin(1, 2))", "zoom: keyframe 0: '(sin(1, 2))': sin() takes 1 argument(s), got 2"),
    ("0:(1 $ 2)", "zoom: keyframe 0: '(1 $ 2)': unexpected character '$' at column 3"),
    ("50:(1)", "zoom: no keyframe lies within frames 0 to 39"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_bad_schedule_message_names_schedule_and_keyframe(text: str, message: str) -> None:
    with pytest.raises(ScheduleError) as err:
        parse_schedule("zoom", text, 40).values(40)
    assert message in str(err.value)


def test_evaluator_never_runs_python() -> None:
    for text in ("__import__('os')", "t.__class__", "open('x')", "[1][0]", "lambda: 1"):
        with pytest.raises(ExpressionError):
            parse(text)


def test_expression_precedence_matches_python() -> None:
    for text in ("-2**2", "2**3**2", "1+2*3-4/2", "(1+2)*3", "10 % 4 * 2", "2*-3", "1 < 2", "3 >= 4"):
        assert float(parse(text).evaluate()) == float(eval(text)), text  # eval only on these test literals


def test_string_schedule_holds_until_next_keyframe() -> None:
    s = parse_schedule("sampler_schedule", '0: ("Euler a"), 3: ("DPM++ 2M")', 5, strings=True)
    assert s.strings(5) == ["Euler a"] * 3 + ["DPM++ 2M"] * 2


def test_prompts_by_frame_with_neg_and_globals() -> None:
    prompts = {"0": "a cat --neg blurry", "max_f/2": "a dog", "3": "(fox:`1+t/10`) --neg ugly"}
    got = frame_prompts(prompts, 5, positive="masterpiece,", negative="lowres")
    assert got[0] == ("masterpiece, a cat", "blurry, lowres")
    assert got[2] == ("masterpiece, a dog", "lowres")
    assert got[3] == ("masterpiece, (fox:1.3)", "ugly, lowres")
    assert got[4] == ("masterpiece, (fox:1.4)", "ugly, lowres")


def test_bad_prompt_key_is_named() -> None:
    with pytest.raises(ScheduleError, match=r"prompts: keyframe 'half': the frame is not a number"):
        frame_prompts({"0": "a", "half": "b"}, 10)
