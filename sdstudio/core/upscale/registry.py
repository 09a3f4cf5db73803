"""The upscalers one can name: A1111's built-in ones and every model file in the library's upscaler folders."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sdstudio.core.protocols import Library
from sdstudio.core.request import RequestError

_SCALE = re.compile(r"(?:^|[^a-z0-9])(?:x(\d)|(\d)x)(?:[^a-z0-9]|plus|$)", re.IGNORECASE)


@dataclass(frozen=True)
class Upscaler:
    """One upscaler. kind "none" resizes with Lanczos (A1111's "None"), "resize" is a plain filter,
    "model" a network file loaded with spandrel."""

    name: str
    kind: str
    path: str = ""
    scale: int = 4  # a model's factor as its file name says it (the loaded model's own wins)

    @property
    def is_model(self) -> bool:
        return self.kind == "model"


BUILTIN: tuple[Upscaler, ...] = (
    Upscaler("None", "none", scale=1),
    Upscaler("Lanczos", "resize"),
    Upscaler("Nearest", "resize"),
)


def scale_from_name(name: str) -> int:
    """The factor a file name announces ("4x-UltraSharp", "RealESRGAN_x2plus"); 4 when it says none."""
    match = _SCALE.search(name)
    return int(match.group(1) or match.group(2)) if match else 4


def model_upscalers(library: Library) -> list[Upscaler]:
    return [
        Upscaler(path.stem, "model", str(path), scale_from_name(path.stem))
        for path in library.upscaler_files()
    ]


def all_upscalers(library: Library | None) -> list[Upscaler]:
    """The built-in upscalers, then the library's model files by name."""
    return list(BUILTIN) + (model_upscalers(library) if library is not None else [])


def find_upscaler(name: str, library: Library | None, field: str = "upscaler") -> Upscaler:
    """The upscaler called `name` (case-insensitive; a model also by its file name); RequestError if none."""
    choices = all_upscalers(library)
    wanted = name.strip().lower()
    for up in choices:
        if wanted in (up.name.lower(), Path(up.path).name.lower() if up.path else ""):
            return up
    known = ", ".join(u.name for u in choices)
    raise RequestError(field, f"unknown upscaler {name!r}; known: {known}")
