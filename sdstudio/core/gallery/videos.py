"""Finished animations in the gallery: a video file (MP4, GIF, animated WebP) indexed as an entry of kind
"video" with its project folder, whose settings.txt holds the settings and whose frames give the thumbnail."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from sdstudio.core.jsontypes import JsonObject

if TYPE_CHECKING:
    from PIL.Image import Image

    from sdstudio.core.animation.settings import AnimationSettings

VIDEO_SUFFIXES = (".mp4", ".gif", ".webp")
MARKER = ".sdstudio-animation"  # sdstudio.core.animation.project.MARKER_NAME
SETTINGS = "settings.txt"  # sdstudio.core.animation.project.SETTINGS_NAME


def is_project(folder: Path) -> bool:
    return (folder / MARKER).is_file() and (folder / SETTINGS).is_file()


def project_of(video: Path) -> Path | None:
    """The project folder of a video: `out-animation/` beside `out.mp4`, or the folder holding it (the API's)."""
    if video.suffix.lower() not in VIDEO_SUFFIXES:
        return None
    for folder in (video.parent / f"{video.stem}-animation", video.parent):
        if is_project(folder):
            return folder
    return None


def project_settings(project: Path) -> AnimationSettings:
    """A project's settings (seed resolved); ValueError when settings.txt cannot be read."""
    from sdstudio.core.animation.settings import read_settings

    return read_settings(project / SETTINGS).settings


def video_values(video: Path, project: Path) -> JsonObject:
    """The index row of a finished animation (ValueError when its project's settings cannot be read)."""
    from sdstudio.core.animation.prompts import frame_prompts

    settings = project_settings(project)
    prompts = frame_prompts(
        dict(settings.prompts), settings.max_frames, settings.positive_prompts, settings.negative_prompts
    )
    positives = list(dict.fromkeys(p for p, _ in prompts))  # every keyframe's prompt, searchable
    negatives = list(dict.fromkeys(n for _, n in prompts if n))
    st = video.stat()
    frames = len(list((project / "frames").glob("*.png")))
    return {
        "path": str(video.resolve()),
        "created": st.st_mtime,
        "mtime": st.st_mtime,
        "size": st.st_size,
        "prompt": "\n".join(positives),
        "negative_prompt": "\n".join(negatives),
        "model": settings.model,
        "mode": "animation",
        "seed": settings.seed if settings.seed >= 0 else None,
        "width": settings.W,
        "height": settings.H,
        "steps": settings.steps,
        "sampler": settings.sampler,
        "cfg_scale": None,
        "starred": 0,
        "pixels": None,
        "parent": None,
        "source": "sdstudio",
        "kind": "video",
        "project": str(project.resolve()),
        "origin": f"animation: {frames} frames at {settings.fps:g} fps"
        + (f", x{settings.frame_interpolation} interpolated" if settings.frame_interpolation > 1 else ""),
    }


def frame_files(project: Path) -> list[Path]:
    """The project's frames in order (000000000.png, ...), the finished ones without a gap."""
    out: list[Path] = []
    while (p := project / "frames" / f"{len(out):09d}.png").is_file():
        out.append(p)
    return out


def poster(video: Path, project: Path | None) -> Path | None:
    """The picture that stands for a video: its middle frame, else the project's thumbnail; None: decode."""
    if project is not None:
        frames = frame_files(project)
        if frames:
            return frames[len(frames) // 2]
        if (project / "thumbnail.png").is_file():
            return project / "thumbnail.png"
    return None


def decode_frames(video: Path, limit: int = 10_000) -> tuple[list[Image], float]:
    """A video's frames as RGB pictures and its frame rate: GIF and WebP through Pillow, MP4 through PyAV."""
    from PIL import Image, ImageSequence

    if video.suffix.lower() == ".mp4":
        try:
            import av
        except ImportError:
            raise ValueError(f"{video.name}: playing MP4 needs PyAV (pip install av)") from None
        out: list[Image.Image] = []
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or 15)
            for frame in container.decode(stream):
                out.append(frame.to_image().convert("RGB"))
                if len(out) >= limit:
                    break
        return out, fps
    with Image.open(video) as im:
        duration = im.info.get("duration") or 66
        frames = [f.convert("RGB") for _, f in zip(range(limit), ImageSequence.Iterator(im), strict=False)]
    return frames, 1000.0 / max(1, float(duration))


def first_frame(video: Path) -> Image:
    frames, _ = decode_frames(video, limit=1)
    if not frames:
        raise ValueError(f"{video.name}: no frames")
    return frames[0]


def find_videos(dirpath: str, filenames: list[str]) -> list[str]:
    """Video files in a folder walk's step whose project folder is known (beside it or the folder itself)."""
    out = []
    for name in filenames:
        if name.lower().endswith(VIDEO_SUFFIXES) and not name.startswith("."):
            full = os.path.join(dirpath, name)
            if project_of(Path(full)) is not None:
                out.append(full)
    return out
