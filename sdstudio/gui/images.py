"""QImage <-> PIL / InputImage conversions used by the window (safe off the GUI thread)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QImage

from sdstudio.core.request import InputImage


def pil_to_qimage(image: Any) -> QImage:
    """A PIL image as a deep-copied QImage."""
    rgb = image if image.mode in ("RGB", "RGBA") else image.convert("RGB")
    fmt = QImage.Format.Format_RGBA8888 if rgb.mode == "RGBA" else QImage.Format.Format_RGB888
    channels = 4 if rgb.mode == "RGBA" else 3
    return QImage(rgb.tobytes(), rgb.width, rgb.height, rgb.width * channels, fmt).copy()


def qimage_png(image: QImage) -> bytes:
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    buf.close()
    return bytes(data.data())


def qimage_to_input(image: QImage, mask: bool = False) -> InputImage:
    """An InputImage from a QImage; a mask becomes 8-bit grey (white = repaint)."""
    if mask:
        image = image.convertToFormat(QImage.Format.Format_Grayscale8)
    elif image.hasAlphaChannel():
        image = image.convertToFormat(QImage.Format.Format_RGBA8888)
    else:
        image = image.convertToFormat(QImage.Format.Format_RGB888)
    return InputImage(qimage_png(image), image.width(), image.height())
