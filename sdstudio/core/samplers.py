"""Samplers by their A1111 names, mapped to diffusers schedulers: the one table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sdstudio.core.jsontypes import JsonObject

if TYPE_CHECKING:
    from diffusers import SchedulerMixin


@dataclass(frozen=True)
class Sampler:
    name: str  # A1111's full name, e.g. "DPM++ 2M Karras"
    scheduler: str  # diffusers class name
    config: JsonObject = field(default_factory=dict)
    base: str = ""  # A1111 "Sampler:" value without the schedule, e.g. "DPM++ 2M"
    schedule: str = "Automatic"  # A1111 "Schedule type:" value
    aliases: tuple[str, ...] = ()

    def build(self, base_config: JsonObject) -> SchedulerMixin:
        """A scheduler of this kind from a model's scheduler config (its betas, prediction type...)."""
        import inspect

        import diffusers

        cls = getattr(diffusers, self.scheduler)
        accepted = set(inspect.signature(cls.__init__).parameters)
        config = {k: v for k, v in dict(base_config).items() if k in accepted}
        # Settings of other samplers must not leak into this one.
        for key in (
            "use_karras_sigmas",
            "algorithm_type",
            "solver_order",
            "timestep_spacing",
            "final_sigmas_type",
        ):
            config.pop(key, None)
        config.update(self.config)
        return cls.from_config(config)


_K = {"use_karras_sigmas": True}
_SDE = {"algorithm_type": "sde-dpmsolver++"}
_TRAILING = {"timestep_spacing": "trailing"}

_TABLE = [
    Sampler(
        "Euler a", "EulerAncestralDiscreteScheduler", {}, "Euler a", aliases=("k_euler_a", "euler_ancestral")
    ),
    Sampler("Euler", "EulerDiscreteScheduler", {}, "Euler", aliases=("k_euler", "euler")),
    # SGM Uniform (trailing timesteps): what few-step models (SD-Turbo, SDXL-Turbo, Lightning) are trained on
    Sampler("Euler a SGM Uniform", "EulerAncestralDiscreteScheduler", _TRAILING, "Euler a", "SGM Uniform"),
    Sampler("Euler SGM Uniform", "EulerDiscreteScheduler", _TRAILING, "Euler", "SGM Uniform"),
    Sampler("LMS", "LMSDiscreteScheduler", {}, "LMS", aliases=("k_lms", "lms")),
    Sampler("LMS Karras", "LMSDiscreteScheduler", _K, "LMS", "Karras"),
    Sampler("Heun", "HeunDiscreteScheduler", {}, "Heun", aliases=("k_heun", "heun")),
    Sampler("DPM2", "KDPM2DiscreteScheduler", {}, "DPM2", aliases=("k_dpm_2",)),
    Sampler("DPM2 Karras", "KDPM2DiscreteScheduler", _K, "DPM2", "Karras"),
    Sampler("DPM2 a", "KDPM2AncestralDiscreteScheduler", {}, "DPM2 a", aliases=("k_dpm_2_a",)),
    Sampler("DPM2 a Karras", "KDPM2AncestralDiscreteScheduler", _K, "DPM2 a", "Karras"),
    Sampler("DPM++ 2S a", "DPMSolverSinglestepScheduler", {}, "DPM++ 2S a"),
    Sampler("DPM++ 2M", "DPMSolverMultistepScheduler", {}, "DPM++ 2M", aliases=("dpmpp_2m",)),
    Sampler("DPM++ 2M Karras", "DPMSolverMultistepScheduler", _K, "DPM++ 2M", "Karras"),
    Sampler("DPM++ 2M SDE", "DPMSolverMultistepScheduler", _SDE, "DPM++ 2M SDE", aliases=("dpmpp_2m_sde",)),
    Sampler("DPM++ 2M SDE Karras", "DPMSolverMultistepScheduler", _SDE | _K, "DPM++ 2M SDE", "Karras"),
    Sampler("DPM++ 3M SDE", "DPMSolverMultistepScheduler", _SDE | {"solver_order": 3}, "DPM++ 3M SDE"),
    Sampler(
        "DPM++ 3M SDE Karras",
        "DPMSolverMultistepScheduler",
        _SDE | {"solver_order": 3} | _K,
        "DPM++ 3M SDE",
        "Karras",
    ),
    Sampler("DPM++ SDE", "DPMSolverSDEScheduler", {}, "DPM++ SDE"),
    Sampler("DPM++ SDE Karras", "DPMSolverSDEScheduler", _K, "DPM++ SDE", "Karras"),
    Sampler("DDIM", "DDIMScheduler", {}, "DDIM", aliases=("ddim",)),
    Sampler("PLMS", "PNDMScheduler", {"skip_prk_steps": True}, "PLMS", aliases=("plms", "pndm")),
    Sampler("UniPC", "UniPCMultistepScheduler", {}, "UniPC", aliases=("unipc",)),
    Sampler("LCM", "LCMScheduler", {}, "LCM", aliases=("lcm",)),
    Sampler("DDPM", "DDPMScheduler", {}, "DDPM"),
]

# A1111's "Schedule type" names (1.9+) as diffusers scheduler settings. A1111's other types have no
# diffusers equivalent and are refused by name, never dropped.
SCHEDULES: dict[str, JsonObject] = {
    "Automatic": {},
    "Uniform": {"timestep_spacing": "linspace"},
    "Karras": _K,
    "Exponential": {"use_exponential_sigmas": True},
    "Beta": {"use_beta_sigmas": True},
    "SGM Uniform": {"timestep_spacing": "trailing"},
    "Simple": {"timestep_spacing": "trailing"},
    "Normal": {"timestep_spacing": "linspace"},
    "DDIM": {"timestep_spacing": "leading"},
}
_SIGMA_KEYS = ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas")
_SIGMA_SCHEDULERS = {
    "EulerDiscreteScheduler",
    "LMSDiscreteScheduler",
    "HeunDiscreteScheduler",
    "KDPM2DiscreteScheduler",
    "KDPM2AncestralDiscreteScheduler",
    "DPMSolverSinglestepScheduler",
    "DPMSolverMultistepScheduler",
    "DPMSolverSDEScheduler",
    "UniPCMultistepScheduler",
}
_NO_SPACING = {"DPMSolverSinglestepScheduler"}


class ScheduleError(ValueError):
    """A schedule type this sampler cannot run (or one without a diffusers equivalent)."""


class _Table(dict):
    """The samplers by name; "<sampler> <schedule type>" names (e.g. "Euler Exponential") resolve on lookup
    while iterating lists only the table itself (what the window's sampler list shows)."""

    def __missing__(self, key: str) -> Sampler:
        if isinstance(key, str):
            for base in _TABLE:
                rest = key[len(base.name) + 1 :]
                if base.schedule == "Automatic" and key.startswith(base.name + " ") and rest in SCHEDULES:
                    try:
                        return with_schedule(base, rest)
                    except ScheduleError:
                        break
        raise KeyError(key)

    def get(self, key: str, default: Sampler | None = None) -> Sampler | None:  # type: ignore[override]
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None


SAMPLERS: dict[str, Sampler] = _Table({s.name: s for s in _TABLE})
DEFAULT_SAMPLER = "DPM++ 2M Karras"
_BY_LOWER = {s.name.lower(): s for s in _TABLE} | {a.lower(): s for s in _TABLE for a in s.aliases}
_SCHEDULES_LOWER = {k.lower(): k for k in SCHEDULES}


def with_schedule(sampler: Sampler, schedule: str) -> Sampler:
    """The sampler with an A1111 schedule type; ScheduleError says why not."""
    label = _SCHEDULES_LOWER.get(schedule.strip().lower())
    if label is None:
        raise ScheduleError(
            f"schedule type {schedule!r} has no diffusers equivalent here; use one of {', '.join(SCHEDULES)}"
        )
    if label == "Automatic":  # the sampler's own (a legacy "DPM++ 2M Karras" stays Karras)
        return sampler
    base = _BY_LOWER[sampler.base.lower()] if sampler.schedule != "Automatic" else sampler
    named = dict.get(SAMPLERS, f"{base.name} {label}")  # a table entry (e.g. "DPM++ 2M Karras") itself
    if named is not None:
        return named
    config = SCHEDULES[label]
    if (any(k in config for k in _SIGMA_KEYS) and base.scheduler not in _SIGMA_SCHEDULERS) or (
        "timestep_spacing" in config and base.scheduler in _NO_SPACING
    ):
        raise ScheduleError(f"{base.name} cannot run with the {label} schedule type; use Automatic")
    return Sampler(f"{base.name} {label}", base.scheduler, base.config | config, base.base, label)


def find_sampler(name: str, schedule: str | None = None) -> Sampler | None:
    """Look up by A1111 name (any case, aliases), or by base name plus schedule type as A1111 1.9+ writes it.
    None: no such sampler; ScheduleError: the schedule type cannot run with it."""
    key = (name or "").strip().lower()
    found = _BY_LOWER.get(key)
    if found is None and key:
        for label in SCHEDULES:  # "Euler Exponential": a combined name
            if found is None and key.endswith(" " + label.lower()):
                base = _BY_LOWER.get(key[: -len(label) - 1])
                found = with_schedule(base, label) if base is not None else None
    if found is None or not schedule or not schedule.strip():
        return found
    return with_schedule(found, schedule)
