"""Frames to a video chosen by the suffix: MP4 (H.264 through PyAV's bundled FFmpeg), GIF or animated WebP
(Pillow). The file appears only when complete; a failed encode leaves the frames as they are."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

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
    frames: list[Path], out: Path, fps: float, on_frame: Callable[[int, int], None] | None = None
) -> Path:
    """Write `frames` (PNG files) to `out` at `fps`; raises EncodeError with the reason."""
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
        if kind == ".mp4":
            _mp4(frames, Path(tmp), fps, on_frame)
        else:
            _pillow(frames, Path(tmp), fps, kind)
        os.replace(tmp, out)
    except EncodeError:
        Path(tmp).unlink(missing_ok=True)
        raise
    except Exception as e:  # the encoder's own errors (codec, disk) become one line; frames stay
        Path(tmp).unlink(missing_ok=True)
        raise EncodeError(f"encoding {out.name} failed: {type(e).__name__}: {e}") from e
    return out


def _mp4(frames: list[Path], path: Path, fps: float, on_frame: Callable[[int, int], None] | None) -> None:
    try:
        import av
    except ImportError:
        raise EncodeError("MP4 needs PyAV (pip install av); GIF and WebP work without it") from None
    from PIL import Image

    if "libx264" not in av.codecs_available:
        raise EncodeError("this PyAV build has no H.264 encoder (libx264); write .gif or .webp instead")
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "17", "preset": "medium"}
        for i, p in enumerate(frames):
            with Image.open(p) as im:
                rgb = im.convert("RGB")
            if i == 0:
                stream.width, stream.height = rgb.size
            frame = av.VideoFrame.from_image(rgb)
            for packet in stream.encode(frame):
                container.mux(packet)
            if on_frame is not None:
                on_frame(i + 1, len(frames))
        for packet in stream.encode():
            container.mux(packet)


def _pillow(frames: list[Path], path: Path, fps: float, kind: str) -> None:
    from PIL import Image

    images = []
    for p in frames:
        with Image.open(p) as im:
            images.append(im.convert("RGB"))
    duration = max(1, round(1000 / fps))
    options = {"loop": 0, "duration": duration, "save_all": True, "append_images": images[1:]}
    if kind == ".webp":
        options |= {"quality": 90, "method": 4}
    images[0].save(path, format="GIF" if kind == ".gif" else "WEBP", **options)
