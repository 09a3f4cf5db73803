"""The studio's state on disk, in one place: the settings, the autosaved parameters, canvas and queue.

Qt-free. Only the window's geometry and dock layout stay in the GUI's QSettings file (`layout_file`).

Layout version 2 (`LAYOUT_VERSION`):
    <config>/settings.json        Settings (core/settings.py)
    <config>/sdstudio.ini         QSettings: window geometry and dock layout only
    <data>/autosave/state.json    {"version": 2, "parameters": <schema document>, "canvas": {brush, mask colour}}
    <data>/autosave/canvas/       image.png, mask.png (the GUI's Autosaver writes them through `canvas_dir`)
    <data>/autosave/references/   the reference strip's pictures, SHA256.png (the parameters name their hash)
    <data>/autosave/queue.json    the jobs a crash left unrun
Version 1 kept the parameters in autosave/prompt.json and the brush in the ini's [canvas] group; `open_state`
migrates them. A state.json from a newer sdstudio, or a damaged one, is set aside (renamed), never overwritten.
"""

from __future__ import annotations

import configparser
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sdstudio.core import paths, schema
from sdstudio.core.metadata_io import atomic_write
from sdstudio.core.request import InputImage, Request, RequestError, open_image
from sdstudio.core.settings import Settings

log = logging.getLogger(__name__)

LAYOUT_VERSION = 2
STATE_FILE = "state.json"
QUEUE_FILE = "queue.json"
CANVAS_DIR = "canvas"
REFERENCES_DIR = "references"
V1_PROMPT_FILE = "prompt.json"  # version 1: the parameters' schema document on its own


@dataclass(frozen=True)
class StudioPaths:
    """Every file and folder the services use, decided once (SDSTUDIO_HOME / platform folders by default)."""

    settings_file: Path
    gallery_index: Path
    state_dir: Path  # the autosave: state.json, canvas/, queue.json
    layout_file: Path  # the GUI's QSettings ini (window geometry and docks)
    outputs: Path | None = None  # None: the settings' outputs folder

    @classmethod
    def default(cls) -> StudioPaths:
        data = paths.data_dir()
        return cls(
            Settings.default_path(),
            data / "gallery" / "index.sqlite3",
            data / "autosave",
            paths.config_dir() / "sdstudio.ini",
        )

    @classmethod
    def under(cls, folder: Path) -> StudioPaths:
        """Every file under one folder, laid out as the defaults are (tests, portable copies)."""
        return cls(
            folder / "config" / "settings.json",
            folder / "data" / "gallery" / "index.sqlite3",
            folder / "data" / "autosave",
            folder / "config" / "sdstudio.ini",
        )


@dataclass
class CanvasPrefs:
    """The canvas tools as the artist left them."""

    brush_size: int | None = None  # None: the tool's own default
    mask_color: str = ""  # "": the tool's own default


@dataclass
class StudioState:
    """The settings and the autosaved studio, read once by `open_state`; each save writes its file atomically."""

    paths: StudioPaths
    settings: Settings
    parameters: Request | None = None  # the autosaved parameters (a Request less its canvas inputs)
    canvas: CanvasPrefs = field(default_factory=CanvasPrefs)

    @property
    def canvas_dir(self) -> Path:
        return self.paths.state_dir / CANVAS_DIR

    @property
    def queue_file(self) -> Path:
        return self.paths.state_dir / QUEUE_FILE

    @property
    def layout_file(self) -> Path:
        return self.paths.layout_file

    def save_settings(self) -> None:
        self.settings.save(self.paths.settings_file)

    @property
    def references_dir(self) -> Path:
        return self.paths.state_dir / REFERENCES_DIR

    def save_parameters(self, parameters: Request) -> None:
        """The reference pictures not on disk yet, the parameters naming them, then the pictures no longer named."""
        pictures = {u.image.sha256: u.image for u in parameters.controls if u.image is not None}
        folder = self.references_dir
        for sha, image in pictures.items():
            if not (folder / f"{sha}.png").exists():
                folder.mkdir(parents=True, exist_ok=True)
                atomic_write(folder / f"{sha}.png", image.png)
        self.parameters = parameters
        self._write()
        for old in folder.glob("*.png") if folder.is_dir() else ():
            if old.stem not in pictures:
                old.unlink(missing_ok=True)

    def save_canvas(self, prefs: CanvasPrefs) -> None:
        self.canvas = prefs
        self._write()

    def _write(self) -> None:
        doc = {
            "version": LAYOUT_VERSION,
            "parameters": schema.dump(self.parameters) if self.parameters is not None else None,
            "canvas": asdict(self.canvas),
        }
        self.paths.state_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self.paths.state_dir / STATE_FILE, json.dumps(doc, ensure_ascii=False).encode())


def open_state(studio_paths: StudioPaths, settings: Settings | None = None) -> StudioState:
    """The settings (given, or read from the settings file) and the autosaved studio, migrated to version 2."""
    # 1. the settings
    state = StudioState(
        studio_paths, settings if settings is not None else Settings.load(studio_paths.settings_file)
    )
    # 2. an older layout becomes version 2
    state_file = studio_paths.state_dir / STATE_FILE
    if not state_file.exists():
        _migrate_v1(state)
        return state
    # 3. version 2
    try:
        doc = json.loads(state_file.read_text("utf-8"))
        if not isinstance(doc, dict) or not isinstance(doc.get("version"), int):
            raise ValueError("not a studio state document")
        if doc["version"] > LAYOUT_VERSION:
            raise ValueError(
                f"written by a newer sdstudio (layout {doc['version']}, this one reads {LAYOUT_VERSION})"
            )
    except (OSError, ValueError) as e:
        _set_aside(state_file, e)
        return state
    state.parameters = _parameters(doc.get("parameters"), state_file, state.references_dir)
    state.canvas = _canvas_prefs(doc.get("canvas"))
    return state


def _migrate_v1(state: StudioState) -> None:
    """prompt.json and the ini's [canvas] group become state.json (the canvas folder and queue stay put)."""
    prompt_file = state.paths.state_dir / V1_PROMPT_FILE
    found = False
    if prompt_file.exists():
        found = True
        try:
            state.parameters = schema.loads(prompt_file.read_bytes())[0]
        except (OSError, schema.SchemaError) as e:
            log.warning("autosaved prompt %s ignored: %s", prompt_file, e)
    ini = configparser.RawConfigParser(strict=False)
    try:
        ini.read(state.paths.layout_file, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as e:
        log.warning("window settings %s unreadable: %s", state.paths.layout_file, e)
    if ini.has_section("canvas"):
        found = True
        brush = ini.get("canvas", "brush_size", fallback="")
        state.canvas = CanvasPrefs(
            int(brush) if brush.isdigit() else None, ini.get("canvas", "mask_color", fallback="")
        )
    if not found:
        return
    try:
        state._write()
        prompt_file.unlink(missing_ok=True)
        log.info("autosave in %s migrated to layout %d", state.paths.state_dir, LAYOUT_VERSION)
    except OSError as e:
        log.warning("autosave not migrated: %s", e)


def _parameters(doc: object, source: Path, references: Path) -> Request | None:
    if doc is None:
        return None
    try:
        request = schema.load(doc, resolve_image=lambda sha: _reference(references, sha))[0]
    except schema.SchemaError as e:
        log.warning("autosaved parameters in %s ignored: %s", source, e)
        return None
    kept = tuple(u for u in request.controls if u.image is not None or not u.name)
    if len(kept) < len(request.controls):  # a named (strip) reference whose picture is gone
        log.warning("autosaved references without their pictures in %s dropped", references)
        request = request.replace(controls=kept)
    return request


def _reference(folder: Path, sha: str) -> InputImage | None:
    """An autosaved reference picture by the sha256 of its PNG bytes (the very bytes: the same hash)."""
    path = folder / f"{sha}.png"
    if not sha.isalnum() or not path.is_file():
        return None
    try:
        data = path.read_bytes()
        with open_image(data, f"autosaved reference {sha[:12]}") as img:
            return InputImage(data, img.width, img.height)
    except (OSError, RequestError) as e:
        log.warning("autosaved reference %s ignored: %s", path, e)
        return None


def _canvas_prefs(doc: object) -> CanvasPrefs:
    if not isinstance(doc, dict):
        return CanvasPrefs()
    brush, color = doc.get("brush_size"), doc.get("mask_color")
    return CanvasPrefs(
        brush if isinstance(brush, int) and not isinstance(brush, bool) and brush > 0 else None,
        color if isinstance(color, str) else "",
    )


def _set_aside(state_file: Path, why: Exception) -> None:
    """A state this version cannot read is renamed (kept for the sdstudio that wrote it) and logged."""
    aside = state_file.with_name(f"{state_file.stem}.unread{state_file.suffix}")
    log.warning("studio state %s set aside as %s: %s", state_file, aside.name, why)
    try:
        state_file.replace(aside)
    except OSError as e:
        log.warning("cannot set %s aside: %s", state_file, e)
