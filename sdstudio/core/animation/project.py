"""The project folder of one animation: `settings.txt` (seed resolved), `frames/000000000.png`..., and
`thumbnail.png`. Frames are written atomically, so the finished ones are exactly the files present."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from sdstudio.core.animation.settings import AnimationSettings, settings_from_dict

SETTINGS_NAME = "settings.txt"
MARKER_NAME = (
    ".sdstudio-animation"  # the gallery does not index a folder holding it (frames are not pictures)
)
THUMBNAIL_SIZE = 256
PNG_BYTES_PER_PIXEL = 2.0  # a generous estimate of a frame's PNG size per pixel


def project_for(output: Path) -> Path:
    """The project folder beside a video: `out.mp4` → `out-animation/`."""
    return output.parent / f"{output.stem}-animation"


class ProjectError(ValueError):
    """The project folder cannot be used as asked; the message says why and what to do."""


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Project:
    def __init__(self, root: Path):
        self.root = Path(root)

    @property
    def settings_path(self) -> Path:
        return self.root / SETTINGS_NAME

    @property
    def frames_dir(self) -> Path:
        return self.root / "frames"

    @property
    def thumbnail_path(self) -> Path:
        return self.root / "thumbnail.png"

    def frame_path(self, index: int) -> Path:
        return self.frames_dir / f"{index:09d}.png"

    def finished(self) -> int:
        """How many frames from 0 on are on disk without a gap."""
        n = 0
        while self.frame_path(n).is_file():
            n += 1
        return n

    def frame_paths(self) -> list[Path]:
        return [self.frame_path(i) for i in range(self.finished())]

    def saved_settings(self) -> AnimationSettings | None:
        if not self.settings_path.is_file():
            return None
        try:
            return settings_from_dict(json.loads(self.settings_path.read_text(encoding="utf-8"))).settings
        except (OSError, ValueError) as e:
            raise ProjectError(f"{self.settings_path} cannot be read ({e}); choose another output") from None

    # -- opening ---------------------------------------------------------------------------------
    def prepare(self, settings: AnimationSettings, resume: bool) -> AnimationSettings:
        """Check the folder fits the run and write the settings; returns the settings to render
        (on resume, the saved ones with their resolved seed)."""
        saved = self.saved_settings()
        done = self.finished()
        if resume:
            if saved is None:
                raise ProjectError(f"{self.root} holds no animation to resume; run without --resume")
            wanted = settings.replace(seed=saved.seed) if settings.seed == -1 else settings
            diff = sorted(k for k, v in wanted.to_dict().items() if saved.to_dict().get(k) != v)
            if diff:
                raise ProjectError(
                    f"{self.root} was rendered with other settings ({', '.join(diff)}); resuming would not give "
                    "the same frames. Use the same settings or another output"
                )
            return saved
        if done or (self.root.exists() and any(p.name != MARKER_NAME for p in self.root.iterdir())):
            what = f"already has {done} frame(s)" if done else "is not empty"
            raise ProjectError(f"{self.root} {what}; use --resume to continue, or choose another output")
        settings = settings.resolved()
        self.frames_dir.mkdir(parents=True, exist_ok=True)
        (self.root / MARKER_NAME).touch()
        _atomic_write(self.settings_path, settings.to_json().encode("utf-8"))
        return settings

    def check_space(self, settings: AnimationSettings, frames_left: int) -> None:
        """Refuse to start when the frames (and the video) would not fit on the disk."""
        need = int(frames_left * settings.W * settings.H * PNG_BYTES_PER_PIXEL * 1.2) + 1_000_000
        probe = self.root if self.root.exists() else self.root.parent
        try:
            free = shutil.disk_usage(probe).free
        except OSError:
            return  # the folder's disk cannot be asked; the writes themselves will say
        if free < need:
            raise ProjectError(
                f"not enough disk space in {probe}: the frames need about {need / 1e6:.0f} MB, "
                f"{free / 1e6:.0f} MB are free"
            )

    # -- frames ----------------------------------------------------------------------------------
    def write_frame(self, index: int, frame: np.ndarray, text: dict[str, str] | None = None) -> Path:
        import io

        from PIL import Image, PngImagePlugin

        info = PngImagePlugin.PngInfo()
        for k, v in (text or {}).items():
            info.add_text(k, v)
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, format="PNG", pnginfo=info, compress_level=1)
        path = self.frame_path(index)
        _atomic_write(path, buf.getvalue())
        return path

    def read_frame(self, index: int) -> np.ndarray:
        from PIL import Image

        try:
            with Image.open(self.frame_path(index)) as im:
                return np.asarray(im.convert("RGB")).copy()
        except OSError as e:
            raise ProjectError(f"frame {index} ({self.frame_path(index)}) cannot be read: {e}") from None

    def write_thumbnail(self, frame: np.ndarray) -> None:
        import io

        from PIL import Image

        im = Image.fromarray(frame)
        im.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        _atomic_write(self.thumbnail_path, buf.getvalue())
