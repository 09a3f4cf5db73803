"""The GUI-independent core: requests, prompts, engine, models, gallery. Never imports Qt."""

import os

# transformers and diffusers warn loudly about optional extras (torchvision, xformers) users cannot act on.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")


def quiet_libraries() -> None:
    """Silence diffusers' and transformers' own progress bars (sdstudio reports progress itself)."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
