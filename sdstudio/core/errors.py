"""Errors the core raises: each carries a message fit to show a user as it is."""

from __future__ import annotations

from sdstudio.core.request import RequestError

__all__ = ["RequestError", "EngineError", "ModelError", "OutOfMemory", "Cancelled"]


class EngineError(RuntimeError):
    """A job failed; the engine stays usable for the next one."""


class ModelError(EngineError):
    """A model could not be found or loaded; the message names the file and what was expected."""


class OutOfMemory(EngineError):
    """The device ran out of memory; the message gives advice."""


class Cancelled(Exception):
    """The job was cancelled; nothing was decoded or saved."""
