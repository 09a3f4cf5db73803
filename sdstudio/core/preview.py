"""Step previews that never stall the device: latents to RGB on the device (a linear map, or TAESD), copied
without blocking into pinned memory and picked up at a later step once the copy has landed, at most ~10/s."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch
    from diffusers import AutoencoderTiny
    from PIL.Image import Image

# Least-squares fits of latent channels to RGB, per latent space (4 channels each).
LATENT_RGB = {
    "sd1": (
        (0.3512, 0.2297, 0.3227),
        (0.3250, 0.4974, 0.2350),
        (-0.2829, 0.1762, 0.2721),
        (-0.2120, -0.2616, -0.7177),
    ),
    "sdxl": (
        (0.3920, 0.4054, 0.4549),
        (-0.2634, -0.0196, 0.0653),
        (0.0568, 0.1687, -0.0755),
        (-0.3112, -0.2359, -0.2076),
    ),
}
PREVIEWS_PER_SECOND = 10.0


def latents_to_rgb(
    latents: torch.Tensor, space: str = "sd1", index: int = 0, decoder: AutoencoderTiny | None = None
) -> torch.Tensor:
    """One image of a latent batch as an H x W x 3 uint8 tensor, computed where the latents are (no sync).

    decoder: a TAESD (AutoencoderTiny) for a sharp full-size preview; None: the linear map at 1/8 size.
    """
    import torch

    with torch.inference_mode():
        lat = latents[index : index + 1, :4]
        if decoder is not None:
            lat = lat.to(dtype=next(decoder.parameters()).dtype)
            rgb = decoder.decode(lat, return_dict=False)[0][0].permute(1, 2, 0)  # [-1, 1], H x W x 3
        else:
            factors = _factors(space, lat.device)
            rgb = torch.einsum("chw,cr->hwr", lat[0].float(), factors)
        return ((rgb.float() + 1.0) * 127.5).clamp(0, 255).to(torch.uint8)


def _factors(space: str, device: torch.device) -> torch.Tensor:
    """The latent-to-RGB matrix on a device, made once (a host-to-device copy would wait for the device)."""
    import torch

    key = (space, str(device))
    if key not in _FACTORS:
        _FACTORS[key] = torch.tensor(LATENT_RGB.get(space, LATENT_RGB["sd1"]), device=device)
    return _FACTORS[key]


_FACTORS: dict[tuple[str, str], torch.Tensor] = {}


def latents_to_preview(
    latents: torch.Tensor, space: str = "sd1", index: int = 0, decoder: AutoencoderTiny | None = None
) -> Image:
    """One image of a latent batch as a PIL RGB image, at once (this waits for the device)."""
    from PIL import Image

    return Image.fromarray(latents_to_rgb(latents, space, index, decoder).cpu().numpy(), "RGB")


class CopyEvent(Protocol):
    """What tells that a device-to-host copy has landed (torch.cuda.Event, or _Ready)."""

    def query(self) -> bool: ...


class _Ready:
    """Stand-in event of a synchronous device: the copy is done when it returns."""

    def query(self) -> bool:
        return True


class _Copy:
    """One preview on its way from the device into host memory."""

    def __init__(self, rgb: torch.Tensor, buffer: torch.Tensor, event: CopyEvent):
        buffer.copy_(rgb, non_blocking=True)
        if hasattr(event, "record"):
            event.record()
        self.buffer, self.event = buffer, event

    def done(self) -> bool:
        return bool(self.event.query())  # never waits

    def image(self) -> Image:
        from PIL import Image

        return Image.fromarray(self.buffer.numpy().copy(), "RGB")  # the buffer is reused by the next copy


class PreviewStream:
    """Turns the latents of each step into previews without waiting for the device.

    offer(latents) starts a copy when none is in flight and the rate allows, and returns the picture of an
    earlier copy once it has landed (on CUDA typically one step later), else None.
    """

    def __init__(
        self,
        space: str,
        device: str,
        rate: float = PREVIEWS_PER_SECOND,
        decoder: AutoencoderTiny | None = None,
        clock: Callable[[], float] = time.monotonic,
        event_factory: Callable[[], CopyEvent] | None = None,
    ):
        self.space, self.decoder, self.clock = space, decoder, clock
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.asynchronous = device.startswith("cuda") or event_factory is not None
        self.pinned = device.startswith("cuda")
        self.event_factory: Callable[[], CopyEvent] = event_factory or (
            _cuda_event if self.pinned else _Ready
        )
        self._pending: _Copy | None = None
        self._buffer: torch.Tensor | None = None
        self._last = float("-inf")
        self.started = 0  # previews computed (for tests and benchmarks)

    def offer(self, latents: torch.Tensor, index: int = 0) -> Image | None:
        """The step's chance to preview: returns a PIL image ready now, or None."""
        now = self.clock()
        if self._pending is None and now - self._last >= self.interval:
            self._last = now
            self.started += 1
            rgb = latents_to_rgb(latents, self.space, index, self.decoder)
            if not self.asynchronous:
                from PIL import Image

                return Image.fromarray(rgb.numpy(), "RGB")  # a CPU tensor: nothing to wait for
            self._pending = _Copy(rgb, self._host_buffer(rgb), self.event_factory())
        if self._pending is not None and self._pending.done():
            image, self._pending = self._pending.image(), None
            return image
        return None

    def _host_buffer(self, rgb: torch.Tensor) -> torch.Tensor:
        import torch

        if self._buffer is None or tuple(self._buffer.shape) != tuple(rgb.shape):
            self._buffer = torch.empty(tuple(rgb.shape), dtype=torch.uint8, pin_memory=self.pinned)
        return self._buffer


def _cuda_event() -> CopyEvent:
    import torch

    return torch.cuda.Event()
