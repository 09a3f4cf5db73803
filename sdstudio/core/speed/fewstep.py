"""Few-step models (SD-Turbo, SDXL-Turbo, LCM, Lightning, Hyper-SD): the sampler, steps and CFG they are made for.

At CFG 1 diffusers runs no negative batch, so a one-step picture costs one UNet call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULTS = {"sampler": "DPM++ 2M Karras", "steps": 20, "cfg_scale": 7.0}  # Request's own defaults


@dataclass(frozen=True)
class FewStep:
    """What a few-step model is made for."""

    kind: str  # "turbo", "lcm", "lightning", "hyper"
    sampler: str  # A1111 name (sdstudio.core.samplers)
    steps: int
    cfg_scale: float

    def describe(self) -> str:
        return f"{self.steps} step{'s' if self.steps > 1 else ''}, CFG {self.cfg_scale:g}, {self.sampler}"


# (pattern over the model's or a LoRA's name, profile); the first match wins
_RULES: tuple[tuple[re.Pattern[str], FewStep], ...] = (
    (re.compile(r"\blcm|lcm[-_ ]?lora|latent[-_ ]?consistency", re.I), FewStep("lcm", "LCM", 4, 1.0)),
    (re.compile(r"turbo", re.I), FewStep("turbo", "Euler a SGM Uniform", 1, 1.0)),
    (re.compile(r"lightning", re.I), FewStep("lightning", "Euler SGM Uniform", 4, 1.0)),
    (re.compile(r"hyper[-_ ]?sd", re.I), FewStep("hyper", "Euler SGM Uniform", 8, 1.0)),
)
_STEPS = re.compile(r"(\d+)[-_ ]?steps?", re.I)


def few_step_profile(name: str, scheduler_class: str = "", loras: Iterable[str] = ()) -> FewStep | None:
    """The profile of a few-step model, from its name, its scheduler class or the LoRAs a prompt names."""
    if scheduler_class == "LCMScheduler":
        return _RULES[0][1]
    for text in (name, *loras):
        for pattern, profile in _RULES:
            if pattern.search(text or ""):
                steps = _STEPS.search(text)  # "Hyper-SD15-8steps", "sdxl_lightning_2step"
                if steps and 1 <= int(steps.group(1)) <= 16:
                    return FewStep(profile.kind, profile.sampler, int(steps.group(1)), profile.cfg_scale)
                return profile
    return None
