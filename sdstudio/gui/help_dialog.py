"""Help > Shortcuts and prompt syntax: what an artist needs at hand, in one window."""

from __future__ import annotations

from html import escape

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from sdstudio.core.prompt import SYNTAX_HELP

SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Ctrl+Enter", "generate (adds to the queue while a job runs)"),
    ("Esc", "cancel the running job"),
    ("Ctrl+U", "use the shown result as the next input"),
    ("Alt+Left / Alt+Right", "flip through a batch's pictures"),
    ("Ctrl+O / Ctrl+V / drop", "open, paste or drop a picture"),
    ("[ and ]", "smaller / larger brush"),
    ("E", "eraser on / off"),
    ("Shift+click", "straight line from the last point"),
    ("Ctrl+Z / Ctrl+Shift+Z", "undo / redo a stroke or a picture change"),
    ("Wheel", "zoom around the cursor"),
    ("Space+drag, middle button", "pan"),
    ("S (gallery)", "star or unstar the selected picture"),
    ("Ctrl+V / drop on References", "add a reference picture (gallery tiles too); {image:NAME} names it"),
    ("Ctrl+Shift+M", "the Models window: starter models, installs from the hub, Civitai or an address"),
)


def help_html() -> str:
    rows = "".join(f"<tr><td><b>{escape(k)}</b></td><td>{escape(v)}</td></tr>" for k, v in SHORTCUTS)
    syntax = "".join(f"<li>{escape(line)}</li>" for line in SYNTAX_HELP.splitlines()[1:])
    return (
        f"<h3>Keyboard and mouse</h3><table cellspacing='6'>{rows}</table>"
        f"<h3>{escape(SYNTAX_HELP.splitlines()[0])}</h3><ul>{syntax}</ul>"
    )


class HelpDialog(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("sdstudio: shortcuts and prompt syntax")
        self.text = QTextBrowser()
        self.text.setHtml(help_html())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        lay = QVBoxLayout(self)
        lay.addWidget(self.text)
        lay.addWidget(buttons)
        self.resize(640, 560)
