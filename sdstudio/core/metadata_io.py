"""Atomic file writes: a crash leaves the old file (or folder) or none, never half of one."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


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


def atomic_folder(folder: Path, build: Callable[[Path], object]) -> None:
    """Build a folder into a temporary sibling, then rename it into place (another process may win the race)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        build(tmp)
        try:
            os.replace(tmp, folder)
        except OSError:  # another process won the race
            if not folder.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
