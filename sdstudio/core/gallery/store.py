"""The gallery store: every result saved as a PNG with full parameters; files are the source of truth."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sdstudio.core import paths, schema
from sdstudio.core.errors import SaveError
from sdstudio.core.gallery.index import GalleryFilter, Index, Record
from sdstudio.core.gallery.metadata import CHUNK, ImageParameters, pixel_hash, png_bytes
from sdstudio.core.gallery.reading import read_parameters
from sdstudio.core.gallery.videos import find_videos, poster, project_of, video_values
from sdstudio.core.jsontypes import JsonObject
from sdstudio.core.metadata_io import atomic_write
from sdstudio.core.request import InputImage, Request, Result

if TYPE_CHECKING:
    from PIL.Image import Image
    from typing_extensions import Unpack

    from sdstudio.core.lora.catalog import LoraCatalog


log = logging.getLogger(__name__)
ANIMATION_MARKER = ".sdstudio-animation"  # written by sdstudio.core.animation.project
HIDDEN = ".sdstudio"  # per-root folder: inputs by content hash, stars
IMAGE_SUFFIXES = (".png",)
_NUMBERED = re.compile(r"^(\d{5})-")


class GalleryStore:
    def __init__(self, root: Path, index_path: Path | None = None):
        """A store over the pictures folder `root`; `index_path`: the SQLite index (default: the data folder's)."""
        self.root = Path(root).expanduser()
        self.root.mkdir(parents=True, exist_ok=True)
        self.index_path = index_path or paths.data_dir() / "gallery" / "index.sqlite3"
        self._write_lock = threading.Lock()
        self._counters: dict[Path, int] = {}
        self.index = Index(self.index_path)
        self.index.add_root(str(self.root.resolve()))
        self.clean_debris()
        if self.index.created:  # missing index: rebuild it from the files
            self.rescan()

    # -- writing ---------------------------------------------------------------------------------
    def add(self, result: Result) -> list[Record]:
        """Save every picture of a result (atomically, under a name no other process holds) and index it.
        A failure raises SaveError whose `records` are the pictures saved before it."""
        records: list[Record] = []
        with self._write_lock:
            for gen in result.images:
                try:
                    for image in (
                        gen.request.init_image,
                        gen.request.mask,
                        *(u.image for u in gen.request.controls),
                    ):
                        if image is not None:
                            self._save_input(image)
                    path = self._write_numbered(png_bytes(gen, result), gen.seed)
                except OSError as e:
                    raise SaveError(_save_failure(self.root, e), tuple(records)) from e
                parent = pixel_hash(gen.request.init_image.to_pil()) if gen.request.init_image else None
                extra = {"origin": dict(result.origin)} if result.origin else {}
                known = ImageParameters("", gen.request, "sdstudio", result.model_name, parent, extra)
                records.append(self._index_file(path, known=known, image=gen.image))
        return records

    def _write_numbered(self, data: bytes, seed: int) -> Path:
        """Write under the day folder's next free number. The number is claimed exclusively (O_EXCL on a
        claim file) and checked free, so the window and `serve` sharing a folder never take the same one,
        and a failed write gives its number back."""
        folder = self.root / time.strftime("%Y-%m-%d")
        folder.mkdir(parents=True, exist_ok=True)
        if folder not in self._counters:
            self._counters[folder] = _next_number(folder)
        while True:
            n = self._counters[folder]
            claim = folder / f".{n:05d}.claim"
            try:
                os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            except FileExistsError:  # another process is writing this number
                self._counters[folder] = max(n + 1, _next_number(folder))
                continue
            try:
                if any(folder.glob(f"{n:05d}-*")):  # another process wrote it since our count
                    self._counters[folder] = max(n + 1, _next_number(folder))
                    continue
                path = folder / f"{n:05d}-{seed}.png"
                atomic_write(path, data)  # temp + fsync + rename: no partial file, ever
                self._counters[folder] = n + 1
                return path
            finally:
                claim.unlink(missing_ok=True)

    def clean_debris(self, older_than: float = 120.0) -> int:
        """Remove what a crash left (temporary and claim files older than `older_than` seconds: a process
        sharing the folder may be writing the fresh ones); returns how many."""
        removed, now = 0, time.time()
        for dirpath, _dirs, filenames in os.walk(self.root):
            for name in filenames:
                if name.startswith(".") and name.endswith((".tmp", ".claim")):
                    full = Path(dirpath, name)
                    try:
                        if now - full.stat().st_mtime > older_than:
                            full.unlink()
                            removed += 1
                    except OSError:
                        continue
        return removed

    def _input_path(self, sha: str) -> Path:
        return input_path(self.root, sha)

    def _save_input(self, image: InputImage) -> None:
        _save_input(self.root, image)

    def _index_file(
        self, path: Path, known: ImageParameters | None = None, image: Image | None = None
    ) -> Record:
        """Index one file; `known`/`image` spare re-reading what the caller just wrote."""
        st = path.stat()
        params = known or read_parameters(path)
        r = params.request or Request()
        from PIL import Image

        if image is not None:
            pixels, (width, height) = pixel_hash(image), image.size
        else:
            with Image.open(path) as img:
                pixels = pixel_hash(img)
                width, height = img.size
        values = {
            "path": str(path.resolve()),
            "created": st.st_mtime,
            "mtime": st.st_mtime,
            "size": st.st_size,
            "prompt": r.prompt,
            "negative_prompt": r.negative_prompt,
            "model": params.model or r.model,
            "mode": r.mode.value if params.request else "",
            "seed": r.seed if params.request else None,
            "width": width,
            "height": height,
            "steps": r.steps if params.request else None,
            "sampler": r.sampler if params.request else None,
            "cfg_scale": r.cfg_scale if params.request else None,
            "starred": int(str(path.resolve()) in self._stars()),
            "pixels": pixels,
            "parent": params.parent,
            "source": params.tool,
            "origin": _origin_text(params.extra) if params.tool == "sdstudio" else "",
        }
        return self._insert(values)

    def _insert(self, values: JsonObject) -> Record:
        record_id = self.index.insert(values)
        return Record(
            id=record_id,
            **{k: v for k, v in values.items() if k not in ("mtime", "size")}
            | {"starred": bool(values["starred"])},
        )

    def add_video(self, video: Path, project: Path) -> Record:
        """Index a finished animation where it lies (it need not be under the pictures folder): an entry of
        kind "video" with its project folder. ValueError when the project's settings cannot be read."""
        video, project = Path(video), Path(project)
        values = video_values(video, project)
        values["starred"] = int(values["path"] in self._stars())
        with self._write_lock:
            return self._insert(values)

    # -- stars live beside the files, so a rebuilt index keeps them -------------------------------
    def _stars_file(self) -> Path:
        return self.root / HIDDEN / "stars.json"

    def _stars(self) -> set[str]:
        try:
            return set(json.loads(self._stars_file().read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return set()

    def set_star(self, record_id: int, starred: bool) -> None:
        record = self.get(record_id)
        if record is None:
            return
        with self._write_lock:
            self.index.set_star(record_id, starred)
            stars = self._stars()
            (stars.add if starred else stars.discard)(record.path)
            self._stars_file().parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self._stars_file(), json.dumps(sorted(stars)).encode())

    # -- reading ---------------------------------------------------------------------------------
    def search(
        self,
        text: str = "",
        *,
        limit: int = 200,
        offset: int = 0,
        after: Record | None = None,
        **filters: Unpack[GalleryFilter],
    ) -> list[Record]:
        return self.index.search(text, limit=limit, offset=offset, after=after, **filters)

    def count(self, text: str = "", **filters: Unpack[GalleryFilter]) -> int:
        return self.index.count(text, **filters)

    def get(self, record_id: int) -> Record | None:
        return self.index.get(record_id)

    def request_of(self, record: Record, loras: LoraCatalog | None = None) -> Request | None:
        """The full request (inputs resolved from the input store), also for other tools' images.

        loras: a LoraCatalog; LoRA tags naming no file are then relinked by their recorded hash."""
        try:
            data = read_parameters(Path(record.path))
        except (OSError, ValueError):
            return None
        request = data.request
        if (
            record.kind == "video"
        ):  # an animation: its settings are in the project (sdstudio.core.gallery.videos)
            return None
        if request is not None and data.tool == "sdstudio":
            from PIL import Image

            with Image.open(record.path) as img:
                chunk = img.text[CHUNK]
            request = schema.loads(chunk, resolve_image=self._resolve_input)[0]
        if request is not None and loras is not None:
            from sdstudio.core.lora.relink import recorded_hashes, relink

            request = request.replace(prompt=relink(request.prompt, recorded_hashes(data.extra), loras))
        return request

    def _resolve_input(self, sha: str) -> InputImage | None:
        path = self._input_path(sha)
        return InputImage(path.read_bytes(), *_size(path)) if path.exists() else None

    def input_image(self, sha256: str) -> InputImage | None:
        """A stored input picture (init image or mask) by the sha256 of its PNG bytes."""
        return self._resolve_input(sha256) if sha256.isalnum() else None

    def picture_with_pixels(self, pixels: str) -> Path | None:
        """The oldest indexed picture with these pixels (a parent in a lineage), if its file still exists."""
        record = self.index.by_pixels(pixels)
        return Path(record.path) if record is not None and Path(record.path).is_file() else None

    def lineage(self, record_id: int) -> list[Record]:
        """This record, its parent, ... back to the first picture (usually a txt2img)."""
        chain: list[Record] = []
        record = self.get(record_id)
        while record is not None and record not in chain:
            chain.append(record)
            record = self.index.by_pixels(record.parent) if record.parent else None
        return chain

    def thumbnail(self, record_id: int) -> Path | None:
        from sdstudio.core.gallery.thumbs import thumbnail

        record = self.get(record_id)
        if record is None:
            return None
        if record.kind == "video":  # the middle frame, else a frame decoded from the file
            from sdstudio.core.gallery.videos import first_frame

            video = Path(record.path)
            source = poster(video, Path(record.project) if record.project else None)
            return thumbnail(source or video, decode=None if source else first_frame)
        return thumbnail(Path(record.path))

    # -- deleting and rescanning -----------------------------------------------------------------
    def delete(self, record_id: int) -> bool:
        """Send the file to the system trash and drop its row."""
        record = self.get(record_id)
        if record is None:
            return False
        path = Path(record.path)
        if path.exists():
            from send2trash import send2trash

            try:
                send2trash(str(path))
            except OSError as e:
                log.warning("trash unavailable (%s); deleting %s", e, path)
                path.unlink(missing_ok=True)
        self.index.delete_paths([record.path])
        return True

    def index_folder(self, folder: Path) -> int:
        """Index another tool's outputs in place (no copy); returns how many images were added."""
        folder = Path(folder).expanduser().resolve()
        if not folder.is_dir():
            raise ValueError(f"{folder}: not a folder")
        self.index.add_root(str(folder))
        return self.rescan()

    def rescan(self) -> int:
        """Bring the index in line with the files: new or changed files indexed, vanished ones dropped."""
        known = self.index.files()
        videos = self.index.video_paths()
        seen: set[str] = set()
        added = 0
        for root in self.index.roots():
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
                for full in find_videos(dirpath, filenames):
                    added += self._rescan_video(Path(full), known, seen)
                if ANIMATION_MARKER in filenames:  # a project: its frames are not pictures (its video is)
                    dirnames[:] = []
                    continue
                for name in filenames:
                    if not name.lower().endswith(IMAGE_SUFFIXES):
                        continue
                    full = os.path.join(dirpath, name)
                    try:
                        st = os.stat(full)
                    except OSError:
                        continue
                    key = str(Path(full).resolve())
                    seen.add(key)
                    if known.get(key) == (st.st_mtime, st.st_size):
                        continue
                    try:
                        self._index_file(Path(full))
                        added += 1
                    except (OSError, ValueError) as e:
                        log.warning("skipping unreadable image %s: %s", full, e)
        # a video indexed where it lies (outside the roots: `sdstudio animate -o ~/clip.mp4`) stays while it exists
        gone = [p for p in known if p not in seen and not (p in videos and Path(p).is_file())]
        if gone:
            self.index.delete_paths(gone)
        return added

    def _rescan_video(self, video: Path, known: dict[str, tuple[float, int]], seen: set[str]) -> int:
        """Index a video found beside its project folder when new or changed; 1 when it was (re)indexed."""
        key = str(video.resolve())
        seen.add(key)
        try:
            st = video.stat()
            if known.get(key) == (st.st_mtime, st.st_size):
                return 0
            project = project_of(video)
            if project is None:
                return 0
            self.add_video(video, project)
            return 1
        except (OSError, ValueError) as e:
            log.warning("skipping video %s: %s", video, e)
            return 0

    def close(self) -> None:
        self.index.close()


def input_path(root: Path, sha: str) -> Path:
    """Where an input picture is kept by content hash under an outputs folder."""
    return Path(root) / HIDDEN / "inputs" / sha[:2] / f"{sha}.png"


def _save_input(root: Path, image: InputImage) -> None:
    path = input_path(root, image.sha256)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, image.png)


def keep_inputs(root: Path, request: Request) -> None:
    """Keep a request's input pictures (init, mask, references) in the outputs folder's input store (also for
    the CLI's own files)."""
    for image in (request.init_image, request.mask, *(u.image for u in request.controls)):
        if image is not None:
            try:
                _save_input(Path(root).expanduser(), image)
            except OSError as e:  # the picture itself still gets written; only replay loses its input
                log.warning("could not keep the input picture for replay: %s", e)


def _origin_text(extra: JsonObject) -> str:
    """The readable line of how a picture was made (its chunk's `origin`), e.g. "trained LoRA cat step 400"."""
    origin = extra.get("origin")
    return str(origin.get("text", "")) if isinstance(origin, dict) else ""


def _next_number(folder: Path) -> int:
    return max((int(m.group(1)) for p in folder.iterdir() if (m := _NUMBERED.match(p.name))), default=-1) + 1


def _save_failure(folder: Path, error: OSError) -> str:
    """One line naming the folder, the reason and the free space."""
    import shutil

    try:
        free = f"{shutil.disk_usage(folder).free / 2**20:,.0f} MiB free"
    except OSError:
        free = "free space unknown"
    return f"could not save to {folder} ({error.strerror or error}; {free})"


def _size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as img:
        return img.size
