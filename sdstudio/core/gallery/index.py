"""The gallery's SQLite index: WAL, one connection per thread, parameterised SQL, FTS5 over the prompts."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from sdstudio.core.jsontypes import JsonObject

if TYPE_CHECKING:
    from typing_extensions import Unpack

SqlValue = str | int | float | None  # a value bound to a `?` of the index's queries
SCHEMA_VERSION = 2  # 2: kind (image/video), project (an animation's folder), origin (how it was made)
# columns schema 2 added (a new index has them from the start; an older one gets them by ALTER TABLE)
MIGRATION_2 = (
    ("kind", "TEXT NOT NULL DEFAULT 'image'"),
    ("project", "TEXT"),
    ("origin", "TEXT NOT NULL DEFAULT ''"),
)
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    mtime REAL NOT NULL,
    size INTEGER NOT NULL,
    prompt TEXT NOT NULL DEFAULT '',
    negative_prompt TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    mode TEXT NOT NULL DEFAULT '',
    seed INTEGER,
    width INTEGER,
    height INTEGER,
    steps INTEGER,
    sampler TEXT,
    cfg_scale REAL,
    starred INTEGER NOT NULL DEFAULT 0,
    pixels TEXT,
    parent TEXT,
    source TEXT NOT NULL DEFAULT 'sdstudio',
    {added}
);
CREATE INDEX IF NOT EXISTS images_created ON images(created DESC, id DESC);
CREATE INDEX IF NOT EXISTS images_model ON images(model, created DESC);
CREATE INDEX IF NOT EXISTS images_mode ON images(mode, created DESC);
CREATE INDEX IF NOT EXISTS images_starred ON images(starred, created DESC);
CREATE INDEX IF NOT EXISTS images_pixels ON images(pixels);
CREATE VIRTUAL TABLE IF NOT EXISTS images_fts USING fts5(
    prompt, negative_prompt, content='images', content_rowid='id', tokenize='unicode61'
);
CREATE TRIGGER IF NOT EXISTS images_ai AFTER INSERT ON images BEGIN
    INSERT INTO images_fts(rowid, prompt, negative_prompt) VALUES (new.id, new.prompt, new.negative_prompt);
END;
CREATE TRIGGER IF NOT EXISTS images_ad AFTER DELETE ON images BEGIN
    INSERT INTO images_fts(images_fts, rowid, prompt, negative_prompt) VALUES ('delete', old.id, old.prompt, old.negative_prompt);
END;
CREATE TABLE IF NOT EXISTS roots (path TEXT PRIMARY KEY);
""".replace("{added}", ",\n    ".join(f"{name} {kind}" for name, kind in MIGRATION_2))


@dataclass(frozen=True)
class Record:
    id: int
    path: str
    created: float
    prompt: str = ""
    negative_prompt: str = ""
    model: str = ""
    mode: str = ""
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    sampler: str | None = None
    cfg_scale: float | None = None
    starred: bool = False
    parent: str | None = None  # pixel hash of the init image (img2img / inpaint)
    pixels: str | None = None  # pixel hash of this image
    source: str = "sdstudio"
    kind: str = "image"  # "image", or "video" (an animation: MP4, GIF or animated WebP)
    project: str | None = None  # a video's project folder (frames, settings.txt)
    origin: str = ""  # how it was made beyond its parameters, e.g. "trained LoRA cat step 400"


COLUMNS = [f.name for f in fields(Record)]


class GalleryFilter(TypedDict, total=False):
    """What a gallery search or count narrows to besides its text; None (or absent) = no narrowing."""

    model: str | None
    mode: str | None
    starred: bool | None
    since: float | None  # created at or after (epoch seconds)
    until: float | None  # created before
    kind: str | None  # "image" or "video"


WRITABLE = [c for c in COLUMNS if c != "id"] + ["mtime", "size"]


def fts_query(text: str) -> str:
    """User text to an FTS5 query: "quoted phrases" kept, other words ANDed, the last word as a prefix."""
    parts: list[str | tuple[str, str]] = []
    rest = text
    while rest.count('"') >= 2:
        before, _, after = rest.partition('"')
        phrase, _, rest = after.partition('"')
        parts.extend(before.split())
        if phrase.strip():
            parts.append(("phrase", phrase))
    words: list[str | tuple[str, str]] = [*parts, *rest.replace('"', " ").split()]
    out = []
    for i, w in enumerate(words):
        if isinstance(w, tuple):
            out.append('"' + w[1].replace('"', '""') + '"')
        else:
            token = "".join(ch for ch in w if ch.isalnum() or ch in "_-'")
            if token:
                out.append('"' + token.replace('"', '""') + '"' + ("*" if i == len(words) - 1 else ""))
    return " ".join(out)


class Index:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.created = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate()

    def conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False, isolation_level=None)
            c.row_factory = sqlite3.Row
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=NORMAL")
            c.execute("PRAGMA busy_timeout=30000")
            self._local.conn = c
            with self._lock:
                self._all.append(c)
        return c

    def _migrate(self) -> None:
        """Create the tables, or bring an older index up to SCHEMA_VERSION step by step in one transaction."""
        c = self.conn()
        c.executescript(SCHEMA)
        row = c.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        version = SCHEMA_VERSION if row is None else int(row[0])
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"{self.path}: index written by a newer sdstudio (schema {row[0]})")
        c.execute("BEGIN IMMEDIATE")
        try:
            have = {r[1] for r in c.execute("PRAGMA table_info(images)")}
            if version < 2:  # 1 → 2: videos and their project folders; how a picture was made
                for column, kind in MIGRATION_2:
                    if column not in have:
                        c.execute(f"ALTER TABLE images ADD COLUMN {column} {kind}")
            c.execute("CREATE INDEX IF NOT EXISTS images_kind ON images(kind, created DESC)")
            c.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            for c in self._all:
                try:
                    c.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()

    # -- writing ---------------------------------------------------------------------------------
    def insert(self, values: JsonObject) -> int:
        cols = [k for k in WRITABLE if k in values]
        sql = f"INSERT OR REPLACE INTO images ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
        return int(self.conn().execute(sql, [_column(k, values[k]) for k in cols]).lastrowid or 0)

    def insert_many(self, rows: list[JsonObject]) -> None:
        c = self.conn()
        c.execute("BEGIN")
        try:
            for values in rows:
                cols = [k for k in WRITABLE if k in values]
                c.execute(
                    f"INSERT OR REPLACE INTO images ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                    [_column(k, values[k]) for k in cols],
                )
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def delete_paths(self, paths: list[str]) -> None:
        c = self.conn()
        c.execute("BEGIN")
        c.executemany("DELETE FROM images WHERE path = ?", [(p,) for p in paths])
        c.execute("COMMIT")

    def set_star(self, record_id: int, starred: bool) -> None:
        self.conn().execute("UPDATE images SET starred = ? WHERE id = ?", (int(starred), record_id))

    # -- reading ---------------------------------------------------------------------------------
    def _where(self, text: str, filters: GalleryFilter) -> tuple[str, list[SqlValue]]:
        unknown = set(filters) - set(GalleryFilter.__annotations__)
        if unknown:
            raise TypeError(f"unknown gallery filter(s): {', '.join(sorted(unknown))}")
        model, mode, kind = filters.get("model"), filters.get("mode"), filters.get("kind")
        starred, since, until = filters.get("starred"), filters.get("since"), filters.get("until")
        clauses: list[str] = []
        args: list[SqlValue] = []
        if text.strip() and (q := fts_query(text)):
            clauses.append("images.id IN (SELECT rowid FROM images_fts WHERE images_fts MATCH ?)")
            args.append(q)
        for col, value in (("model", model), ("mode", mode), ("kind", kind)):
            if value:
                clauses.append(f"{col} = ?")
                args.append(value)
        if starred is not None:
            clauses.append("starred = ?")
            args.append(int(starred))
        if since is not None:
            clauses.append("created >= ?")
            args.append(since)
        if until is not None:
            clauses.append("created < ?")
            args.append(until)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    def search(
        self,
        text: str = "",
        *,
        limit: int = 200,
        offset: int = 0,
        after: Record | None = None,
        **filters: Unpack[GalleryFilter],
    ) -> list[Record]:
        """Newest first. For deep pages pass `after` (the last record of the previous page): keyset paging."""
        where, args = self._where(text, filters)
        if after is not None:
            where += (" AND " if where else " WHERE ") + "(created < ? OR (created = ? AND images.id < ?))"
            args += [after.created, after.created, after.id]
        sql = (
            f"SELECT {', '.join(COLUMNS)} FROM images{where} ORDER BY created DESC, id DESC LIMIT ? OFFSET ?"
        )
        return [_record(r) for r in self.conn().execute(sql, [*args, limit, offset])]

    def count(self, text: str = "", **filters: Unpack[GalleryFilter]) -> int:
        where, args = self._where(text, filters)
        return int(self.conn().execute(f"SELECT COUNT(*) FROM images{where}", args).fetchone()[0])

    def get(self, record_id: int) -> Record | None:
        row = (
            self.conn()
            .execute(f"SELECT {', '.join(COLUMNS)} FROM images WHERE id = ?", (record_id,))
            .fetchone()
        )
        return _record(row) if row else None

    def by_pixels(self, pixels: str) -> Record | None:
        row = (
            self.conn()
            .execute(
                f"SELECT {', '.join(COLUMNS)} FROM images WHERE pixels = ? ORDER BY created LIMIT 1",
                (pixels,),
            )
            .fetchone()
        )
        return _record(row) if row else None

    def files(self) -> dict[str, tuple[float, int]]:
        return {r[0]: (r[1], r[2]) for r in self.conn().execute("SELECT path, mtime, size FROM images")}

    def video_paths(self) -> set[str]:
        return {r[0] for r in self.conn().execute("SELECT path FROM images WHERE kind = 'video'")}

    def starred_paths(self) -> list[str]:
        return [r[0] for r in self.conn().execute("SELECT path FROM images WHERE starred = 1")]

    def roots(self) -> list[str]:
        return [r[0] for r in self.conn().execute("SELECT path FROM roots")]

    def add_root(self, path: str) -> None:
        self.conn().execute("INSERT OR IGNORE INTO roots(path) VALUES (?)", (path,))


def _column(key: str, value: object) -> object:
    """SQLite integers are signed 64-bit: seeds from 2**63 up (ComfyUI writes them) are kept two's-complement,
    and a picture's unknown seed (-1) is NULL."""
    if key == "seed" and isinstance(value, int):
        return None if value == -1 else value - 2**64 if value >= 2**63 else value
    return value


def _record(row: sqlite3.Row) -> Record:
    d = dict(row)
    d["starred"] = bool(d["starred"])
    if isinstance(d.get("seed"), int) and d["seed"] < 0:  # a 64-bit seed kept two's-complement
        d["seed"] += 2**64
    return Record(**d)
