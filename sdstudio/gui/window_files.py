"""The studio window's file and folder actions: open a picture, add a model folder, the outputs folder, help."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog

from sdstudio.gui import reference_actions
from sdstudio.gui.window_actions import model_choices


class WindowFiles:
    """Mixed into MainWindow (which provides library, store, canvas, prompt and status)."""

    library: Any
    store: Any
    canvas: Any
    prompt: Any
    status: Any

    def choose_model_root(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a model folder (A1111, ComfyUI or checkpoints)")
        if folder:
            self.add_model_root(Path(folder))

    def add_model_root(self, folder: Path) -> int:
        """Scan a model folder in place and offer its checkpoints; errors become one status line."""
        if self.library is None:
            self.status.show_message("The model library is unavailable.", error=True)
            return 0
        try:
            found = self.library.add_root(folder)
        except Exception as e:  # ModelError, OSError: say it, keep going
            self.status.show_message(f"Cannot add {folder}: {e}", error=True)
            return 0
        self.prompt.set_models(model_choices(self.library))
        reference_actions.models_changed(self)  # its ControlNets, for the reference strip
        self.status.show_message(
            f"{folder}: {found} checkpoint{'s' * (found != 1)} added to the model selector."
            if found
            else f"{folder}: no checkpoints found (looked in models/Stable-diffusion, models/checkpoints and the folder).",
            error=not found,
        )
        return found

    def show_help(self) -> None:
        from sdstudio.gui.help_dialog import HelpDialog

        self.help_dialog = HelpDialog(self)
        self.help_dialog.show()

    def open_outputs_folder(self) -> bool:
        """Show the folder the gallery saves into, in the system's file manager."""
        root = getattr(self.store, "root", None)
        if root is None:
            self.status.show_message("The gallery store is unavailable.", error=True)
            return False
        Path(root).mkdir(parents=True, exist_ok=True)
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(root))):
            self.status.show_message(f"Could not open {root} (no file manager?)", error=True)
            return False
        return True

    def open_image_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open image", "", "Images (*.png *.jpg *.jpeg *.webp *.bmp)"
        )
        if path:
            self.canvas.load_image(path)  # a bad file reports through canvas.error
