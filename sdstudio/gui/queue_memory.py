"""The queue remembered on disk: jobs a crash (or a close) left unrun are named on the next start and can be
queued again with one click."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from sdstudio.core import schema
from sdstudio.core.jobs import Job
from sdstudio.core.metadata_io import atomic_write
from sdstudio.core.request import Request

log = logging.getLogger(__name__)


class QueueMemory:
    """Writes the waiting and running GUI jobs (inputs embedded) to `path` (the state's queue file) as the
    queue changes."""

    def __init__(self, path: Path):
        self.path = path
        self._written: tuple[int, ...] | None = None

    def remember(self, jobs: tuple[Job, ...]) -> None:
        """The jobs not yet done; an empty queue removes the file. Failures are logged, never raised."""
        mine = tuple(j for j in jobs if j.source == "gui" and getattr(j, "task", None) is None)
        ids = tuple(j.id for j in mine)
        if ids == self._written:
            return
        try:
            if not mine:
                self.path.unlink(missing_ok=True)
            else:
                docs = [schema.dump(j.request, images="base64") for j in mine]
                self.path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(self.path, json.dumps(docs).encode())
            self._written = ids
        except OSError as e:
            log.warning("the queue was not remembered: %s", e)

    def forget(self) -> None:
        self.path.unlink(missing_ok=True)
        self._written = ()

    def unrun(self) -> list[Request]:
        """The jobs the last session left unrun (unreadable entries are skipped with a log line)."""
        try:
            docs = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as e:
            log.warning("remembered queue ignored: %s", e)
            return []
        requests = []
        for doc in docs if isinstance(docs, list) else []:
            try:
                requests.append(schema.load(doc)[0])
            except schema.SchemaError as e:
                log.warning("a remembered job ignored: %s", e)
        return requests


def describe_unrun(requests: list[Request]) -> str:
    n = len(requests)
    names = "; ".join(f"{r.mode.value} “{r.prompt[:40]}”" for r in requests[:3]) + ("; …" if n > 3 else "")
    return f"{n} queued job{'s' * (n != 1)} {'were' if n != 1 else 'was'} not run: {names}"
