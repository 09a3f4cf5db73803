"""Small layout pieces several panels and dialogs share: scroll areas, OK/Cancel rows, a list over its buttons."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)


def scrollable(
    panel: QWidget, name: str = "", *, frameless: bool = False, hide_bar: Qt.Orientation | None = None
) -> QScrollArea:
    """The panel in a resizable scroll area (docks on small screens, long forms, sideways strips);
    `hide_bar`: the scroll bar of that direction is never shown."""
    area = QScrollArea()
    if name:
        area.setObjectName(name)
    area.setWidgetResizable(True)
    if frameless:
        area.setFrameShape(QFrame.Shape.NoFrame)
    off = Qt.ScrollBarPolicy.ScrollBarAlwaysOff
    if hide_bar is Qt.Orientation.Horizontal:
        area.setHorizontalScrollBarPolicy(off)
    elif hide_bar is Qt.Orientation.Vertical:
        area.setVerticalScrollBarPolicy(off)
    area.setWidget(panel)
    return area


def ok_cancel(
    dialog: QDialog, form: QFormLayout, accept: Callable[[], None] | None = None
) -> QDialogButtonBox:
    """OK and Cancel as the form's last row; OK calls `accept` (default: the dialog's), Cancel rejects."""
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(accept or dialog.accept)
    buttons.rejected.connect(dialog.reject)
    form.addRow(buttons)
    return buttons


def above_buttons(owner: QWidget, content: QWidget, *buttons: QAbstractButton) -> QVBoxLayout:
    """The owner's layout: `content` over a left-aligned row of buttons, without margins."""
    row = QHBoxLayout()
    for button in buttons:
        row.addWidget(button)
    row.addStretch(1)
    layout = QVBoxLayout(owner)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(content)
    layout.addLayout(row)
    return layout
