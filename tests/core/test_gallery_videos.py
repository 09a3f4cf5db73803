"""Finished animations in the gallery store: video entries with thumbnail and settings, found again by a
rebuild, kept outside the pictures folder; and the index's migration from schema 1."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sdstudio.core.animation.encode import encode
from sdstudio.core.animation.project import Project, project_for
from sdstudio.core.animation.settings import AnimationSettings
from sdstudio.core.gallery import GalleryStore
from sdstudio.core.gallery.index import SCHEMA_VERSION, Index
from sdstudio.core.gallery.videos import decode_frames, project_of

COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]


def _animation(video: Path, project: Path | None = None) -> tuple[Project, AnimationSettings]:
    """A finished three-frame animation (red, green, blue) encoded to `video`, as the renderer leaves it."""
    project_ = Project(project or project_for(video))
    settings = project_.prepare(
        AnimationSettings(
            W=64,
            H=64,
            max_frames=3,
            seed=7,
            fps=12,
            prompts={"0": "a red lighthouse", "2": "a blue moon --neg fog"},
        ),
        resume=False,
    )
    for i, colour in enumerate(COLOURS):
        project_.write_frame(i, np.full((64, 64, 3), colour, np.uint8))
    project_.write_thumbnail(np.full((64, 64, 3), COLOURS[0], np.uint8))
    encode(project_.frame_paths(), video, settings.fps)
    return project_, settings


@pytest.fixture
def store(tmp_path: Path) -> GalleryStore:
    s = GalleryStore(tmp_path / "outputs", tmp_path / "index.sqlite3")
    yield s
    s.close()


def test_a_finished_animation_is_a_video_entry_with_thumbnail_and_settings(
    store: GalleryStore, tmp_path: Path
) -> None:
    video = store.root / "animations" / "clip.gif"
    project, settings = _animation(video)
    record = store.add_video(video, project.root)
    assert record.kind == "video" and record.project == str(project.root.resolve())
    assert (record.width, record.height, record.seed, record.mode) == (64, 64, 7, "animation")
    assert record.origin == "animation: 3 frames at 12 fps"
    # every keyframe's prompt is searchable; the kind filters
    assert [r.id for r in store.search("moon")] == [record.id]
    assert store.count(kind="video") == 1 and store.count(kind="image") == 0
    # the thumbnail is the middle frame (green)
    with Image.open(store.thumbnail(record.id)) as thumb:
        r, g, b = thumb.convert("RGB").getpixel((thumb.width // 2, thumb.height // 2))
    assert g > 150 and r < 80 and b < 80
    # the settings come back from the project folder; Reuse of an image request has none
    assert project_of(Path(record.path)) == project.root
    assert store.request_of(record) is None
    frames, fps = decode_frames(video)
    assert len(frames) == 3 and round(fps) == 12


def test_a_rebuilt_index_finds_videos_beside_and_inside_their_projects(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    _animation(outputs / "animations" / "clip.webp")
    api = outputs / "animations" / "20260101-batch1-0"  # the Deforum API's layout: video.mp4 inside
    _animation(api / "video.gif", project=api)
    Image.new("RGB", (8, 8)).save(outputs / "plain.png")
    s = GalleryStore(outputs, tmp_path / "index.sqlite3")
    try:
        assert s.count() == 3 and s.count(kind="video") == 2
        videos = s.search(kind="video")
        assert {Path(r.path).name for r in videos} == {"clip.webp", "video.gif"}
        assert all(r.project and Path(r.project, "settings.txt").is_file() for r in videos)
    finally:
        s.close()


def test_a_video_outside_the_pictures_folder_stays_until_its_file_goes(
    store: GalleryStore, tmp_path: Path
) -> None:
    video = tmp_path / "elsewhere" / "clip.gif"
    project, _ = _animation(video)
    record = store.add_video(video, project.root)
    store.rescan()
    assert store.get(record.id) is not None
    video.unlink()
    store.rescan()
    assert store.count(kind="video") == 0


V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE images (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, created REAL NOT NULL, mtime REAL NOT NULL,
    size INTEGER NOT NULL, prompt TEXT NOT NULL DEFAULT '', negative_prompt TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '', mode TEXT NOT NULL DEFAULT '', seed INTEGER, width INTEGER, height INTEGER,
    steps INTEGER, sampler TEXT, cfg_scale REAL, starred INTEGER NOT NULL DEFAULT 0, pixels TEXT, parent TEXT,
    source TEXT NOT NULL DEFAULT 'sdstudio'
);
CREATE VIRTUAL TABLE images_fts USING fts5(
    prompt, negative_prompt, content='images', content_rowid='id', tokenize='unicode61'
);
CREATE TRIGGER images_ai AFTER INSERT ON images BEGIN
    INSERT INTO images_fts(rowid, prompt, negative_prompt) VALUES (new.id, new.prompt, new.negative_prompt);
END;
CREATE TABLE roots (path TEXT PRIMARY KEY);
INSERT INTO meta VALUES ('schema_version', '1');
"""


def test_an_index_of_schema_1_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    c = sqlite3.connect(path)
    c.executescript(V1_SCHEMA)
    c.execute(
        "INSERT INTO images (path, created, mtime, size, prompt, seed, starred) "
        "VALUES ('/x/00001-5.png', 10, 10, 100, 'an old fox', 5, 1)"
    )
    c.commit()
    c.close()
    index = Index(path)
    try:
        columns = {r[1] for r in index.conn().execute("PRAGMA table_info(images)")}
        assert {"kind", "project", "origin"} <= columns
        version = index.conn().execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
        assert int(version) == SCHEMA_VERSION == 2
        (old,) = index.search("fox")
        assert (old.kind, old.project, old.origin, old.seed, old.starred) == ("image", None, "", 5, True)
        assert index.count(kind="video") == 0 and index.count(starred=True) == 1
    finally:
        index.close()
    Index(path).close()  # opening a migrated index again changes nothing
    with pytest.raises(RuntimeError, match="newer sdstudio"):
        c = sqlite3.connect(path)
        c.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
        c.commit()
        c.close()
        Index(path)
