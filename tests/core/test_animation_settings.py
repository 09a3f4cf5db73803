"""Deforum settings files: the repository's defaults read, unknown keys reported once, unsupported refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sdstudio.core.animation.plan import make_plan, seed_sequence
from sdstudio.core.animation.schedule import ScheduleError
from sdstudio.core.animation.settings import (
    AnimationSettings,
    SettingsError,
    read_settings,
    settings_from_dict,
)

DEFAULTS = Path(__file__).parent / "animation_fixtures" / "deforum_default_settings.txt"


def test_deforum_default_settings_file_is_read() -> None:
    loaded = read_settings(DEFAULTS)
    s = loaded.settings
    assert (s.W, s.H, s.steps, s.sampler, s.max_frames, s.fps) == (512, 512, 25, "Euler a", 120, 15)
    assert s.diffusion_cadence == 2 and s.color_coherence == "LAB" and s.seed_behavior == "iter"
    assert s.zoom == "0: (1.0025+0.002*sin(1.25*3.14*t/30))"
    assert set(s.prompts) == {"0", "30", "60", "90"}
    # every key of Deforum's own file is known: the only note is the one feature it turns on that we skip
    assert loaded.notes == (
        "enable_noise_multiplier_scheduling: the noise multiplier schedule is not applied",
    )
    # its animation_mode is 3D, which needs a depth model: refused with the fix
    with pytest.raises(SettingsError, match="3D needs a depth model.*set animation_mode to 2D"):
        s.validate()
    plan = make_plan(s.replace(animation_mode="2D").validate(), 1234)
    assert plan.prompts[45][0].startswith("anthropomorphic clean cat")
    assert plan.prompts[45][1] == "nsfw, nude"
    assert plan.diffused[:3] == (0, 2, 4) and [plan.seeds[d] for d in plan.diffused[:3]] == [1234, 1235, 1236]


def test_unknown_keys_reported_once_in_one_note() -> None:
    loaded = settings_from_dict({"max_frames": 4, "zoomm": "0:(1)", "foo": 1, "show_info_on_ui": True})
    assert loaded.notes == ("unknown settings ignored: foo, zoomm",)


@pytest.mark.parametrize(
    "data,message",
    [
        ({"animation_mode": "Video Input"}, "animation_mode: 'Video Input' is not supported"),
        ({"use_mask": True}, "use_mask: masks are not supported"),
        ({"hybrid_motion": "Optical Flow"}, "hybrid_motion: hybrid video is not supported"),
        ({"cn_2_enabled": True}, "cn_2_enabled: ControlNet is not supported"),
        ({"color_coherence": "Image"}, "color_coherence: 'Image' is not supported"),
        ({"W": 500}, "W: 500 must be a multiple of 8"),
        ({"seed_behavior": "wobble"}, "seed_behavior: 'wobble' is not valid"),
        ({"max_frames": "ten"}, "max_frames: 'ten' cannot be read"),
        (
            {"use_init": True, "init_image": "https://deforum.github.io/a1/I1.png"},
            "web addresses are not fetched",
        ),
    ],
)
def test_unsupported_settings_are_refused_clearly(data: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        settings_from_dict(data).settings.validate()


def test_bad_schedule_in_file_names_schedule_and_keyframe() -> None:
    s = settings_from_dict({"translation_x": "0:(0), 10:(3*sin(t/))"}).settings
    with pytest.raises(ScheduleError, match=r"translation_x: keyframe 10: .* at column"):
        s.validate()


def test_old_names_and_values_are_understood() -> None:
    s = settings_from_dict(
        {
            "flip_2d_perspective": True,
            "color_coherence": "Match Frame 0 HSV",
            "animation_prompts": json.dumps({"0": "a"}),
            "diffusion_cadence": "3",
            "noise_schedule": 0.02,
        }
    ).settings
    assert s.enable_perspective_flip and s.color_coherence == "HSV" and s.prompts == {"0": "a"}
    assert s.diffusion_cadence == 3 and s.noise_schedule == "0: (0.02)"


def test_our_own_format_round_trips(tmp_path: Path) -> None:
    s = AnimationSettings(max_frames=9, prompts={"0": "a", "5": "b --neg c"}, model="demo", seed=3)
    path = tmp_path / "anim.txt"
    path.write_text(s.to_json(), encoding="utf-8")
    loaded = read_settings(path)
    assert loaded.settings == s and loaded.notes == ()


def test_unreadable_file_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"bad.txt is not Deforum's JSON settings \(line 1"):
        read_settings(bad)
    with pytest.raises(SettingsError, match="cannot read"):
        read_settings(tmp_path / "missing.txt")


@pytest.mark.parametrize(
    "behavior,expected",
    [
        ("iter", [10, 11, 12, 13, 14]),
        ("fixed", [10] * 5),
        ("ladder", [10, 12, 11, 13, 12]),
        ("alternate", [10, 11, 10, 11, 10]),
    ],
)
def test_seed_behaviours(behavior: str, expected: list[int]) -> None:
    s = AnimationSettings(seed_behavior=behavior, max_frames=5)
    assert seed_sequence(s, 10, [0, 1, 2, 3, 4]) == expected


def test_random_and_scheduled_seeds_repeat_for_the_same_run_seed() -> None:
    s = AnimationSettings(seed_behavior="random", max_frames=5)
    a = seed_sequence(s, 10, [0, 1, 2, 3, 4])
    assert a == seed_sequence(s, 10, [0, 1, 2, 3, 4]) and len(set(a)) == 5 and a[0] == 10
    sched = AnimationSettings(seed_behavior="schedule", max_frames=6)  # Deforum's default seed schedule
    got = seed_sequence(sched, 42, list(range(6)))
    assert got[0] == 42 and got[5] == 42 and got[4] == 42 and got[1] != 42
    assert got == seed_sequence(sched, 42, list(range(6)))
    every_other = AnimationSettings(seed_behavior="iter", seed_iter_N=2, max_frames=5)
    assert seed_sequence(every_other, 0, [0, 1, 2, 3, 4]) == [0, 1, 1, 2, 2]
