"""The LoRA picker: LoRAs by folder with their preview, family and trigger words; a click inserts
`<lora:name:weight>` and the trigger words at the prompt's cursor. Also `<lora:` name completion."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, QSize, QStringListModel, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap, QTextCursor
from PySide6.QtWidgets import (
    QCompleter,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from sdstudio.core.models.entries import Family

ICON = 64
INFO = Qt.ItemDataRole.UserRole
_TYPED_TAG = re.compile(r"<(lora|lyco):([^:<>]*)$", re.I)


def tag_text(info: Any) -> str:
    """What a click inserts: the tag at the LoRA's preferred weight, then its trigger words."""
    words = ", ".join(info.trigger_words)
    return f"<lora:{info.name}:{info.preferred_weight:g}>" + (f", {words}" if words else "")


def fits(info: Any, family: Family) -> str:
    """Why the LoRA does not fit a model of `family` ("" when it does or either family is unknown)."""
    if Family.unknown in (info.family, family) or info.family.base.rstrip("-v") == family.base.rstrip("-v"):
        return ""
    return f"made for {info.family.value}; the model is {family.value}"


class LoraPicker(QWidget):
    """A dock panel over a LoraCatalog; `insertRequested(text)` when the artist picks one."""

    insertRequested = Signal(str)

    def __init__(self, catalog: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.catalog = catalog
        self.family = Family.unknown
        self.search = QLineEdit()
        self.search.setPlaceholderText("filter LoRAs")
        self.search.setClearButtonEnabled(True)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("scan the LoRA folders again")
        self.tree = QTreeWidget()
        self.tree.setObjectName("loraTree")
        self.tree.setHeaderLabels(["LoRA", "Family"])
        self.tree.setIconSize(QSize(ICON, ICON))
        self.tree.setRootIsDecorated(True)
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.refresh_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.tree, 1)
        self.search.textChanged.connect(self._filter)
        self.refresh_button.clicked.connect(self.rescan)
        self.tree.itemClicked.connect(self._picked)
        self.tree.itemActivated.connect(self._picked)
        self.loaded = False  # the folders are read when the panel is first shown (not at window start)

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        if not self.loaded:
            self.reload()
        super().showEvent(event)

    def rescan(self) -> None:
        self.catalog.refresh()
        self.reload()

    def reload(self) -> None:
        """List the catalog's LoRAs by folder (header reads only; previews scaled once)."""
        self.loaded = True
        self.tree.clear()
        folders: dict[str, QTreeWidgetItem] = {}
        try:
            infos = self.catalog.infos()
        except Exception as e:  # a broken folder must not take the panel down
            infos = []
            self.tree.setToolTip(f"LoRA folders unreadable: {e}")
        for info in infos:
            parent: Any = self.tree
            if info.folder:
                if info.folder not in folders:
                    folders[info.folder] = QTreeWidgetItem(self.tree, [info.folder, ""])
                    folders[info.folder].setExpanded(True)
                parent = folders[info.folder]
            item = QTreeWidgetItem(
                parent, [info.name, info.family.value if info.family is not Family.unknown else ""]
            )
            item.setData(0, INFO, info)
            if info.preview is not None:
                pixmap = QPixmap(str(info.preview))
                if not pixmap.isNull():
                    item.setIcon(0, QIcon(pixmap.scaled(ICON, ICON, Qt.AspectRatioMode.KeepAspectRatio)))
        self.set_family(self.family)
        self._filter(self.search.text())

    def items(self) -> list[QTreeWidgetItem]:
        """The LoRA rows (folders left out)."""
        out = []
        stack = [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        while stack:
            item = stack.pop(0)
            if item.data(0, INFO) is not None:
                out.append(item)
            stack += [item.child(i) for i in range(item.childCount())]
        return out

    def set_family(self, family: Family) -> None:
        """Grey out the LoRAs made for another family than the model's, the reason in their tooltip."""
        self.family = family
        for item in self.items():
            info = item.data(0, INFO)
            why = fits(info, family)
            flags = item.flags()
            item.setFlags(flags & ~Qt.ItemFlag.ItemIsEnabled if why else flags | Qt.ItemFlag.ItemIsEnabled)
            words = ", ".join(info.trigger_words) or "none"
            tip = f"{info.path}\nalias: {info.alias}\ntrigger words: {words}"
            item.setToolTip(0, f"{why}\n{tip}" if why else tip)

    def _filter(self, text: str) -> None:
        needle = text.strip().lower()
        for item in self.items():
            info = item.data(0, INFO)
            hay = " ".join([info.name, info.alias, info.folder, *info.trigger_words]).lower()
            item.setHidden(bool(needle) and needle not in hay)

    def _picked(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        info = item.data(0, INFO)
        if info is not None and not fits(info, self.family):
            self.insertRequested.emit(tag_text(info))


def insert_at_cursor(edit: QPlainTextEdit, text: str) -> None:
    """Insert text at the cursor, separated from the words around it by a space."""
    cursor = edit.textCursor()
    before = edit.toPlainText()[: cursor.position()]
    if before and not before[-1].isspace() and before[-1] not in "([":
        text = " " + text
    cursor.insertText(text)
    edit.setTextCursor(cursor)
    edit.setFocus()


class LoraCompleter(QObject):
    """Completes LoRA names after `<lora:` or `<lyco:` in a prompt editor; choosing one closes the tag.
    Enter or Tab takes the highlighted (else the first) name, arrows move, Esc closes the list."""

    def __init__(self, edit: QPlainTextEdit, names: Callable[[], list[str]]):
        super().__init__(edit)
        self.edit, self.names = edit, names
        self.model = QStringListModel()
        self.completer = QCompleter(self.model, edit)
        self.completer.setWidget(edit)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.completer.activated.connect(self._complete)
        edit.textChanged.connect(self._update)
        edit.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        popup = self.completer.popup()
        if event.type() != QEvent.Type.KeyPress or not popup.isVisible():
            return False
        key = event.key()  # type: ignore[attr-defined]
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Tab):
            index = popup.currentIndex()
            self._complete(index.data() if index.isValid() else self.completer.currentCompletion())
            popup.hide()
            return True
        if key == Qt.Key.Key_Escape:
            popup.hide()
            return True
        if key in (Qt.Key.Key_Down, Qt.Key.Key_Up):
            count = self.completer.completionCount()
            row = popup.currentIndex().row() if popup.currentIndex().isValid() else -1
            row = (row + (1 if key == Qt.Key.Key_Down else -1)) % max(1, count)
            self.completer.setCurrentRow(row)
            popup.setCurrentIndex(self.completer.currentIndex())
            return True
        return False

    def _typed(self) -> re.Match[str] | None:
        cursor = self.edit.textCursor()
        return _TYPED_TAG.search(self.edit.toPlainText()[: cursor.position()])

    def _update(self) -> None:
        typed = self._typed()
        popup = self.completer.popup()
        if typed is None:
            popup.hide()
            return
        try:
            names = self.names()
        except Exception:  # no catalog: no completion, typing goes on
            names = []
        if self.model.stringList() != names:
            self.model.setStringList(names)
        self.completer.setCompletionPrefix(typed.group(2))
        if self.completer.completionCount() == 0:
            popup.hide()
            return
        rect = self.edit.cursorRect()
        rect.setWidth(popup.sizeHintForColumn(0) + popup.verticalScrollBar().sizeHint().width() + 8)
        self.completer.complete(rect)

    def _complete(self, name: str) -> None:
        typed = self._typed()
        if typed is None:
            return
        cursor = self.edit.textCursor()
        cursor.movePosition(
            QTextCursor.MoveOperation.Left, QTextCursor.MoveMode.KeepAnchor, len(typed.group(2))
        )
        cursor.insertText(f"{name}:1>")
        self.edit.setTextCursor(cursor)


def attach(window: Any) -> LoraPicker:
    """The picker as a dock of the window, `<lora:` completion in the prompt, and the VAE choice remembered
    per model (the window's library, studio model and prompt panel)."""
    from sdstudio.core.vae import AUTOMATIC, remember, vae_choices

    library, studio, panel = window.library, window.studio, window.prompt
    picker = LoraPicker(library.loras)
    picker.setObjectName("loraPicker")
    window.lora_dock = window._dock("LoRAs", "loraDock", picker, Qt.DockWidgetArea.RightDockWidgetArea)
    window.tabifyDockWidget(window.gallery_dock, window.lora_dock)
    window.gallery_dock.raise_()
    picker.insertRequested.connect(lambda text: insert_at_cursor(panel.prompt.edit, text))
    window.lora_completer = LoraCompleter(panel.prompt.edit, lambda: [i.name for i in library.loras.infos()])
    try:
        panel.set_vaes([c.name for c in vae_choices(library)])
    except OSError:
        panel.set_vaes([])

    def model_entry() -> Any:
        try:
            return library.resolve(studio.get("model"), known_only=True)
        except Exception:  # not in the library (a path typed elsewhere): nothing known about it
            return None

    def changed(name: str) -> None:
        entry = model_entry()
        if name == "model":
            picker.set_family(entry.family if entry is not None else Family.unknown)
            if entry is not None:  # the VAE remembered for this model
                studio.set("vae", library.settings.vae_by_model.get(entry.location, ""))
        elif name == "vae" and entry is not None:
            value = studio.get("vae") or AUTOMATIC
            if library.settings.vae_by_model.get(entry.location, AUTOMATIC) != value:
                remember(library, entry.location, value)

    studio.changed.connect(changed)
    changed("model")
    return picker
