"""Where installed models go: the library folder in A1111's layout, one subfolder per kind."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from sdstudio.core.install.plan import InstallError
from sdstudio.core.models.entries import Kind

# The studio's own library is an A1111 root, so A1111's tools (and the scanner) read it as one.
KIND_FOLDERS: dict[Kind, str] = {
    Kind.checkpoint: "models/Stable-diffusion",
    Kind.lora: "models/Lora",
    Kind.vae: "models/VAE",
    Kind.embedding: "embeddings",
    Kind.controlnet: "models/ControlNet",
    Kind.ip_adapter: "models/ipadapter",
    Kind.clip_vision: "models/clip_vision",
    Kind.upscaler: "models/ESRGAN",
    Kind.taesd: "models/VAE-approx",
}
DOWNLOADS = ".downloads"  # partial files; never scanned, so a half file is never listed
DISK_MARGIN = 256 * 2**20
_UNSAFE = re.compile(r'[<>:"|?*\x00-\x1f\\]')


def kind_folder(library: Path, kind: Kind) -> Path:
    return library / KIND_FOLDERS[kind]


def downloads_folder(library: Path) -> Path:
    return library / DOWNLOADS


def prepare(library: Path) -> None:
    """Create the library's marker folder so the scanner reads it as an A1111 root."""
    (library / KIND_FOLDERS[Kind.checkpoint]).mkdir(parents=True, exist_ok=True)


def safe_name(name: str) -> str:
    """A file name (or sub/name) that stays inside its folder: no absolute paths, no '..', no odd characters."""
    parts = [p for p in _UNSAFE.sub("_", name.replace("\\", "/")).split("/") if p not in ("", ".", "..")]
    if not parts:
        raise InstallError(f"{name!r} is not a usable file name")
    return "/".join(p.strip() or "_" for p in parts)


def check_space(folder: Path, needed: int) -> None:
    """Refuse before downloading when the disk cannot take `needed` more bytes (plus a margin)."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if needed + DISK_MARGIN > free:
        raise InstallError(
            f"not enough disk space in {folder}: the download needs {human_size(needed)} "
            f"and {human_size(free)} is free"
        )


def human_size(n: int | float | None) -> str:
    if n is None:
        return "?"
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}" if unit == "GB" else f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"
