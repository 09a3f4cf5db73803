"""`sdstudio models` lists the library; `--add-root` saves a root in the settings file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.core.test_models import SD1_TEXT, UNET_IN, _write_header

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = os.environ | {"SDSTUDIO_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "sdstudio", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def test_models_lists_demo_and_added_root(tmp_path: Path, sdstudio_home: Path) -> None:
    res = _run("models", home=sdstudio_home)
    assert res.returncode == 0 and "Demo (random weights)" in res.stdout and "noise" in res.stdout
    comfy = tmp_path / "ComfyUI" / "models" / "checkpoints"
    comfy.mkdir(parents=True)
    _write_header(comfy / "mine.safetensors", {UNET_IN: [320, 4, 3, 3], SD1_TEXT: [8, 2]})
    res = _run("models", "--add-root", str(tmp_path / "ComfyUI"), "--hash", home=sdstudio_home)
    assert res.returncode == 0, res.stderr
    line = next(line for line in res.stdout.splitlines() if "mine" in line)
    import hashlib

    assert (
        "SD 1.x" in line
        and hashlib.sha256((comfy / "mine.safetensors").read_bytes()).hexdigest()[:10] in line
    )
    settings = json.loads((sdstudio_home / "config" / "settings.json").read_text())
    assert settings["model_roots"] == [str((tmp_path / "ComfyUI").resolve())]
    again = _run("models", home=sdstudio_home)
    assert "mine" in again.stdout


def test_add_root_that_is_not_a_folder_is_one_clear_line(tmp_path: Path, sdstudio_home: Path) -> None:
    res = _run("models", "--add-root", str(tmp_path / "nope"), home=sdstudio_home)
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0 and "not a folder" in res.stderr
