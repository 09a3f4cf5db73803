"""The download queue: installs run one at a time on a worker thread, each with progress, pause, resume, cancel."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from sdstudio.core.install.installer import install, partial_path
from sdstudio.core.install.layout import downloads_folder
from sdstudio.core.install.plan import FileProgress, Installed, InstallError, InstallPlan, Stopped
from sdstudio.core.install.sources import resolve
from sdstudio.core.install.transfer import Control
from sdstudio.core.jsontypes import JsonObject
from sdstudio.core.listeners import Listeners
from sdstudio.core.models.entries import Kind
from sdstudio.core.models.hashing import HashCache
from sdstudio.core.settings import Settings

log = logging.getLogger(__name__)


class State(str, Enum):
    queued = "queued"
    resolving = "looking up"
    downloading = "downloading"
    paused = "paused"
    done = "installed"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (State.done, State.failed, State.cancelled)


@dataclass(frozen=True)
class InstallRequest:
    source: str
    kind: Kind | None = None
    name: str = ""
    sha256: str = ""
    mode: str = "copy"  # local files: copy, move or link
    local: bool = True  # False: the source may not be a path on this machine (the HTTP API)
    title: str = ""  # what the queue shows before the source is looked up
    plan: Callable[[], InstallPlan] | None = None  # a ready resolver (starter models) instead of `source`


@dataclass(frozen=True)
class Job:
    """One install as listeners see it (a snapshot; the queue keeps the live state)."""

    id: int
    title: str
    state: State
    progress: FileProgress | None = None
    message: str = ""
    result: Installed | None = None


_REMEMBERED = ("source", "name", "sha256", "mode", "title")
JOURNAL = "queue.json"
RESTORED = "paused when sdstudio closed; Resume continues where it stopped"


class _Item:
    def __init__(self, job_id: int, request: InstallRequest):
        self.request = request
        self.control = Control()
        self.plan: InstallPlan | None = None
        self.job = Job(job_id, request.title or request.source, State.queued)


class DownloadQueue:
    """Installs in order on one worker thread; listeners get a Job after every change (from that thread)."""

    def __init__(
        self,
        settings: Settings,
        hashes: HashCache | None = None,
        *,
        remember: bool = False,
        save_settings: Callable[[], None] | None = None,
    ):
        """remember: keep unfinished installs in the library's .downloads/queue.json and bring them back paused;
        save_settings: where a model root an install adds is kept (the studio state; None: settings.save())."""
        self.settings = settings
        self.save_settings = save_settings
        self.hashes = hashes
        self._journal = downloads_folder(settings.library_path()) / JOURNAL if remember else None
        self._items: dict[int, _Item] = {}
        self._order: list[int] = []
        self._listeners: Listeners[Job] = Listeners("download")
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._next = 1
        self._restore()

    def subscribe(self, listener: Callable[[Job], None]) -> Callable[[], None]:
        return self._listeners.add(listener)

    def jobs(self) -> list[Job]:
        with self._cond:
            return [self._items[i].job for i in self._order]

    def add(self, request: InstallRequest) -> int:
        with self._cond:
            job_id, self._next = self._next, self._next + 1
            self._items[job_id] = _Item(job_id, request)
            self._order.append(job_id)
            self._start()
            job = self._items[job_id].job
        self._remember()
        self._emit(job)
        return job_id

    def _start(self) -> None:
        """Wake the worker (started on first use). Called with the lock held."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sdstudio-downloads", daemon=True)
            self._thread.start()
        self._cond.notify_all()

    def pause(self, job_id: int) -> None:
        item = self._items[job_id]
        with self._cond:
            if item.job.state is State.queued:
                self._set(item, state=State.paused, message="paused")
                return
        if item.job.state in (State.resolving, State.downloading):
            item.control.pause()

    def resume(self, job_id: int) -> None:
        item = self._items[job_id]
        with self._cond:
            if item.job.state in (State.paused, State.failed):
                item.control.clear()
                self._set(item, state=State.queued, message="")
                self._start()

    def cancel(self, job_id: int) -> None:
        item = self._items[job_id]
        with self._cond:
            if item.job.state in (State.queued, State.paused, State.failed):
                self._discard_partials(item)
                self._set(item, state=State.cancelled, message="cancelled")
                return
        if not item.job.state.finished:
            item.control.cancel()

    def clear_finished(self) -> None:
        with self._cond:
            self._order = [i for i in self._order if not self._items[i].job.state.finished]

    def wait(self, job_id: int, timeout: float | None = None) -> Job:
        """Block until the job is finished or paused (tests, the CLI)."""
        with self._cond:
            self._cond.wait_for(
                lambda: (
                    self._items[job_id].job.state.finished or self._items[job_id].job.state is State.paused
                ),
                timeout,
            )
            return self._items[job_id].job

    def close(self) -> None:
        """Stop after pausing the running download (its partial file stays for the next start)."""
        with self._cond:
            self._closed = True
            for item in self._items.values():
                if not item.job.state.finished:
                    item.control.pause()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(10)

    # -- the worker ------------------------------------------------------------------------------------

    def _set(self, item: _Item, **changes: object) -> None:
        with self._cond:
            was = item.job.state
            item.job = dataclasses.replace(item.job, **changes)  # type: ignore[arg-type]
            job = item.job
        if job.state is not was and job.state.finished:
            self._remember()  # before waiters wake: a finished install is already forgotten
        with self._cond:
            self._cond.notify_all()
        self._emit(job)

    # -- unfinished installs survive a restart ---------------------------------------------------------

    def _remember(self) -> None:
        if self._journal is None:
            return
        from sdstudio.core.metadata_io import atomic_write

        with self._cond:
            keep = [
                {f: getattr(i.request, f) for f in _REMEMBERED}
                | {"kind": i.request.kind.value if i.request.kind else ""}
                for i in (self._items[j] for j in self._order)
                if not i.job.state.finished
            ]
        try:
            self._journal.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self._journal, json.dumps(keep, indent=1).encode("utf-8"))
        except OSError as e:
            log.warning("cannot remember the download queue: %s", e)

    def _restore(self) -> None:
        if self._journal is None:
            return
        try:
            saved = json.loads(self._journal.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as e:
            log.warning("the saved download queue %s is unreadable (%s); starting empty", self._journal, e)
            return
        for entry in saved if isinstance(saved, list) else []:
            try:
                remembered: JsonObject = {f: str(entry.get(f, "")) for f in _REMEMBERED}
                request = InstallRequest(
                    **remembered, kind=Kind(entry["kind"]) if entry.get("kind") else None
                )
            except (ValueError, TypeError, AttributeError):
                continue
            job_id, self._next = self._next, self._next + 1
            item = _Item(job_id, request)
            item.job = dataclasses.replace(item.job, state=State.paused, message=RESTORED)
            self._items[job_id] = item
            self._order.append(job_id)

    def _emit(self, job: Job) -> None:
        self._listeners.emit(job)

    def _next_item(self) -> _Item | None:
        with self._cond:
            while not self._closed:
                for job_id in self._order:
                    if self._items[job_id].job.state is State.queued:
                        return self._items[job_id]
                self._cond.wait()
            return None

    def _run(self) -> None:
        while (item := self._next_item()) is not None:
            self._work(item)

    def _work(self, item: _Item) -> None:
        request = item.request
        try:
            # 1. look the source up once (hub and Civitai answer with names, sizes and hashes)
            if item.plan is None:
                self._set(item, state=State.resolving, message="")
                if request.plan is not None:
                    item.plan = request.plan()
                else:
                    item.plan = resolve(
                        request.source,
                        self.settings,
                        kind=request.kind,
                        name=request.name,
                        sha256=request.sha256,
                        local=request.local,
                    )
                self._set(item, title=item.plan.title)
            item.control.check()
            # 2. download, verify and place
            self._set(item, state=State.downloading)
            result = install(
                item.plan,
                self.settings,
                control=item.control,
                on_progress=lambda p: self._set(item, progress=p),
                mode=request.mode,
                hashes=self.hashes,
                save_settings=self.save_settings,
            )
            message = "; ".join((f"installed to {result.paths[0]}", *result.notes))
            self._set(item, state=State.done, result=result, message=message)
        except Stopped as stop:
            if stop.paused:
                self._set(item, state=State.paused, message="paused; resume continues where it stopped")
            else:
                self._discard_partials(item)
                self._set(item, state=State.cancelled, message="cancelled; the partial download was removed")
        except InstallError as e:
            self._set(item, state=State.failed, message=str(e))
        except Exception as e:  # a bug must not kill the queue: the job fails with its reason
            log.exception("install failed")
            self._set(item, state=State.failed, message=f"{type(e).__name__}: {e}")

    def _discard_partials(self, item: _Item) -> None:
        if item.plan is None:
            return
        library = self.settings.library_path()
        for remote in item.plan.files:
            part = partial_path(remote, library)
            part.unlink(missing_ok=True)
            part.with_name(part.name + ".json").unlink(missing_ok=True)
