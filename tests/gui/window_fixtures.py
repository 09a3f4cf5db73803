"""Fixtures (a pytest plugin) shared by the window, worker and gallery panel tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sdstudio.core.jobs import JobQueue
from sdstudio.core.request import Request


@pytest.fixture(scope="module")
def engine(demo_home: Path) -> Any:
    """One CPU engine per module: the demo pipeline loads once, every test's queue reuses it."""
    from sdstudio.core.engine import Engine

    eng = Engine(device="cpu")  # loads the demo from the test's home, where demo_home is linked in
    yield eng
    eng.close()


class _Record:
    def __init__(self, id: int, path: Path, request: Request):
        self.id, self.path, self.request = id, path, request


class FolderStore:
    """Stand-in with the GalleryStore calls the window uses, until sdstudio.core.gallery lands."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.records: list[_Record] = []

    def add(self, result: Any) -> list[_Record]:
        self.folder.mkdir(parents=True, exist_ok=True)
        out = []
        for gen in result.images:
            rec = _Record(
                len(self.records) + 1, self.folder / f"{len(self.records) + 1:05d}.png", gen.request
            )
            gen.image.save(rec.path)
            self.records.append(rec)
            out.append(rec)
        return out

    def search(self, text: str = "", limit: int = 200, offset: int = 0) -> list[_Record]:
        hits = [r for r in reversed(self.records) if text.lower() in r.request.prompt.lower()]
        return hits[offset : offset + limit]

    def thumbnail(self, record: _Record) -> Path:
        return record.path

    def delete(self, record_id: int) -> None:
        self.records = [r for r in self.records if r.id != record_id]


@pytest.fixture
def store(demo_home: Path, tmp_path: Path) -> Any:
    try:
        from sdstudio.core.gallery import GalleryStore
    except ImportError:
        return FolderStore(tmp_path / "outputs")
    return open_store(GalleryStore, tmp_path / "outputs")


def open_store(cls: Any, folder: Path) -> Any:
    try:
        return cls(folder)
    except TypeError:
        return cls(root=folder)


@pytest.fixture
def window(qtbot: Any, engine: Any, store: Any, tmp_path: Path) -> Any:
    from sdstudio.core.models import ModelLibrary
    from sdstudio.gui.main_window import MainWindow

    library = ModelLibrary()
    win = MainWindow(JobQueue(engine_factory=lambda: engine, store=store), store, library, preload=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win
