"""An editable list of keyframes (frame, value): one row each, Add and Remove; used for every schedule and
for the prompts. Rows convert to and from Deforum's schedule text."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from sdstudio.core.animation.schedule import split_keyframes
from sdstudio.gui.layouts import above_buttons


def schedule_rows(text: str) -> list[tuple[str, str]]:
    """`"0:(1), 30:(sin(t))"` → [("0", "1"), ("30", "sin(t)")]; text that does not split is one raw row."""
    try:
        pairs = split_keyframes(text)
    except ValueError:
        return [("0", text)]
    out = []
    for key, value in pairs:
        v = value.strip()
        if v.startswith("(") and v.endswith(")"):
            v = v[1:-1]
        out.append((key, v))
    return out


def schedule_text(rows: list[tuple[str, str]]) -> str:
    return ", ".join(f"{key}:({value})" for key, value in rows if key.strip() or value.strip())


class KeyframeEditor(QWidget):
    """Rows of (frame, value); `changed` after any edit, add or remove."""

    changed = Signal()

    def __init__(self, value_title: str = "Value", parent: QWidget | None = None):
        super().__init__(parent)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Frame", value_title])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.add_button = QPushButton("Add keyframe")
        self.remove_button = QPushButton("Remove")
        above_buttons(self, self.table, self.add_button, self.remove_button)
        self._loading = False
        self.table.itemChanged.connect(self._edited)
        self.add_button.clicked.connect(self.add_row)
        self.remove_button.clicked.connect(self.remove_selected)

    def set_rows(self, rows: list[tuple[str, str]]) -> None:
        self._loading = True
        try:
            self.table.setRowCount(0)
            for key, value in rows:
                self._append(key, value)
        finally:
            self._loading = False

    def rows(self) -> list[tuple[str, str]]:
        out = []
        for r in range(self.table.rowCount()):
            key, value = self.table.item(r, 0), self.table.item(r, 1)
            out.append((key.text().strip() if key else "", value.text() if value else ""))
        return out

    def _append(self, key: str, value: str) -> None:
        r = self.table.rowCount()
        self.table.insertRow(r)
        self.table.setItem(r, 0, QTableWidgetItem(key))
        self.table.setItem(r, 1, QTableWidgetItem(value))

    def add_row(self) -> None:
        """A new keyframe after the last one, holding its value."""
        rows = self.rows()
        last_key, last_value = rows[-1] if rows else ("0", "")
        key = str(int(last_key) + 10) if last_key.isdigit() else "0"
        self._loading = True
        try:
            self._append(key, last_value)
        finally:
            self._loading = False
        self.table.setCurrentCell(self.table.rowCount() - 1, 1)
        self.changed.emit()

    def remove_selected(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True)
        if not rows and self.table.currentRow() >= 0:
            rows = [self.table.currentRow()]
        for r in rows:
            self.table.removeRow(r)
        if rows:
            self.changed.emit()

    def select_row(self, row: int) -> None:
        self.table.setCurrentCell(row, 1)

    def _edited(self) -> None:
        if not self._loading:
            self.changed.emit()
