"""`sdstudio animate SETTINGS -o OUT.mp4`: a Deforum-style animation from a settings file, headless."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sdstudio.cli import CliError, open_gallery
from sdstudio.cli.bars import FrameBar

if TYPE_CHECKING:
    pass


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "animate",
        help="render a Deforum-style animation from a settings file to MP4, GIF or WebP",
        description="Render a Deforum 2D animation. SETTINGS is a Deforum settings .txt (JSON) or one saved "
        "by sdstudio. Frames, settings and a thumbnail go to the project folder OUT-animation/.",
    )
    p.add_argument("settings", type=Path, metavar="SETTINGS")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.mp4", help=".mp4, .gif or .webp")
    p.add_argument(
        "--model", default=None, metavar="ID_OR_PATH", help="model name, hash, folder, file or hub id"
    )
    p.add_argument(
        "--frames", type=int, default=None, metavar="N", help="render N frames (the settings' max_frames)"
    )
    p.add_argument("--resume", action="store_true", help="continue from the last finished frame (same seeds)")
    p.add_argument(
        "--project", type=Path, default=None, metavar="DIR", help="project folder (default OUT-animation)"
    )
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sdstudio.core.animation.encode import EncodeError, check_output, encode_animation
    from sdstudio.core.animation.project import ProjectError
    from sdstudio.core.animation.settings import SettingsError, read_settings
    from sdstudio.core.errors import Cancelled, EngineError, RequestError

    # 1. everything checked before the model loads: output type, settings, schedules, overrides
    try:
        check_output(args.output)
        loaded = read_settings(args.settings)
        settings = loaded.settings
        if args.frames is not None:
            settings = settings.replace(max_frames=args.frames)
        if args.model is not None:
            settings = settings.replace(model=args.model)
        settings.validate()
    except (EncodeError, ValueError) as e:  # SettingsError, ScheduleError
        raise CliError(str(e)) from None
    for note in loaded.notes:
        print(f"sdstudio: note: {note}", file=sys.stderr)

    # 2. render into the project folder (frames kept on cancel or failure)
    from sdstudio.core.animation.project import project_for
    from sdstudio.core.animation.render import Animator
    from sdstudio.core.root import engine_for, load_settings, open_library

    project = args.project or project_for(args.output)
    studio_settings = load_settings()
    engine = engine_for(open_library(studio_settings), args.device)
    animator = Animator(engine, settings, project)
    try:
        result = animator.render(on_progress=FrameBar(), resume=args.resume)
    except (ProjectError, SettingsError, RequestError) as e:
        raise CliError(str(e)) from None
    except EngineError as e:
        raise CliError(f"{e}; the finished frames are kept in {project} (--resume continues)") from None
    except (Cancelled, KeyboardInterrupt):
        done = animator.project.finished()
        print(
            f"\nsdstudio: interrupted after {done} frame(s); run again with --resume to continue",
            file=sys.stderr,
        )
        return 130

    # 3. the video; a failed encode keeps the frames, and --resume encodes again
    try:
        out = encode_animation(result.project.frame_paths(), args.output, result.settings)
    except EncodeError as e:
        raise CliError(
            f"{e}; the frames are kept in {project}; run again with --resume to encode again"
        ) from None
    print(
        f"{out}  {result.frames} frames at {result.settings.fps:g} fps, seed {result.seed}, project {project}"
    )
    _to_gallery(out, result.project.root, studio_settings.outputs_path())
    return 0


def _to_gallery(video: Path, project: Path, outputs: Path) -> None:
    """Register the finished video in the gallery the window shows; a failure is a note, the video stays."""
    from sdstudio.core.animation.job import register_video

    store = open_gallery(outputs, "the video is not listed there")
    if store is None:
        return
    try:
        if register_video(store, video, project) is None:
            print("sdstudio: note: the video could not be added to the gallery", file=sys.stderr)
    finally:
        store.close()
