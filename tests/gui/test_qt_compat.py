"""A long painting session does not abort Python (PySide6 6.12.0 drops a reference to None per void call)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LONG_STROKES = """
import sdstudio.gui  # the work-around is applied when the GUI package is imported
from PySide6.QtCore import QPointF
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication
from sdstudio.gui.canvas.brush import Brush

app = QApplication([])
mask = QImage(256, 256, QImage.Format.Format_Grayscale8)
mask.fill(0)
brush = Brush(size=8)
for _ in range(400):  # about 20 000 void Qt calls: far more than None's few thousand references
    brush.stroke(mask, QPointF(4, 4), QPointF(250, 250))
print("painted")
"""


def test_thousands_of_brush_stamps_do_not_abort_python() -> None:
    env = os.environ | {"PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [sys.executable, "-c", LONG_STROKES], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "painted" in out.stdout
