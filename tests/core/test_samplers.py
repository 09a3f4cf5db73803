from __future__ import annotations

import pytest

from sdstudio.core.demo import SD1_SCHEDULER
from sdstudio.core.samplers import SAMPLERS, find_sampler

REQUIRED = {
    "Euler a": ("EulerAncestralDiscreteScheduler", {}),
    "Euler": ("EulerDiscreteScheduler", {"use_karras_sigmas": False}),
    "DPM++ 2M": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "use_karras_sigmas": False},
    ),
    "DPM++ 2M Karras": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "use_karras_sigmas": True},
    ),
    "DPM++ 2M SDE": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "sde-dpmsolver++", "use_karras_sigmas": False},
    ),
    "DPM++ 2M SDE Karras": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "sde-dpmsolver++", "use_karras_sigmas": True},
    ),
    "DPM++ SDE Karras": ("DPMSolverSDEScheduler", {"use_karras_sigmas": True}),
    "DDIM": ("DDIMScheduler", {}),
    "UniPC": ("UniPCMultistepScheduler", {}),
    "LMS": ("LMSDiscreteScheduler", {"use_karras_sigmas": False}),
    "Heun": ("HeunDiscreteScheduler", {}),
    "LCM": ("LCMScheduler", {}),
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_builds_from_an_sd_config(name: str) -> None:
    scheduler = SAMPLERS[name].build(SD1_SCHEDULER)
    assert type(scheduler).__name__ == SAMPLERS[name].scheduler
    # the model's noise schedule is kept
    assert scheduler.config.beta_schedule == "scaled_linear"
    assert scheduler.config.beta_start == SD1_SCHEDULER["beta_start"]
    assert scheduler.config.num_train_timesteps == 1000
    scheduler.set_timesteps(5)


@pytest.mark.parametrize(("name", "expected"), sorted(REQUIRED.items()))
def test_required_samplers_map_to_expected_config(name: str, expected: tuple[str, dict]) -> None:
    cls, config = expected
    scheduler = SAMPLERS[name].build(
        SD1_SCHEDULER | {"use_karras_sigmas": True, "algorithm_type": "dpmsolver"}
    )
    assert type(scheduler).__name__ == cls
    for key, value in config.items():
        assert scheduler.config[key] == value, key


def test_lookup_by_a1111_base_and_schedule_type() -> None:
    assert find_sampler("DPM++ 2M", "Karras").name == "DPM++ 2M Karras"
    assert find_sampler("dpm++ 2m sde karras").name == "DPM++ 2M SDE Karras"
    assert find_sampler("Euler a", "Automatic").name == "Euler a"
    assert find_sampler("k_euler_a").name == "Euler a"
    assert find_sampler("nonsense") is None
    for s in SAMPLERS.values():
        assert find_sampler(s.base, s.schedule) is s
