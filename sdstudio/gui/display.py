"""Before Qt starts on Linux: one clear line when there is no display or the X11 plugin lacks libraries.

Qt aborts the process with a long message in both cases; these checks run first and name the fix.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Mapping

# Qt 6's xcb platform plugin: library soname -> Debian/Ubuntu package
XCB_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}


def _loadable(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def display_problem(
    env: Mapping[str, str] = os.environ,
    platform: str = sys.platform,
    loadable: Callable[[str], bool] = _loadable,
) -> str | None:
    """Why the window cannot open here, with the fix; None when Qt should start."""
    if not platform.startswith("linux") or getattr(sys, "frozen", False):
        return None  # other systems, and bundles that carry their own libraries
    qpa = env.get("QT_QPA_PLATFORM", "")
    if qpa and not qpa.startswith("xcb"):
        return None  # offscreen, wayland, vnc…: the user chose
    if not qpa and env.get("WAYLAND_DISPLAY"):
        return None
    if not env.get("DISPLAY"):
        return (
            "no display to open the studio window on (DISPLAY is not set); start it from a desktop session, "
            "or work headless with `sdstudio generate` or `sdstudio serve`"
        )
    missing = [package for soname, package in XCB_LIBRARIES.items() if not loadable(soname)]
    if missing:
        return (
            "the Qt X11 plugin needs system libraries that are missing; "
            f"on Debian or Ubuntu: sudo apt install {' '.join(missing)}"
        )
    return None
