"""256-pixel WebP thumbnails, cached on disk by (path, size, mtime), made on whatever thread asks."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sdstudio.core import paths
from sdstudio.core.metadata_io import atomic_write

if TYPE_CHECKING:
    from PIL.Image import Image


SIZE = 256


def thumbnail(image: Path, cache: Path | None = None, decode: Callable[[Path], Image] | None = None) -> Path:
    """The cached thumbnail of image, made (again) when missing or when the image changed; `decode` reads a
    file Pillow does not open as a picture (a video's first frame)."""
    from PIL import Image

    st = image.stat()
    key = hashlib.sha1(f"{image.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()
    out = (cache or paths.data_dir() / "thumbs") / key[:2] / f"{key}.webp"
    if out.exists():
        return out
    with decode(image) if decode is not None else Image.open(image) as img:
        img.thumbnail((SIZE, SIZE), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        img.convert("RGBA" if "A" in img.getbands() else "RGB").save(buf, format="WEBP", quality=85)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, buf.getvalue())
    return out
