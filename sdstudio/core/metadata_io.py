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


def write_png(path: Path, gen: GeneratedImage, result: Result) -> None:
    from sdstudio.core.gallery.metadata import png_bytes

    atomic_write(path, png_bytes(gen, result))
