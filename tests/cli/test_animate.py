"""`sdstudio animate SETTINGS -o OUT`: a Deforum settings file rendered headless to MP4, as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = ROOT / "tests" / "core" / "animation_fixtures" / "deforum_default_settings.txt"


def _run(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = os.environ | {"SDSTUDIO_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "sdstudio", "animate", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


def test_animate_deforum_defaults_to_mp4(tmp_path: Path, sdstudio_home: Path, demo_home: Path) -> None:
    # 1. Deforum's own default file is 3D: refused in one line, before any model loads, nothing written
    out = tmp_path / "anim.mp4"
    res = _run(str(DEFAULTS), "-o", str(out), home=sdstudio_home)
    assert res.returncode == 2 and "3D needs a depth model" in res.stderr and "Traceback" not in res.stderr
    assert not out.exists() and not (tmp_path / "anim-animation").exists()

    # 2. the same file in 2D at a tiny size renders; the unknown key is noted once
    data = json.loads(DEFAULTS.read_text(encoding="utf-8"))
    data |= {"animation_mode": "2D", "W": 64, "H": 64, "steps": 2, "fps": 10, "strength_schedule": "0:(0.5)"}
    data["made_up_key"] = 1
    settings = tmp_path / "deforum.txt"
    settings.write_text(json.dumps(data), encoding="utf-8")
    res = _run(str(settings), "-o", str(out), "--frames", "3", home=sdstudio_home)
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("unknown settings ignored: made_up_key") == 1
    assert "frame 3/3" in res.stderr
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        assert (len(frames), frames[0].width, frames[0].height, float(stream.average_rate)) == (3, 64, 64, 10)
    project = tmp_path / "anim-animation"
    assert sorted(p.name for p in (project / "frames").iterdir()) == [f"{i:09d}.png" for i in range(3)]
    assert _gallery_videos() == [(out.resolve(), project.resolve())]  # the finished video is in the gallery

    # 3. again without --resume: refused, nothing lost; with --resume: encoded again as GIF, nothing re-rendered
    res = _run(str(settings), "-o", str(out), "--frames", "3", home=sdstudio_home)
    assert res.returncode == 2 and "--resume" in res.stderr
    gif = tmp_path / "anim.gif"
    res = _run(
        str(settings),
        "-o",
        str(gif),
        "--frames",
        "3",
        "--resume",
        "--project",
        str(project),
        home=sdstudio_home,
    )
    assert res.returncode == 0, res.stderr
    assert gif.is_file() and "step" not in res.stderr
    assert _gallery_videos() == [(gif.resolve(), project.resolve()), (out.resolve(), project.resolve())]


def _gallery_videos() -> list[tuple[Path, Path]]:
    """(video, project folder) of the video entries in this home's gallery, newest first."""
    from sdstudio.core.gallery import GalleryStore
    from sdstudio.core.settings import Settings

    store = GalleryStore(Settings.load().outputs_path())
    try:
        return [(Path(r.path), Path(r.project or "")) for r in store.search(kind="video")]
    finally:
        store.close()
