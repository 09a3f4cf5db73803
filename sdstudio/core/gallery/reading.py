"""Reading a picture's generation parameters: sdstudio's own chunk, else what another tool wrote."""

from __future__ import annotations

import logging
from pathlib import Path

from sdstudio.core import schema
from sdstudio.core.gallery.importers import from_other_tool
from sdstudio.core.gallery.metadata import CHUNK, ImageParameters

log = logging.getLogger(__name__)


MAX_METADATA_PIXELS = 16384 * 16384  # past this a file is not a picture we read metadata from


def read_parameters(source: str | Path | bytes) -> ImageParameters:
    """Generation parameters of an image made by sdstudio or another tool. An unreadable file raises
    ValueError (RequestError) with the reason; odd or foreign metadata gives what could be read, never raises."""
    text = _text_chunks(source)
    if CHUNK in text:
        try:
            request, extras = schema.loads(text[CHUNK])
            model, parent = extras.get("model_name", ""), extras.get("parent")
            return ImageParameters(
                text.get("parameters", ""),
                request,
                "sdstudio",
                model if isinstance(model, str) else "",
                parent if isinstance(parent, str) else None,
                extras,
            )
        except schema.SchemaError as e:  # a newer or damaged chunk: the A1111 text still says a lot
            log.warning("sdstudio chunk not read: %s", e)
        except (
            KeyError,
            TypeError,
            AttributeError,
            RecursionError,
        ) as e:  # crafted values inside the request
            log.warning("sdstudio chunk not read: %s: %s", type(e).__name__, e)
    return from_other_tool(text)


def _text_chunks(source: str | Path | bytes) -> dict[str, str]:
    """The text chunks of a picture (Pillow caps each inflated chunk at 1 MiB, all of them at 64 MiB)."""
    from PIL import Image

    from sdstudio.core.request import RequestError, open_image

    name = "image" if isinstance(source, bytes) else str(source)
    if isinstance(source, bytes):
        img = open_image(source, name, MAX_METADATA_PIXELS)
    else:
        try:
            img = Image.open(source)
        except OSError as e:
            raise RequestError(name, f"not a readable image ({e})") from None
        except Exception as e:  # decompression bombs, corrupt headers
            raise RequestError(name, f"not a readable image ({type(e).__name__}: {e})") from None
        try:
            if img.width * img.height > MAX_METADATA_PIXELS:
                raise RequestError(name, f"image has {img.width * img.height:,} pixels; too large to read")
            img.load()
        except RequestError:
            img.close()
            raise
        except Exception as e:  # truncated or corrupt image data
            img.close()
            raise RequestError(name, f"not a readable image ({type(e).__name__}: {e})") from None
    with img:
        chunks = getattr(img, "text", None) or img.info
        return {k: v for k, v in chunks.items() if isinstance(k, str) and isinstance(v, str)}
