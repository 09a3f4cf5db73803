"""Reading a picture's generation parameters: sdstudio's own chunk, else what another tool wrote."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from sdstudio.core import schema
from sdstudio.core.gallery.importers import from_other_tool
from sdstudio.core.gallery.metadata import CHUNK, ImageParameters

log = logging.getLogger(__name__)


def read_parameters(source: str | Path | bytes) -> ImageParameters:
    """Generation parameters of an image made by sdstudio or another tool."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
            img.load()
            text = {k: v for k, v in (getattr(img, "text", None) or img.info).items() if isinstance(v, str)}
    except (UnidentifiedImageError, OSError) as e:
        name = "image" if isinstance(source, bytes) else str(source)
        raise ValueError(f"{name}: not a readable image ({e})") from None
    if CHUNK in text:
        try:
            request, extras = schema.loads(text[CHUNK])
            return ImageParameters(
                text.get("parameters", ""),
                request,
                "sdstudio",
                str(extras.get("model_name", "")),
                extras.get("parent"),
                extras,
            )
        except schema.SchemaError as e:  # a newer or damaged chunk: the A1111 text still says a lot
            log.warning("sdstudio chunk not read: %s", e)
    return from_other_tool(text)
