"""The GUI-independent core: requests, prompts, engine, models, gallery. Never imports Qt."""

import os

# transformers and diffusers warn loudly about optional extras (torchvision, xformers) users cannot act on.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
