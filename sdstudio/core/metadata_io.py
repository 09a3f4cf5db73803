"""Writing result PNGs to a path the user named (the CLI), atomically, with full metadata."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sdstudio.core.request import GeneratedImage, Result


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file, fsync and rename: a crash leaves the old file or none, never half of one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _basic_png(gen: GeneratedImage, result: Result) -> bytes:
    import io
    import json

    from PIL.PngImagePlugin import PngInfo

    r = gen.request
    info = PngInfo()
    text = r.prompt + (f"\nNegative prompt: {r.negative_prompt}" if r.negative_prompt else "")
    text += f"\nSteps: {r.steps}, Sampler: {r.sampler}, CFG scale: {r.cfg_scale:g}, Seed: {gen.seed}, Size: {r.width}x{r.height}"
    info.add_text("parameters", text)
    info.add_text("sdstudio", json.dumps(r.to_dict(images="sha256")))
    buf = io.BytesIO()
    gen.image.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def write_png(path: Path, gen: GeneratedImage, result: Result) -> None:
    try:
        from sdstudio.core.gallery.metadata import png_bytes
    except ImportError:  # until the gallery store lands
        png_bytes = _basic_png
    atomic_write(path, png_bytes(gen, result))
