"""Frames to a video chosen by the suffix: MP4 (H.264 through PyAV's bundled FFmpeg), GIF or animated WebP
(Pillow), optionally with interpolated in-betweens (the frame rate multiplied, so the duration stays).
The file appears only when complete; a failed encode leaves the frames as they are."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from sdstudio.core.animation.interpolate import expand, expanded_count

if TYPE_CHECKING:
    from PIL import Image

    from sdstudio.core.animation.settings import AnimationSettings


SUFFIXES = (".mp4", ".gif", ".webp")


class EncodeError(RuntimeError):
    """The video could not be written; the frames are untouched and can be encoded again."""


def check_output(path: Path) -> None:
    """Refuse an output suffix we cannot write, before any rendering."""
    if path.suffix.lower() not in SUFFIXES:
        raise EncodeError(
            f"{path}: unknown video type {path.suffix or '(none)'!r}; use {', '.join(SUFFIXES)}"
        )


def encode(
    frames: list[Path],
    out: Path,
    fps: float,
    on_frame: Callable[[int, int], None] | None = None,
    interpolation: int = 1,
    method: str = "flow",
) -> Path:
    """Write `frames` (PNG files) to `out` at `fps`, with `interpolation`-1 in-betweens between each two
    (made by `method`, at `fps` times `interpolation`); raises EncodeError with the reason."""
    out = Path(out)
    check_output(out)
    if not frames:
        raise EncodeError("there are no frames to encode")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=out.suffix, dir=out.parent)
        os.close(fd)
    except OSError as e:
        raise EncodeError(f"cannot write {out}: {e.strerror or e}") from None
    try:
        kind = out.suffix.lower()
        pictures = _pictures(frames, interpolation, method)
        total, rate = expanded_count(len(frames), interpolation), fps * max(1, interpolation)
        if kind == ".mp4":
            _mp4(pictures, total, Path(tmp), rate, on_frame)
        else:
            _pillow(pictures, Path(tmp), rate, kind)
        os.replace(tmp, out)
    except EncodeError:
        Path(tmp).unlink(missing_ok=True)
        raise
    except Exception as e:  # the encoder's own errors (codec, disk) become one line; frames stay
        Path(tmp).unlink(missing_ok=True)
        raise EncodeError(f"encoding {out.name} failed: {type(e).__name__}: {e}") from e
    return out


def encode_animation(frames: list[Path], out: Path, settings: AnimationSettings) -> Path:
    """Encode an animation's frames as its settings say (frame rate, interpolation)."""
    return encode(
        frames,
        out,
        settings.fps,
        interpolation=settings.frame_interpolation,
        method=settings.frame_interpolation_method,
    )


def _pictures(frames: list[Path], interpolation: int, method: str) -> Iterator[Image.Image]:
    """The frames read one at a time as RGB pictures, with the in-betweens."""
    import numpy as np
    from PIL import Image

    def read() -> Iterator[np.ndarray]:
        for p in frames:
            with Image.open(p) as im:
                yield np.asarray(im.convert("RGB"))

    for array in expand(read(), interpolation, method):
        yield Image.fromarray(array)


def _mp4(
    pictures: Iterator[Image.Image],
    total: int,
    path: Path,
    fps: float,
    on_frame: Callable[[int, int], None] | None,
) -> None:
    try:
        import av
    except ImportError:
        raise EncodeError("MP4 needs PyAV (pip install av); GIF and WebP work without it") from None

    if "libx264" not in av.codecs_available:
        raise EncodeError("this PyAV build has no H.264 encoder (libx264); write .gif or .webp instead")
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "17", "preset": "medium"}
        for i, rgb in enumerate(pictures):
            if i == 0:
                stream.width, stream.height = rgb.size
            frame = av.VideoFrame.from_image(rgb)
            for packet in stream.encode(frame):
                container.mux(packet)
            if on_frame is not None:
                on_frame(i + 1, total)
        for packet in stream.encode():
            container.mux(packet)


def _pillow(pictures: Iterator[Image.Image], path: Path, fps: float, kind: str) -> None:
    images = list(pictures)
    duration = max(1, round(1000 / fps))
    options = {"loop": 0, "duration": duration, "save_all": True, "append_images": images[1:]}
    if kind == ".webp":
        options |= {"quality": 90, "method": 4}
    images[0].save(path, format="GIF" if kind == ".gif" else "WEBP", **options)
