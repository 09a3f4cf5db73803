"""The pre-flight display check: one clear line instead of Qt's abort when the window cannot open."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sdstudio.gui.display import XCB_LIBRARIES, display_problem

ROOT = Path(__file__).resolve().parents[2]


def _all(_: str) -> bool:
    return True


def test_no_display_names_the_headless_commands() -> None:
    problem = display_problem({}, "linux", _all)
    assert problem is not None and "DISPLAY" in problem and "sdstudio serve" in problem


def test_missing_x11_libraries_are_named_with_their_packages() -> None:
    problem = display_problem({"DISPLAY": ":0"}, "linux", lambda so: so != "libxcb-cursor.so.0")
    assert problem is not None and problem.endswith("sudo apt install libxcb-cursor0")
    assert display_problem({"DISPLAY": ":0"}, "linux", _all) is None


def test_other_platforms_and_chosen_qt_platforms_are_left_to_qt() -> None:
    for env in ({"QT_QPA_PLATFORM": "offscreen"}, {"WAYLAND_DISPLAY": "wayland-0"}):
        assert display_problem(env, "linux", lambda so: False) is None
    assert display_problem({}, "win32", lambda so: False) is None
    assert display_problem({}, "darwin", lambda so: False) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sonames are Linux's")
def test_libraries_are_probed_by_loading_them() -> None:
    from sdstudio.gui.display import _loadable

    assert _loadable("libc.so.6") and not _loadable("libsdstudio-no-such-library.so.0")
    problem = display_problem({"DISPLAY": ":0"}, "linux", lambda so: False)
    assert problem is not None and all(package in problem for package in XCB_LIBRARIES.values())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check is for Linux")
def test_sdstudio_without_a_display_exits_with_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run(
        [sys.executable, "-m", "sdstudio"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert (
        len(lines) == 1
        and lines[0].startswith("sdstudio: error: no display")
        and "Traceback" not in done.stderr
    )
