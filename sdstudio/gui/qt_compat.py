"""Work-arounds for defects of the Qt bindings that would crash the studio.

PySide6 6.12.0 on Python < 3.12 drops one reference to None for each call of a Qt method returning void
(measured: 100 calls of QLabel.setText leave sys.getrefcount(None) 100 lower). None starts with a few thousand
references, so after a few thousand such calls (one long brush stroke stamps hundreds of ellipses) Python
aborts with "Fatal Python error: none_dealloc". Python 3.12 made None immortal (PEP 683); on older Pythons we
give None the same immortality by raising its reference count far beyond what a session can drop. True and
False get the same: a session of these bindings also ends in "Fatal Python error: bool_dealloc" at exit.
"""

from __future__ import annotations

import ctypes
import sys

IMMORTAL_REFS = 1 << 40  # a million void calls a second would take 35 years to spend it


def keep_none_alive() -> bool:
    """Make None, True and False effectively immortal where Python does not already; True when it acted."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    for singleton in (None, True, False):
        refcount = ctypes.c_ssize_t.from_address(id(singleton))  # ob_refcnt: the first field of an object
        if refcount.value < IMMORTAL_REFS:
            refcount.value += IMMORTAL_REFS
    return True
