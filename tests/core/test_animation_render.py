"""The render loop on the real engine (tiny demo model, 64×64, one or two steps): video read back, resume."""

from __future__ import annotations

import threading
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from sdstudio.core.animation.encode import EncodeError, encode
from sdstudio.core.animation.project import Project, ProjectError
from sdstudio.core.animation.render import AnimationProgress, Animator
from sdstudio.core.animation.settings import AnimationSettings
from sdstudio.core.engine import Engine
from sdstudio.core.errors import Cancelled


def tiny(**changes: object) -> AnimationSettings:
    base = AnimationSettings(
        W=64,
        H=64,
        steps=2,
        max_frames=5,
        diffusion_cadence=2,
        seed=7,
        fps=12,
        prompts={"0": "a red lighthouse --neg blurry", "3": "a blue lighthouse"},
        zoom="0:(1.04)",
        angle="0:(1.5*sin(t))",
        strength_schedule="0:(0.5)",
    )
    return base.replace(**changes)


def _frames(project: Project) -> list[np.ndarray]:
    return [project.read_frame(i) for i in range(project.finished())]


def test_render_to_mp4_gif_and_webp_read_back(cpu_engine: Engine, tmp_path: Path) -> None:
    seen: list[AnimationProgress] = []
    result = Animator(cpu_engine, tiny(), tmp_path / "proj").render(on_progress=seen.append)
    assert result.frames == 5 and result.project.finished() == 5
    assert (tmp_path / "proj" / "settings.txt").is_file() and (tmp_path / "proj" / "thumbnail.png").is_file()
    # per-frame progress, with step progress inside the diffused frames, reaching the last frame
    assert [p.done for p in seen if p.step is None] == [1, 2, 3, 4, 5]
    assert any(p.step is not None for p in seen) and seen[-1].fraction == 1.0
    frames = _frames(result.project)
    assert not np.array_equal(frames[0], frames[1])  # the camera moves

    mp4 = encode(result.project.frame_paths(), tmp_path / "out.mp4", result.settings.fps)
    with av.open(str(mp4)) as container:
        stream = container.streams.video[0]
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        assert stream.codec_context.name == "h264" and float(stream.average_rate) == 12
    assert len(decoded) == 5 and decoded[0].shape == (64, 64, 3)
    assert np.abs(decoded[2].astype(int) - frames[2]).mean() < 12  # lossy, but the same picture

    gif = encode(result.project.frame_paths(), tmp_path / "out.gif", 12)
    webp = encode(result.project.frame_paths(), tmp_path / "out.webp", 12)
    for path in (gif, webp):
        with Image.open(path) as im:
            assert im.n_frames == 5 and im.size == (64, 64)
            im.seek(1)
            im.load()
            assert abs(im.info["duration"] - 1000 / 12) <= 10  # GIF keeps centiseconds


def test_cancel_keeps_frames_and_resume_gives_identical_frames(cpu_engine: Engine, tmp_path: Path) -> None:
    settings = tiny(max_frames=6, seed=-1, seed_behavior="random")
    cancel = threading.Event()

    def stop_after_four(p: AnimationProgress) -> None:
        if p.done >= 4 and p.step is None:
            cancel.set()

    interrupted = Animator(cpu_engine, settings, tmp_path / "b")
    with pytest.raises(Cancelled):
        interrupted.render(on_progress=stop_after_four, cancel=cancel)
    assert interrupted.project.finished() == 4
    with pytest.raises(ProjectError, match="already has 4 frame"):  # no silent overwrite
        Animator(cpu_engine, settings, tmp_path / "b").render()

    resumed = Animator(cpu_engine, settings, tmp_path / "b").render(resume=True)
    assert resumed.project.finished() == 6
    # the same run uninterrupted, with the seed the first run resolved and saved
    whole = Animator(cpu_engine, settings.replace(seed=resumed.seed), tmp_path / "a").render()
    assert all(
        np.array_equal(x, y) for x, y in zip(_frames(whole.project), _frames(resumed.project), strict=True)
    )
    with pytest.raises(ProjectError, match=r"other settings \(zoom\)"):
        Animator(cpu_engine, settings.replace(zoom="0:(1.1)"), tmp_path / "b").render(resume=True)


def test_init_image_and_cadence_one(cpu_engine: Engine, tmp_path: Path) -> None:
    init = tmp_path / "init.png"
    Image.new("RGB", (80, 80), (200, 30, 30)).save(init)
    s = tiny(use_init=True, init_image=str(init), strength=0.99, diffusion_cadence=1, max_frames=2)
    result = Animator(cpu_engine, s, tmp_path / "p").render()
    first = result.project.read_frame(0)
    # strength 0.99 leaves no step at 2 steps: frame 0 is the init picture itself, resized
    assert first.shape == (64, 64, 3) and np.abs(first.astype(int) - (200, 30, 30)).max() <= 1


def test_encoder_failure_keeps_frames(cpu_engine: Engine, tmp_path: Path) -> None:
    result = Animator(cpu_engine, tiny(max_frames=2), tmp_path / "p").render()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(EncodeError, match="cannot write"):
        encode(result.project.frame_paths(), blocker / "out.mp4", 12)
    with pytest.raises(EncodeError, match="unknown video type '.avi'"):
        encode(result.project.frame_paths(), tmp_path / "out.avi", 12)
    assert result.project.finished() == 2 and not list(tmp_path.glob("out*"))
