"""`sdstudio info` prints the parameters of ours and other tools' images."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.core.test_gallery import A1111, _png, _result

ROOT = Path(__file__).resolve().parents[2]


def _info(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sdstudio", "info", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ.copy(),
        timeout=60,
    )


def test_info_on_our_png_and_an_a1111_png(tmp_path: Path) -> None:
    from sdstudio.core.gallery.metadata import png_bytes

    res = _result(negative="bad hands")
    ours = tmp_path / "ours.png"
    ours.write_bytes(png_bytes(res.images[0], res))
    out = _info(str(ours))
    assert out.returncode == 0 and out.stdout.startswith(
        "a red fox in snow\nNegative prompt: bad hands\nSteps: 20"
    )
    assert "Tool: sdstudio" in out.stdout
    theirs = _png(tmp_path, "a1111.png", {"parameters": A1111})
    out = _info(str(theirs))
    assert out.returncode == 0 and "Seed: 3995512471" in out.stdout and "Tool: A1111" in out.stdout
    out = _info(str(theirs), "--json")
    assert '"sampler": "DPM++ 2M Karras"' in out.stdout


def test_info_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"nope")
    for target in (tmp_path / "bad.png", tmp_path / "missing.png"):
        out = _info(str(target))
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    plain = tmp_path / "plain.png"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(plain)
    out = _info(str(plain))
    assert out.returncode == 2 and "no generation parameters" in out.stderr
