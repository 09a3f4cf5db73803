"""TAESD (AutoencoderTiny): sharp step previews and a ~10x faster decode on the CPU, from the hub cache."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from sdstudio.core.errors import ModelError

if TYPE_CHECKING:
    import torch
    from diffusers import AutoencoderTiny


REPOS = {"sd1": "madebyollin/taesd", "sdxl": "madebyollin/taesdxl"}  # SD 1.x/2.x latents, SDXL latents
_cache: dict[tuple[str, str, str], AutoencoderTiny] = {}
_lock = threading.Lock()


def load_taesd(space: str, device: str, dtype: torch.dtype) -> AutoencoderTiny:
    """The TAESD for a latent space ("sd1", "sdxl") on a device, loaded once (HF_HUB_OFFLINE honoured)."""
    key = (space, device, str(dtype))
    with _lock:
        if key not in _cache:
            from diffusers import AutoencoderTiny

            repo = REPOS.get(space, REPOS["sd1"])
            try:
                model = AutoencoderTiny.from_pretrained(repo, torch_dtype=dtype)
            except (OSError, ValueError) as e:
                raise ModelError(
                    f"TAESD {repo!r} is not available ({str(e).splitlines()[0][:160]}); download it once with "
                    f"network access, or turn TAESD off in the settings"
                ) from None
            _cache[key] = model.to(device).eval()
        return _cache[key]
