"""Step previews never wait for the device: counted host reads and syncs with a stand-in event; the throttle."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from sdstudio.core.preview import PreviewStream, latents_to_preview, latents_to_rgb


class _Clock:
    def __init__(self, step: float):
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class _SlowCopy:
    """Stand-in for a CUDA event: the copy lands after `polls` non-blocking queries."""

    made = 0

    def __init__(self, polls: int = 2):
        self.left = polls
        _SlowCopy.made += 1

    def record(self) -> None:
        pass

    def query(self) -> bool:
        self.left -= 1
        return self.left < 0


@pytest.fixture
def blocking_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts every call that makes the host wait for a device (or reads a tensor on the host)."""
    counts = {"cpu": 0, "item": 0, "tolist": 0, "numpy": 0, "synchronize": 0}

    def counting(name: str, original: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return original(*args, **kwargs)

        return wrapper

    for name in ("cpu", "item", "tolist", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, counting(name, getattr(torch.Tensor, name)))
    monkeypatch.setattr(torch.cuda, "synchronize", counting("synchronize", torch.cuda.synchronize))
    return counts


def test_an_asynchronous_stream_reads_the_host_copy_only_once_it_has_landed(
    blocking_calls: dict[str, int],
) -> None:
    latents = torch.randn(2, 4, 8, 12)
    stream = PreviewStream("sd1", "cpu", rate=10, clock=_Clock(0.05), event_factory=_SlowCopy)
    results = [stream.offer(latents) for _ in range(20)]  # 20 steps of 50 ms: one second
    shown = [im for im in results if im is not None]
    # the copy of step k is picked up steps later, never waited for
    assert results[0] is None and shown and all(im.size == (12, 8) for im in shown)
    assert blocking_calls["numpy"] == len(shown)  # the host reads the pinned buffer only when it has landed
    assert blocking_calls["cpu"] == blocking_calls["item"] == blocking_calls["tolist"] == 0
    assert blocking_calls["synchronize"] == 0
    assert stream.started <= 10  # at most ten a second


def test_previews_are_throttled_to_ten_a_second() -> None:
    latents = torch.randn(1, 4, 8, 8)
    stream = PreviewStream("sd1", "cpu", rate=10, clock=_Clock(0.01))  # 100 steps a second
    shown = [stream.offer(latents) for _ in range(100)]
    assert 9 <= sum(im is not None for im in shown) <= 11 and shown[0] is not None


def test_the_device_map_equals_the_host_preview() -> None:
    latents = torch.randn(1, 4, 16, 16)
    rgb = latents_to_rgb(latents, "sdxl")
    assert rgb.dtype == torch.uint8 and tuple(rgb.shape) == (16, 16, 3)
    assert (torch.from_numpy(np.array(latents_to_preview(latents, "sdxl"))) == rgb).all()


def test_a_tiny_taesd_gives_a_full_size_preview() -> None:
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    taesd = AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
    ).eval()
    stream = PreviewStream("sd1", "cpu", decoder=taesd)
    image = stream.offer(torch.randn(1, 4, 8, 8))
    assert image is not None and image.size == (64, 64)
