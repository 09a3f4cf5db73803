"""The canvas: a picture, a mask painted over it with undoable strokes, zoom and pan, step previews."""

from sdstudio.gui.canvas.brush import Brush
from sdstudio.gui.canvas.model import CanvasModel
from sdstudio.gui.canvas.view import CanvasView

__all__ = ["Brush", "CanvasModel", "CanvasView"]
