"""`{image}` / `{image:NAME...}` tags in a prompt editor: highlighted, and the reference each names is outlined
in the strip while the text cursor or the mouse is in the tag."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QColor, QFont, QMouseEvent, QSyntaxHighlighter, QTextCharFormat, QTextDocument
from PySide6.QtWidgets import QPlainTextEdit

from sdstudio.core import references
from sdstudio.core.control.tags import TAG
from sdstudio.core.control.unit import ControlUnit
from sdstudio.gui.reference_strip import ReferenceStrip


def tag_formats() -> tuple[QTextCharFormat, QTextCharFormat]:
    """(a tag that names a reference or a file, a tag that names nothing)."""
    known = QTextCharFormat()
    known.setForeground(QColor("#1f6fc5"))
    known.setBackground(QColor(42, 130, 218, 40))
    known.setFontWeight(QFont.Weight.Bold)
    unknown = QTextCharFormat()
    unknown.setForeground(QColor("#c0392b"))
    unknown.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
    unknown.setUnderlineColor(QColor("#c0392b"))
    return known, unknown


def names_something(text: str, units: Sequence[ControlUnit]) -> bool:
    """Whether a tag names an attached reference (or, for a path, an existing file)."""
    tag = references.tag_at(text, 0)
    if tag is None:
        return False
    if references.target(units, tag) is not None:
        return True
    return bool(tag.source) and Path(tag.source).expanduser().is_file()


class ImageTagHighlighter(QSyntaxHighlighter):
    """Marks every `{image...}` tag: blue when it names a reference or a file, red and underlined when not."""

    def __init__(self, document: QTextDocument, units: Callable[[], Sequence[ControlUnit]]):
        super().__init__(document)
        self.units = units
        self.known, self.unknown = tag_formats()

    def highlightBlock(self, text: str) -> None:  # noqa: N802 (Qt name)
        for m in TAG.finditer(text):
            fmt = self.known if names_something(m.group(0), self.units()) else self.unknown
            self.setFormat(m.start(), m.end() - m.start(), fmt)


class TagLink(QObject):
    """Outlines in the strip the reference of the tag under the mouse, else of the tag at the text cursor."""

    def __init__(self, edit: QPlainTextEdit, strip: ReferenceStrip):
        super().__init__(edit)
        self.edit, self.strip = edit, strip
        self.highlighter = ImageTagHighlighter(edit.document(), strip.units)
        self._hovered: int | None = None
        self._hovering = False
        edit.cursorPositionChanged.connect(self.update)
        edit.textChanged.connect(self.update)
        edit.viewport().setMouseTracking(True)
        edit.viewport().installEventFilter(self)

    def refresh(self) -> None:
        """The references changed (a name, an added one): recolour the tags and outline again."""
        self.highlighter.rehighlight()
        self.update()

    def target_at(self, position: int) -> int | None:
        tag = references.tag_at(self.edit.toPlainText(), position)
        return references.target(self.strip.units(), tag) if tag is not None else None

    def update(self) -> None:
        if self._hovering:
            self.strip.mark(self._hovered)
        else:
            self.strip.mark(self.target_at(self.edit.textCursor().position()))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.MouseMove and isinstance(event, QMouseEvent):
            position = self.edit.cursorForPosition(event.position().toPoint()).position()
            tag = references.tag_at(self.edit.toPlainText(), position)
            self._hovering = tag is not None
            self._hovered = references.target(self.strip.units(), tag) if tag is not None else None
            self.update()
        elif event.type() == QEvent.Type.Leave:
            self._hovering = False
            self.update()
        return False
