"""A prompt editor with a live token count per 75-token chunk, counted off the GUI thread."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

log = logging.getLogger(__name__)


ROUGH = "~"  # the count shown while the tokenizer (or the embeddings library) is not ready
RETRY_MS = 400  # a rough count is replaced by the real one as soon as it can be made
MAX_RETRIES = 300  # two minutes; a tokenizer that never loads leaves the rough count


def token_display(text: str, embeddings: Callable[[], dict[str, int]] | None = None) -> str:
    """Token count per 75-token chunk, e.g. "81/150"; embeddings give vectors per textual-inversion name.

    A rough count ("~20/75") when the tokenizer or the embeddings are not ready yet: typing never breaks."""
    from sdstudio.core.prompt import count_tokens

    try:
        return count_tokens(text, embeddings=embeddings() if embeddings is not None else None).display
    except Exception as e:
        log.debug("rough token count (%s)", e)
        n = len(re.findall(r"\w+|[^\w\s]", text))
        return f"{ROUGH}{n}/{max(1, -(-n // 75)) * 75}"


def syntax_help() -> str:
    from sdstudio.core.prompt import SYNTAX_HELP

    return SYNTAX_HELP


class _CountSignals(QObject):
    done = Signal(int, str)


class _CountTask(QRunnable):
    """Counts tokens on the thread pool (the tokenizer may be slow to load)."""

    def __init__(
        self, serial: int, text: str, signals: _CountSignals, embeddings: Callable[[], dict[str, int]] | None
    ):
        super().__init__()
        self.serial, self.text, self.signals, self.embeddings = serial, text, signals, embeddings

    def run(self) -> None:
        try:
            display = token_display(self.text, self.embeddings)
            self.signals.done.emit(self.serial, display)
        except RuntimeError:  # the editor was closed while this counted: nobody waits for the count
            log.debug("token count dropped: the editor is gone")
        finally:
            IN_FLIGHT.discard(self)


IN_FLIGHT: set[QRunnable] = set()  # tasks on the pool, kept alive here until they ran (not by their owner)


class PromptEdit(QWidget):
    """A prompt editor with its live token count."""

    def __init__(self, title: str, placeholder: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.edit = QPlainTextEdit()
        self.edit.setPlaceholderText(placeholder)
        self.edit.setTabChangesFocus(True)
        self.edit.setMinimumHeight(60)
        self.edit.setToolTip(syntax_help())
        self.count = QLabel("0/75")
        self.count.setObjectName("tokenCount")
        self.count.setToolTip("tokens / capacity of the 75-token chunks used")
        head = QHBoxLayout()
        head.addWidget(QLabel(title))
        head.addStretch(1)
        head.addWidget(self.count)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(head)
        lay.addWidget(self.edit)
        self._serial = 0
        self.embeddings: Callable[[], dict[str, int]] | None = (
            None  # vectors per embedding name (pool thread)
        )
        self._signals = _CountSignals()  # no parent: a count in flight outlives a closed editor safely
        self._signals.done.connect(self._on_count)
        self._timer = QTimer(self, singleShot=True, interval=120)
        self._timer.timeout.connect(self._recount)
        self.edit.textChanged.connect(self._timer.start)
        self._retry = QTimer(self, singleShot=True, interval=RETRY_MS)
        self._retry.timeout.connect(self._recount)
        self._retries = 0

    def text(self) -> str:
        return self.edit.toPlainText()

    def set_text(self, text: str) -> None:
        if text != self.text():
            self.edit.setPlainText(text)

    def _recount(self) -> None:
        self._serial += 1
        task = _CountTask(self._serial, self.text(), self._signals, self.embeddings)
        IN_FLIGHT.add(task)  # a closed editor must not take a queued task's wrapper with it
        QThreadPool.globalInstance().start(task)

    def _on_count(self, serial: int, display: str) -> None:
        if serial != self._serial:  # drop answers overtaken by newer typing
            return
        self.count.setText(display)
        rough = display.startswith(ROUGH)
        self.count.setToolTip(
            "a rough count: the tokenizer is still loading"
            if rough
            else "tokens / capacity of the 75-token chunks used"
        )
        self._retries = self._retries + 1 if rough else 0
        if rough and self._retries <= MAX_RETRIES:  # not ready yet (a restart restores the text while
            self._retry.start()  # torch loads): count again soon, unasked
