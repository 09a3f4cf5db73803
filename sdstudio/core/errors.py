"""Errors the core raises: each carries a message fit to show a user as it is."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from sdstudio.core.request import RequestError

if TYPE_CHECKING:
    from sdstudio.core.gallery.index import Record

__all__ = [
    "RequestError",
    "EngineError",
    "ModelError",
    "OutOfMemory",
    "Cancelled",
    "SaveError",
    "ErrorKind",
    "JobError",
    "classify",
]


class EngineError(RuntimeError):
    """A job failed; the engine stays usable for the next one."""


class ModelError(EngineError):
    """A model could not be found or loaded; the message names the file and what was expected."""


class OutOfMemory(EngineError):
    """The device ran out of memory; the message gives advice."""


class Cancelled(Exception):
    """The job was cancelled; `partial` holds what an interrupt kept (the pictures decoded so far), or None."""

    def __init__(self, partial: object | None = None):
        super().__init__("cancelled")
        self.partial = partial


class SaveError(OSError):
    """Saving pictures failed (disk full, folder gone); the message names the folder and its free space.
    `records` are the pictures saved before the failure."""

    def __init__(self, message: str, records: tuple[Record, ...] = ()):
        super().__init__(message)
        self.records = records

    def __str__(self) -> str:
        return str(self.args[0])


class ErrorKind(str, Enum):
    """Why a job failed, so the API picks the status code and the window the reaction."""

    validation = "validation"  # the request is wrong: HTTP 422, the field is named
    model = "model"  # the model is missing or unreadable: HTTP 422
    out_of_memory = "out-of-memory"  # the device is full: HTTP 503, retry smaller
    cancelled = "cancelled"
    internal = "internal"  # a bug: HTTP 500


@dataclass(frozen=True)
class JobError:
    kind: ErrorKind
    message: str
    field: str | None = None


def classify(error: BaseException) -> JobError:
    """The typed error for an exception a job raised."""
    if isinstance(error, RequestError):
        return JobError(ErrorKind.validation, str(error), error.field)
    if isinstance(error, ModelError):
        return JobError(ErrorKind.model, str(error), "model")
    if isinstance(error, OutOfMemory):
        return JobError(ErrorKind.out_of_memory, str(error))
    if isinstance(error, Cancelled):
        return JobError(ErrorKind.cancelled, "cancelled")
    if isinstance(error, EngineError):
        return JobError(ErrorKind.internal, str(error))
    if isinstance(error, ValueError):
        return JobError(ErrorKind.validation, str(error))
    return JobError(ErrorKind.internal, f"{type(error).__name__}: {error}")


class CancelToken(threading.Event):
    """A job's cancel flag; `keep_partial` (an interrupt, as A1111's) asks for the pictures reached so far."""

    def __init__(self) -> None:
        super().__init__()
        self.keep_partial = False

    def set(self, keep_partial: bool = False) -> None:
        self.keep_partial = self.keep_partial or keep_partial
        super().set()
