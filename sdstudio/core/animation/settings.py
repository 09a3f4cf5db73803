"""Animation settings: Deforum's names and defaults (its settings .txt reads as is), and our own saved form.

Our own file is the same JSON with `"sdstudio_animation": 1` and the model; Deforum reads it back too.
Unknown keys are reported once; features that would change the picture and are not supported are refused.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sdstudio.core.animation import deforum_keys
from sdstudio.core.animation.color import MODES
from sdstudio.core.animation.interpolate import MAX_FACTOR, METHODS
from sdstudio.core.animation.prompts import prompt_keyframes
from sdstudio.core.animation.schedule import ScheduleError, parse_schedule
from sdstudio.core.jsontypes import JsonObject
from sdstudio.core.request import MAX_SEED, MAX_SIDE, RANDOM_SEEDS
from sdstudio.core.samplers import SAMPLERS

FORMAT_KEY = "sdstudio_animation"
SEED_BEHAVIORS = ("iter", "fixed", "random", "ladder", "alternate", "schedule")
MAX_FRAMES = 100_000
FieldValue = str | int | float | bool | dict[str, str] | None  # a settings field's value, as _coerce makes it


class SettingsError(ValueError):
    """Settings that cannot be rendered; the message names the key and the fix."""


def _schedule(default: str) -> str:
    """A field holding a Deforum schedule (`0: (1.0), 30: (0.5)`), `default` until set."""
    return field(default=default, metadata={"schedule": True})


@dataclass(frozen=True)
class AnimationSettings:
    """One animation. Field names and defaults are Deforum's (its args.py), so its files map one to one."""

    W: int = 512
    H: int = 512
    seed: int = -1
    sampler: str = "Euler a"
    steps: int = 25
    seed_behavior: str = "iter"
    seed_iter_N: int = 1
    use_init: bool = False
    strength: float = 0.8
    strength_0_no_init: bool = True
    init_image: str | None = None
    prompts: Mapping[str, str] = field(default_factory=lambda: {"0": ""})
    positive_prompts: str = ""
    negative_prompts: str = ""
    animation_mode: str = "2D"
    max_frames: int = 120
    border: str = "replicate"
    angle: str = _schedule("0: (0)")
    zoom: str = _schedule("0: (1.0025+0.002*sin(1.25*3.14*t/30))")
    translation_x: str = _schedule("0: (0)")
    translation_y: str = _schedule("0: (0)")
    transform_center_x: str = _schedule("0: (0.5)")
    transform_center_y: str = _schedule("0: (0.5)")
    enable_perspective_flip: bool = False
    perspective_flip_theta: str = _schedule("0: (0)")
    perspective_flip_phi: str = _schedule("0: (0)")
    perspective_flip_gamma: str = _schedule("0: (0)")
    perspective_flip_fv: str = _schedule("0: (53)")
    noise_schedule: str = _schedule("0: (0.065)")
    strength_schedule: str = _schedule("0: (0.65)")
    contrast_schedule: str = _schedule("0: (1.0)")
    cfg_scale_schedule: str = _schedule("0: (7)")
    enable_steps_scheduling: bool = False
    steps_schedule: str = _schedule("0: (25)")
    seed_schedule: str = _schedule('0:(s), 1:(-1), "max_f-2":(-1), "max_f-1":(s)')
    enable_sampler_scheduling: bool = False
    sampler_schedule: str = field(default='0: ("Euler a")', metadata={"strings": True})
    enable_clipskip_scheduling: bool = False
    clipskip_schedule: str = _schedule("0: (2)")
    amount_schedule: str = _schedule("0: (0.1)")
    kernel_schedule: str = _schedule("0: (5)")
    sigma_schedule: str = _schedule("0: (1)")
    threshold_schedule: str = _schedule("0: (0)")
    color_coherence: str = "LAB"
    color_force_grayscale: bool = False
    legacy_colormatch: bool = False
    diffusion_cadence: int = 2
    noise_type: str = "perlin"
    perlin_w: float = 8
    perlin_h: float = 8
    perlin_octaves: int = 4
    perlin_persistence: float = 0.5
    fps: float = 15
    # ours: in-betweens per rendered frame in the video (1 off, 2 = x2, 3 = x3; the frame rate multiplied) and
    # how they are made ("flow": optical flow, "blend": cross-fade); Deforum's RIFE/FILM choice maps to it
    frame_interpolation: int = 1
    frame_interpolation_method: str = "flow"
    model: str = ""  # ours: the model that rendered it ("" = the library's default)

    def replace(self, **changes: object) -> AnimationSettings:
        """A copy with `changes` (field name -> value); dataclasses.replace checks the names."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def resolved(self) -> AnimationSettings:
        """These settings with a random seed (-1) drawn, so a resumed run gets the same seeds."""
        return self if self.seed >= 0 else self.replace(seed=secrets.randbelow(RANDOM_SEEDS))

    @classmethod
    def schedule_fields(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.metadata.get("schedule")]

    # -- validation ------------------------------------------------------------------------------
    def validate(self) -> AnimationSettings:
        """Check every value before any work; raises SettingsError or ScheduleError naming the key."""
        if self.animation_mode == "3D":
            raise SettingsError(
                "animation_mode: 3D needs a depth model, which sdstudio does not have; set animation_mode to 2D"
            )
        if self.animation_mode != "2D":
            raise SettingsError(f"animation_mode: {self.animation_mode!r} is not supported; set it to 2D")
        for name in ("W", "H"):
            v = getattr(self, name)
            if not 64 <= v <= MAX_SIDE or v % 8:
                raise SettingsError(f"{name}: {v} must be a multiple of 8 from 64 to {MAX_SIDE}")
        checks = (
            ("max_frames", 1 <= self.max_frames <= MAX_FRAMES, f"use 1 to {MAX_FRAMES}"),
            ("steps", 1 <= self.steps <= 150, "use 1 to 150"),
            ("diffusion_cadence", 1 <= self.diffusion_cadence <= 50, "use 1 to 50"),
            ("fps", 0 < self.fps <= 240, "use a frame rate above 0 and up to 240"),
            (
                "frame_interpolation",
                1 <= self.frame_interpolation <= MAX_FACTOR,
                f"use 1 (off), 2 (x2) up to {MAX_FACTOR}",
            ),
            (
                "frame_interpolation_method",
                self.frame_interpolation_method in METHODS,
                f"use one of {', '.join(METHODS)}",
            ),
            ("seed", -1 <= self.seed <= MAX_SEED, f"use -1 (random) or 0 to {MAX_SEED}"),
            ("seed_iter_N", self.seed_iter_N >= 1, "use 1 or more"),
            ("strength", 0 <= self.strength <= 1, "use 0 to 1"),
            ("border", self.border in ("replicate", "wrap"), "use replicate or wrap"),
            (
                "seed_behavior",
                self.seed_behavior in SEED_BEHAVIORS,
                f"use one of {', '.join(SEED_BEHAVIORS)}",
            ),
            ("color_coherence", self.color_coherence in ("None",) + MODES, "use None, RGB, HSV or LAB"),
            ("noise_type", self.noise_type in ("uniform", "perlin"), "use uniform or perlin"),
            ("sampler", self.sampler in SAMPLERS, f"known samplers: {', '.join(SAMPLERS)}"),
        )
        for name, ok, fix in checks:
            if not ok:
                raise SettingsError(f"{name}: {getattr(self, name)!r} is not valid; {fix}")
        if self.use_init and not self.init_image:
            raise SettingsError("init_image: use_init is on but no init image is given")
        if self.use_init and str(self.init_image).startswith(("http://", "https://")):
            raise SettingsError(
                "init_image: web addresses are not fetched; download the picture and give its path"
            )
        # every schedule parses, with the keyframe at fault named
        for name in self.schedule_fields():
            parse_schedule(name, getattr(self, name), self.max_frames, max(self.seed, 0))
        samplers = parse_schedule("sampler_schedule", self.sampler_schedule, self.max_frames, strings=True)
        if self.enable_sampler_scheduling:
            for name in set(samplers.strings(self.max_frames)):
                if name not in SAMPLERS:
                    raise ScheduleError("sampler_schedule", None, f"unknown sampler {name!r}")
        prompt_keyframes(dict(self.prompts), self.max_frames)
        return self

    # -- our own file ----------------------------------------------------------------------------
    def to_dict(self) -> JsonObject:
        out: JsonObject = {FORMAT_KEY: 1}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = dict(v) if f.name == "prompts" else v
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=4, ensure_ascii=False)


_FIELDS = {f.name: f for f in dataclasses.fields(AnimationSettings)}


def _real(value: object) -> float:
    """float() of a JSON value: a number or a numeric string; TypeError (as float() raises it) for the rest."""
    if not isinstance(value, (str, int, float)):
        raise TypeError(f"float() argument must be a string or a real number, not {type(value).__name__!r}")
    return float(value)


def _coerce(name: str, value: object) -> FieldValue:
    """A JSON value as the field's type (Deforum files hold numbers as strings at times)."""
    kind = _FIELDS[name].type
    try:
        if name == "prompts":
            if isinstance(value, str):
                value = json.loads(value)
            if not isinstance(value, dict):
                raise TypeError("prompts must be an object of frame: prompt")
            return {str(k): str(v) for k, v in value.items()}
        if kind == "bool":
            return value.strip().lower() == "true" if isinstance(value, str) else bool(value)
        if kind == "int":
            f = _real(value)
            if f != int(f):
                raise ValueError(f"{value!r} is not a whole number")
            return int(f)
        if kind == "float":
            return _real(value)
        if kind == "str | None":
            return None if value in (None, "") else str(value)
        if name in AnimationSettings.schedule_fields() and isinstance(value, (int, float)):
            return f"0: ({value})"  # an old file's plain number
        return str(value)
    except (TypeError, ValueError, json.JSONDecodeError) as e:
        raise SettingsError(f"{name}: {value!r} cannot be read ({e})") from None


@dataclass(frozen=True)
class LoadedSettings:
    settings: AnimationSettings
    notes: tuple[str, ...] = ()  # unknown keys, and features noted as not applied: report each once


def settings_from_dict(data: JsonObject) -> LoadedSettings:
    """Deforum's settings dict (or ours) → settings; missing keys take Deforum's defaults."""
    if not isinstance(data, dict):
        raise SettingsError("the settings must be a JSON object of Deforum's keys")
    data = {deforum_keys.RENAMED.get(k, k): v for k, v in data.items()}
    # 1. Deforum's other names for the prompts, and its old colour-coherence values
    for other, ours in (
        ("animation_prompts", "prompts"),
        ("animation_prompts_positive", "positive_prompts"),
        ("animation_prompts_negative", "negative_prompts"),
    ):
        if other in data and ours not in data:
            data[ours] = data[other]
        data.pop(other, None)
    if deforum_keys.is_on(data.get("frame_interpolation_engine")) and "frame_interpolation" not in data:
        data["frame_interpolation"] = data.get("frame_interpolation_x_amount", 2)  # RIFE/FILM: flow here
    if isinstance(data.get("color_coherence"), str) and data["color_coherence"].startswith("Match Frame 0 "):
        data["color_coherence"] = data["color_coherence"].removeprefix("Match Frame 0 ")
    if data.get("color_coherence") in ("Image", "Video Input"):
        raise SettingsError(
            f"color_coherence: {data['color_coherence']!r} is not supported; use RGB, HSV or LAB"
        )
    # 2. features that are switched on but not supported
    refusals, notes = deforum_keys.check_features(data)
    if refusals:
        raise SettingsError("; ".join(refusals))
    # 3. our fields, typed; everything else known to Deforum is ignored, the rest reported once
    values: JsonObject = {}
    unknown: list[str] = []
    for key, value in data.items():
        if key in _FIELDS:
            values[key] = _coerce(key, value)
        elif key != FORMAT_KEY and not deforum_keys.is_known(key):
            unknown.append(key)
    if unknown:
        notes.append(f"unknown settings ignored: {', '.join(sorted(unknown))}")
    return LoadedSettings(AnimationSettings(**values), tuple(notes))


def read_settings(path: str | Path) -> LoadedSettings:
    """Read a Deforum settings .txt (JSON) or our own saved animation; errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise SettingsError(f"cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{path} is not a text settings file") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SettingsError(f"{path} is not Deforum's JSON settings (line {e.lineno}: {e.msg})") from None
    return settings_from_dict(data)
