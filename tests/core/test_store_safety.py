"""Nothing lost in the store: crash debris cleaned, names unique across processes, pictures kept when saving
fails, no skipped numbers, and a job queue whose memory stays flat."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PIL import Image

from sdstudio.core.errors import SaveError
from sdstudio.core.gallery import GalleryStore, read_parameters
from sdstudio.core.jobs import KEPT_FINALS, JobFinished, JobQueue
from sdstudio.core.models import ModelLibrary
from sdstudio.core.request import GeneratedImage, InputImage, Mode, Request, Result
from sdstudio.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _result(prompt: str, seed: int = 1, **kw) -> Result:
    req = Request(prompt=prompt, seed=seed, width=64, height=64, **kw)
    img = Image.new("RGB", (64, 64), (seed % 256, 60, 90))
    return Result(req, (GeneratedImage(img, seed, req.replace(seed=seed)),), "demo", "")


def _numbered(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*.png") if ".sdstudio" not in p.parts)


def test_crash_debris_is_cleaned_at_start(tmp_path: Path) -> None:
    day = tmp_path / "out" / "2026-01-01"
    day.mkdir(parents=True)
    (day / ".00003-7.png.abc123.tmp").write_bytes(b"half a picture")
    (day / ".00004.claim").write_bytes(b"")  # a number claimed, then the process died
    for debris in day.iterdir():
        os.utime(debris, (time.time() - 3600, time.time() - 3600))
    (day / ".00005-1.png.fresh.tmp").write_bytes(b"another process is writing this one now")
    keep = day / "00002-5.png"
    _result("kept").images[0].image.save(keep)
    store = GalleryStore(tmp_path / "out", tmp_path / "index.sqlite3")
    try:
        assert sorted(p.name for p in day.iterdir()) == [".00005-1.png.fresh.tmp", "00002-5.png"]
        assert [r.path for r in store.search()] == [str(keep.resolve())]
    finally:
        store.close()


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from PIL import Image
    from sdstudio.core.gallery import GalleryStore
    from sdstudio.core.request import GeneratedImage, Request, Result

    root, index, name, go = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    store = GalleryStore(Path(root), Path(index))
    while not go.exists():
        time.sleep(0.005)
    for i in range(12):
        req = Request(prompt=f"{name} {i}", seed=i, width=64, height=64)
        store.add(Result(req, (GeneratedImage(Image.new("RGB", (64, 64)), i, req),)))
    store.close()
    """
)


def test_two_processes_sharing_a_folder_never_overwrite_each_other(tmp_path: Path) -> None:
    go = tmp_path / "go"
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    args = [str(tmp_path / "out"), str(tmp_path / "index.sqlite3")]
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, *args, name, str(go)], env=env)
        for name in ("window", "serve")
    ]
    time.sleep(1.5)  # both stores open, counters read from the same (empty) folder
    go.touch()
    assert [p.wait(120) for p in procs] == [0, 0]
    names = _numbered(tmp_path / "out")
    assert len(names) == 24 and len({n[:5] for n in names}) == 24  # 24 pictures, 24 numbers
    prompts = {read_parameters(p).request.prompt for p in (tmp_path / "out").rglob("0*.png")}
    assert prompts == {f"{who} {i}" for who in ("window", "serve") for i in range(12)}


def test_a_failed_save_keeps_the_pictures_and_skips_no_number(tmp_path: Path) -> None:
    store = GalleryStore(tmp_path / "out", tmp_path / "index.sqlite3")
    try:
        store.add(_result("first", seed=1))
        # 1. a write past the file-size limit fails as a full disk does (EFBIG instead of ENOSPC)
        old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (512, old_limit[1]))
        try:
            with pytest.raises(SaveError, match=r"could not save to .*out.* MiB free") as failed:
                store.add(_result("too big", seed=2))
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
            signal.signal(signal.SIGXFSZ, old_handler)
        assert failed.value.records == ()
        # 2. the next picture takes the number the failed one gave back; nothing half-written is left
        store.add(_result("third", seed=3))
        names = _numbered(tmp_path / "out")
        assert [n[:5] for n in names] == ["00000", "00001"] and names[1].endswith("-3.png")
        assert not list((tmp_path / "out").rglob("*.tmp"))
    finally:
        store.close()


def test_the_queue_returns_pictures_it_could_not_save(tmp_path: Path, demo_home: Path) -> None:
    from sdstudio.core.engine import Engine

    store = GalleryStore(tmp_path / "out", tmp_path / "index.sqlite3")
    (store.root / ".sdstudio").mkdir()
    (store.root / ".sdstudio" / "inputs").write_text("a file where the input folder belongs")
    queue = JobQueue(engine_factory=lambda: Engine(ModelLibrary(Settings.load()), device="cpu"), store=store)
    init = InputImage.from_pil(Image.new("RGB", (64, 64), (9, 9, 9)))
    job = queue.submit(
        Request(prompt="kept", mode=Mode.img2img, init_image=init, steps=2, strength=0.5, width=64, height=64)
    )
    queue.run_pending()
    final = queue.take(job)
    store.close()
    assert isinstance(final, JobFinished) and len(final.result.images) == 1
    assert final.records == () and str(store.root) in final.save_error and "MiB free" in final.save_error


def test_finished_results_kept_are_bounded(demo_home: Path) -> None:
    from sdstudio.core.engine import Engine

    queue = JobQueue(engine_factory=lambda: Engine(ModelLibrary(Settings.load()), device="cpu"))
    for i in range(1000):  # a thousand jobs end (removed while waiting) and nobody collects them
        queue.remove(queue.submit(Request(prompt=f"{i}", steps=1, width=64, height=64)).id)
    assert len(queue._finals) == KEPT_FINALS
    jobs = [queue.submit(Request(prompt=f"run {i}", steps=1, width=64, height=64, seed=i)) for i in range(2)]
    queue.run_pending()
    assert len(queue._finals) == KEPT_FINALS  # the oldest results were let go
    assert isinstance(queue.take(jobs[0]), JobFinished) and queue.take(jobs[0]) is None
    assert len(queue._finals) == KEPT_FINALS - 1  # a waiter that took its result leaves no trace
