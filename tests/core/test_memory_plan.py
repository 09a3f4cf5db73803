"""Offload and VAE tiling chosen from free VRAM: a pure function of free bytes, family and size."""

from __future__ import annotations

import pytest

from sdstudio.core.speed.memory import GIB, plan_memory


@pytest.mark.parametrize(
    ("free_gib", "family", "offload", "tiling"),
    [
        (80, "sdxl", "none", False),  # a big card: everything resident
        (24, "sdxl", "none", False),
        (12, "sdxl", "none", True),  # the model fits, the fp32 decode beside it does not: tiles
        (8, "sdxl", "model", True),  # SDXL on 8 GB: components take turns, the VAE decodes in tiles
        (5, "sdxl", "sequential", True),  # not even the UNet fits
        (8, "sd1", "none", False),
        (3, "sd1", "none", True),
        (2.7, "sd1", "model", True),
        (1.5, "sd1", "sequential", True),
    ],
)
def test_the_plan_follows_free_memory(free_gib: float, family: str, offload: str, tiling: bool) -> None:
    plan = plan_memory(int(free_gib * GIB), family)
    assert (plan.offload, plan.vae_tiling) == (offload, tiling), plan.reason
    assert plan.reason


def test_a_bigger_picture_or_batch_needs_more() -> None:
    free = int(9.5 * GIB)
    assert plan_memory(free, "sdxl").offload == "none"
    assert plan_memory(free, "sdxl", 2048, 2048).offload != "none"
    assert plan_memory(free, "sdxl", batch=4).offload != "none"


def test_an_unknown_family_is_planned_as_the_largest() -> None:
    assert plan_memory(8 * GIB, "") == plan_memory(8 * GIB, "sdxl")
