"""Listeners told of each message on the sender's thread; one that raises is logged and the others still hear."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Listeners(Generic[T]):
    """The job queue's and the download queue's subscribers (`what` names them in the log)."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._items: list[Callable[[T], None]] = []

    def add(self, listener: Callable[[T], None]) -> Callable[[], None]:
        """Subscribe; the returned callable unsubscribes (twice is harmless)."""
        self._items.append(listener)
        return lambda: self._items.remove(listener) if listener in self._items else None

    def emit(self, message: T) -> None:
        for listener in list(self._items):
            try:
                listener(message)
            except Exception:  # a broken listener must not stop the queue
                log.exception("%s listener failed", self._what)
