"""The library database: one SQLite file (sqlite-utils, WAL), schema versioned by PRAGMA user_version.

Schema (version 3):
    folders(id, path UNIQUE, added_at, watch)
        music folders the user added.
    tracks(id, path UNIQUE, folder_id, size, mtime, fingerprint, duration, format, codec,
           sample_rate, channels, title, artist, album, album_artist, tag_genre, year, track_no,
           has_cover, first_seen, last_seen, missing)
        one row per audio file seen. `fingerprint` identifies the audio data (see fingerprint.py)
        so a moved file keeps its analysis; `missing` is 1 once the file has vanished.
    models(key PRIMARY KEY, name, classes JSON, source, source_sha256, weights_sha256, added_at)
        every model that analysed something here. `key` is the sha256 of the network's weights
        (model.store.weights_digest): analyses are keyed by what the network IS, the name is its
        label. Rows from before version 2 have key = name and no weights_sha256 until the model
        scans again (then they take its digest, see ensure_model).
    analyses(track_id, model, probs, top_genre, top_prob, window_starts, window_probs, embedding,
             embedding_std, dense, n_windows, analysed_at, analysis_seconds; PK (track_id, model))
        one per track and model (`model` holds models.key). Only finite vectors are stored; a row
        from an older version with NaN has top_prob NULL and is analysed again by the next scan. Vectors are little-endian float32 blobs: probs [C] (mean over
        windows), window_starts [n] (seconds), window_probs [n*C], embedding / embedding_std [32]
        (mean / std over windows of the penultimate layer), dense [416] (mean pooled last dense
        block), dense_max [416] (its max over windows), top_labels (the 5 most probable classes,
        ", "-joined: what the search matches). A tagger (MusiCNN) has rows of the same shape under
        its own key: its patches are the "windows", its 50 tags the classes, embedding [200] its
        penultimate layer, dense / dense_max [200] its dense layer.
    stale_analyses(the columns of analyses, set_aside_at; PK (track_id, model))
        analyses set aside, kept but never served: the file changed and its new version could not
        be analysed (a crash, undecodable...), so they describe audio that is no longer there. A
        clean analysis of the file by that model drops its row; new audio (another fingerprint)
        drops them all.
    errors(path PRIMARY KEY, track_id, reason, detail, size, mtime, at)
        files that could not be analysed; reason is a short code (undecodable, empty, too_short,
        silent, unreadable, vanished, crashed: the reading process died on it, invalid_output:
        the model gave NaN or infinite values), detail one line for the user. A folder that could not be
        read has a row with reason unreadable_folder and no track_id.
    map_points(model, track_id, x, y, cluster; PK (model, track_id)),
    clusters(model, cluster, name, size, top_genres, top_artists, top_tag_genres, top_tags; PK (model, cluster)),
    map_fits(model PRIMARY KEY, method, params, n_tracks, fitted_at)
        the map and clusters, per model.
    meta(key PRIMARY KEY, value)
        data_version: bumped whenever analyses change (a cache key for derived data).

Paths are stored as text; a name that is not valid UTF-8 is kept reversibly (see fspath.py).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import quote

import numpy as np
import sqlite_utils

from .fspath import display_path, from_db, to_db

SCHEMA_VERSION = 5

_V1 = """
CREATE TABLE IF NOT EXISTS folders (
    id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, added_at REAL, watch INTEGER DEFAULT 0);
CREATE TABLE IF NOT EXISTS tracks (
    id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, folder_id INTEGER, size INTEGER, mtime REAL,
    fingerprint TEXT, duration REAL, format TEXT, codec TEXT, sample_rate INTEGER, channels INTEGER,
    title TEXT, artist TEXT, album TEXT, album_artist TEXT, tag_genre TEXT, year INTEGER,
    track_no INTEGER, has_cover INTEGER DEFAULT 0, first_seen REAL, last_seen REAL,
    missing INTEGER DEFAULT 0);
CREATE INDEX IF NOT EXISTS tracks_fingerprint ON tracks(fingerprint);
CREATE INDEX IF NOT EXISTS tracks_artist ON tracks(artist);
CREATE TABLE IF NOT EXISTS models (
    name TEXT PRIMARY KEY, classes TEXT, source TEXT, source_sha256 TEXT, added_at REAL);
CREATE TABLE IF NOT EXISTS analyses (
    track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE, model TEXT NOT NULL,
    probs BLOB, top_genre TEXT, top_prob REAL, window_starts BLOB, window_probs BLOB,
    embedding BLOB, embedding_std BLOB, dense BLOB, n_windows INTEGER, analysed_at REAL,
    analysis_seconds REAL, PRIMARY KEY (track_id, model));
CREATE INDEX IF NOT EXISTS analyses_model ON analyses(model);
CREATE TABLE IF NOT EXISTS errors (
    path TEXT PRIMARY KEY, track_id INTEGER, reason TEXT, detail TEXT, size INTEGER, mtime REAL, at REAL);
CREATE TABLE IF NOT EXISTS map_points (
    model TEXT NOT NULL, track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    x REAL, y REAL, cluster INTEGER, PRIMARY KEY (model, track_id));
CREATE TABLE IF NOT EXISTS clusters (
    model TEXT NOT NULL, cluster INTEGER NOT NULL, name TEXT, size INTEGER, top_genres TEXT,
    top_artists TEXT, top_tag_genres TEXT, PRIMARY KEY (model, cluster));
CREATE TABLE IF NOT EXISTS map_fits (
    model TEXT PRIMARY KEY, method TEXT, params TEXT, n_tracks INTEGER, fitted_at REAL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""
# models keyed by the weights' digest; existing rows keep their name as key until adopted
_V2 = """
CREATE TABLE models_v2 (
    key TEXT PRIMARY KEY, name TEXT NOT NULL, classes TEXT, source TEXT, source_sha256 TEXT,
    weights_sha256 TEXT, added_at REAL);
INSERT INTO models_v2(key, name, classes, source, source_sha256, weights_sha256, added_at)
    SELECT name, name, classes, source, source_sha256, NULL, added_at FROM models;
DROP TABLE models;
ALTER TABLE models_v2 RENAME TO models;
CREATE INDEX models_name ON models(name);
"""
# the max-pooled dense block and the top classes (searchable tags) of every analysis
_V3 = """
ALTER TABLE analyses ADD COLUMN dense_max BLOB;
ALTER TABLE analyses ADD COLUMN top_labels TEXT;
ALTER TABLE clusters ADD COLUMN top_tags TEXT;
"""
# analyses of a file whose new version could not be analysed: kept, not served
_V4 = """
CREATE TABLE stale_analyses (
    track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE, model TEXT NOT NULL,
    probs BLOB, top_genre TEXT, top_prob REAL, window_starts BLOB, window_probs BLOB,
    embedding BLOB, embedding_std BLOB, dense BLOB, n_windows INTEGER, analysed_at REAL,
    analysis_seconds REAL, dense_max BLOB, top_labels TEXT, set_aside_at REAL, PRIMARY KEY (track_id, model));
"""
# every window's (patch's) embedding, not only their mean and std, and where asked its dense
# vector (float16): what the discriminant axes of a representation are fitted on. A table of their
# own: inline, 6 KB a row pushed the analyses' later columns onto overflow pages and every scan
# of the analyses table (status, the previous model) read them.
_V5 = """
CREATE TABLE window_vectors (
    track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE, model TEXT NOT NULL,
    embeddings BLOB, dense BLOB, PRIMARY KEY (track_id, model));
"""
# Forward migrations: MIGRATIONS[i] takes the schema from version i to i + 1.
MIGRATIONS = [_V1, _V2, _V3, _V4, _V5]
# tables whose `model` column holds a models.key
_KEYED_TABLES = ("analyses", "map_points", "clusters", "map_fits", "stale_analyses", "window_vectors")
_ANALYSIS_COLUMNS = ("track_id, model, probs, top_genre, top_prob, window_starts, window_probs, embedding, embedding_std,"
                     " dense, n_windows, analysed_at, analysis_seconds, dense_max, top_labels")
TOP_LABELS = 5
# an analysis `a` whose every window's vectors are kept too (schema 5)
_HAS_WINDOWS = (" AND EXISTS (SELECT 1 FROM window_vectors w WHERE w.track_id = a.track_id AND w.model = a.model"
                " AND w.embeddings IS NOT NULL)")
# a genre model's (BBNN's) analysis, told from a tagger's by its 32-value embedding (MusiCNN's has 200)
_GENRE_ROW = "length(a.embedding) = 128"
# a library table row's status (the parameter: the model the table shows)
_STATUS = ("CASE WHEN t.missing THEN 'missing' WHEN a.model = ? THEN 'analysed'"
           " WHEN e.path IS NOT NULL THEN 'error' ELSE 'pending' END")

TRACK_FIELDS = ("folder_id", "size", "mtime", "fingerprint", "duration", "format", "codec", "sample_rate",
                "channels", "title", "artist", "album", "album_artist", "tag_genre", "year", "track_no",
                "has_cover", "first_seen", "last_seen", "missing")
SORTABLE = {"title", "artist", "album", "duration", "top_genre", "top_prob", "cluster", "status", "path", "tag_genre", "year",
            "tags", "track_no"}
FILTERS = {"genre", "tag", "cluster", "folder", "artist", "album"}
# artist and album as the browse lists group them: blank tags count as none, case is ignored
_ARTIST = "NULLIF(TRIM(t.artist), '')"
_ALBUM = "NULLIF(TRIM(t.album), '')"
_ALBUM_ARTIST = "COALESCE(NULLIF(TRIM(t.album_artist), ''), '')"
_ALBUM_FOLDER = f"CASE WHEN {_ALBUM} IS NULL THEN folder_of(t.path) END"  # untagged files: an album per folder


def _folder_of(path: str) -> str:
    """The folder a stored path is in, stored the same way (registered as SQL's folder_of)."""
    return to_db(os.path.dirname(from_db(path)))


def artist_key(name: str | None) -> str:
    """What the "artist" filter takes: an artist as `Library.artists` lists it (None: untagged)."""
    return json.dumps(["artist", name])


def album_key(album: str | None, album_artist: str = "", folder: str | None = None) -> str:
    """What the "album" filter takes: a tagged album (with its album artist, '' if none), or the
    untagged files of one folder."""
    return json.dumps(["folder", folder] if album is None else ["album", album, album_artist])


class LibraryError(Exception):
    """The database cannot be used (locked, disk full, damaged); message is for the user."""


def f32(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.frombuffer(blob, dtype="<f4")


def blob(array) -> bytes:
    return np.ascontiguousarray(np.asarray(array, dtype="<f4")).tobytes()


def half_blob(array) -> bytes:
    """float16 (clipped to its range): per-window vectors, read in bulk only to fit a representation's axes."""
    limit = float(np.finfo(np.float16).max)
    return np.ascontiguousarray(np.clip(np.asarray(array, dtype=np.float32), -limit, limit).astype("<f2")).tobytes()


def _per_window(vectors: np.ndarray, windows: int) -> bytes | None:
    return half_blob(vectors) if vectors.ndim == 2 and len(vectors) == windows else None


# a model key or name, candidates tried in order (key, then name), or a function giving either
ActiveModel = str | tuple[str, ...] | Callable[[], str | tuple[str, ...] | None] | None


def _statements(script: str) -> Iterator[str]:
    """The SQL statements of a script, one at a time (executescript would commit the open transaction)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""
    if pending.strip():
        yield pending


def finite_rows(matrix: np.ndarray) -> np.ndarray:
    """Mask of rows with no NaN or infinite value."""
    return np.isfinite(matrix).all(axis=1) if matrix.size else np.ones(len(matrix), bool)


class Library:
    """The library database. `active_model` (a key or name, (key, name), or a function giving
    the current one) is what `model=None` means in the reads; the caller knows it (the model store), this class does
    not. `read_only` opens the file with SQLite's read-only mode: it works on a read-only data
    home, beside a scan that is writing, and on a backup, and never changes the file."""

    def __init__(self, path: str | Path | None = None, timeout: float = 10.0, read_only: bool = False,
                 active_model: ActiveModel = None, tagger: str | Callable[[], str | None] | None = None) -> None:
        if path is None:
            from app.home import library_path

            path = library_path()
        self.path = Path(path)
        self.read_only = read_only
        self._active = active_model
        self._tagger = tagger
        try:
            self.db = sqlite_utils.Database(self._functions(self._connect(timeout)))
            self.db.execute("PRAGMA foreign_keys = ON")
            if read_only:
                self._check_version()
            else:
                self.db.enable_wal()
                self.db.execute("PRAGMA synchronous = NORMAL")
                self._migrate()
        except sqlite3.DatabaseError as e:
            raise LibraryError(explain(e, self.path)) from None

    def _connect(self, timeout: float) -> sqlite3.Connection:
        if not self.read_only:
            return sqlite3.connect(str(self.path), timeout=timeout, check_same_thread=False)
        if not self.path.exists():
            raise LibraryError(f"no library at {self.path} yet: run 'cratedigger scan DIR' first")
        uri = "file:" + quote(os.fspath(self.path.absolute()))
        conn = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=timeout, check_same_thread=False)
        try:
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError as e:
            if "unable to open" not in str(e):
                raise
            # a WAL database in a folder we cannot write, with no -shm beside it: nobody can be
            # writing it either, so it can be read as an immutable file
            conn.close()
            conn = sqlite3.connect(uri + "?mode=ro&immutable=1", uri=True, timeout=timeout, check_same_thread=False)
        conn.execute("PRAGMA query_only = ON")
        return conn

    @staticmethod
    def _functions(conn: sqlite3.Connection) -> sqlite3.Connection:
        conn.create_function("folder_of", 1, _folder_of, deterministic=True)
        return conn

    def _check_version(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise LibraryError(f"{self.path} was written by a newer Cratedigger (schema {version}); please upgrade")
        if version < SCHEMA_VERSION:
            raise LibraryError(f"{self.path} needs an upgrade first: run 'cratedigger scan' or open the app once "
                               "(with a data home it can write)")

    def close(self) -> None:
        self.db.conn.close()

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _schema_version(self) -> int:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise LibraryError(f"{self.path} was written by a newer Cratedigger (schema {version}); please upgrade")
        return version

    def _migrate(self) -> None:
        if self._schema_version() == SCHEMA_VERSION:
            return
        conn = self.db.conn
        # Two processes opening a new library at once (two scans, the app and a scan) must not both
        # migrate: the write lock is taken first and the version read again under it.
        conn.execute("BEGIN IMMEDIATE")
        try:
            for v in range(self._schema_version(), SCHEMA_VERSION):
                for statement in _statements(MIGRATIONS[v]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {v + 1}")
            conn.commit()
        except BaseException:
            conn.rollback()
            raise

    def model_key(self, model: str | None = None) -> str | None:
        """The key analyses are stored under, for a model given by key or name (None: the
        caller's active model). A name that several networks had means the latest of them."""
        given = model or (self._active() if callable(self._active) else self._active)
        candidates = [given] if isinstance(given, str) else [c for c in (given or ()) if c]
        if not candidates:
            return None
        for c in candidates:
            if self.db.execute("SELECT 1 FROM models WHERE key = ?", [c]).fetchone():
                return c
        row = self.db.execute("SELECT key FROM models WHERE name = ? ORDER BY added_at DESC LIMIT 1",
                              [candidates[-1]]).fetchone()
        return row[0] if row else candidates[0]

    _model = model_key

    def _write_key(self, model: str) -> str:
        """The key to store under for a model given by key or, failing that, by name."""
        return self.model_key(model)

    def model_name(self, key: str) -> str:
        """The name (label) of a model key (the caller's name for its active model, before that
        model has analysed anything here)."""
        row = self.db.execute("SELECT name FROM models WHERE key = ?", [key]).fetchone()
        if row:
            return row[0]
        given = self._active() if callable(self._active) else self._active
        if isinstance(given, tuple) and given and given[0] == key:
            return given[-1]
        return key

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic write that changes what derived data depends on (the data version moves)."""
        with self.db.conn:
            yield
            self._bump()

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One atomic write that leaves the analyses (and so the data version) alone."""
        with self.db.conn:
            yield

    # -- safety
    def integrity_problems(self, limit: int = 20) -> list[str]:
        """What SQLite's integrity_check finds, in its words; empty when the file is sound."""
        try:
            rows = [r[0] for r in self.db.execute(f"PRAGMA integrity_check({int(limit)})").fetchall()]
        except sqlite3.DatabaseError as e:
            return [str(e)]
        return [] if rows == ["ok"] else rows

    def backup_to(self, dest: str | Path) -> Path:
        """A consistent copy of the whole database (SQLite's online backup API), written beside
        `dest` and renamed into place so a failed copy never looks like a backup."""
        dest = Path(dest)
        tmp = dest.with_name(f".{dest.name}.tmp")
        tmp.unlink(missing_ok=True)
        try:
            target = sqlite3.connect(str(tmp))
            try:
                self.db.conn.backup(target)
                target.execute("PRAGMA journal_mode = DELETE")  # a single self-contained file
            finally:
                target.close()
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return dest

    def change_marker(self) -> tuple:
        """Changes when tracks, analyses or errors change (a scan that changed nothing keeps it)."""
        one = lambda sql: self.db.execute(sql).fetchone()  # noqa: E731
        return (self.data_version(), *one("SELECT COUNT(*), COALESCE(MAX(id), 0), COALESCE(SUM(missing), 0) FROM tracks"),
                *one("SELECT COUNT(*), COALESCE(MAX(at), 0) FROM errors"))

    # -- folders
    def add_folder(self, path: str | Path) -> int:
        p = to_db(Path(path).expanduser().resolve())
        with self.db.conn:
            self.db.execute("INSERT OR IGNORE INTO folders(path, added_at) VALUES (?, ?)", [p, time.time()])
        return self.db.execute("SELECT id FROM folders WHERE path = ?", [p]).fetchone()[0]

    def folder_id(self, path: str | Path) -> int | None:
        row = self.db.execute("SELECT id FROM folders WHERE path = ?", [to_db(path)]).fetchone()
        return row[0] if row else None

    def _folder_row(self, path: str | Path) -> tuple[int, str]:
        """(id, stored path) of a library folder given as typed (it may be gone from disk)."""
        given = Path(path).expanduser()
        for candidate in dict.fromkeys([to_db(os.path.abspath(given)), to_db(given.resolve())]):
            row = self.db.execute("SELECT id, path FROM folders WHERE path = ?", [candidate]).fetchone()
            if row:
                return row[0], row[1]
        raise LibraryError(f"{path} is not one of the library's folders (see 'cratedigger folders list')")

    def _under(self, prefix: str, table: str = "tracks", column: str = "path") -> str:
        return f"substr({table}.{column}, 1, {len(prefix)}) = ?"

    def remove_folder(self, path: str | Path) -> int:
        """Remove a music folder and forget its tracks (analyses, map points and errors with
        them), except tracks another library folder also holds. Returns how many were forgotten."""
        folder_id, stored = self._folder_row(path)
        prefix = stored.rstrip(os.sep) + os.sep
        others = [r[0].rstrip(os.sep) + os.sep for r in self.db.execute(
            "SELECT path FROM folders WHERE id != ?", [folder_id])]
        ids = [r[0] for r in self.db.execute(f"SELECT id, path FROM tracks WHERE {self._under(prefix)}", [prefix])
               if not any(r[1].startswith(o) for o in others)]
        with self.db.conn:
            for i in range(0, len(ids), 900):
                chunk = ids[i:i + 900]
                marks = ",".join("?" * len(chunk))
                self.db.execute(f"DELETE FROM errors WHERE track_id IN ({marks})", chunk)
                self.db.execute(f"DELETE FROM tracks WHERE id IN ({marks})", chunk)
            self.db.execute(f"DELETE FROM errors WHERE path = ? OR ({self._under(prefix, 'errors')}"
                            " AND track_id IS NULL)", [stored, prefix])
            self.db.execute("DELETE FROM folders WHERE id = ?", [folder_id])
            self._bump()
        return len(ids)

    def move_folder(self, old: str | Path, new: str | Path) -> int:
        """The folder `old` now lives at `new` (renamed or moved on disk): the folder and its tracks'
        paths follow, keeping their analyses. A track already recorded at a new path (a scan of
        `new` before the move was known) gives way to the one that moved. Returns tracks moved."""
        folder_id, stored = self._folder_row(old)
        target = to_db(Path(new).expanduser().resolve())
        old_prefix, new_prefix = stored.rstrip(os.sep) + os.sep, target.rstrip(os.sep) + os.sep
        if target == stored:
            return 0
        rows = self.db.execute(f"SELECT id, path FROM tracks WHERE {self._under(old_prefix)}", [old_prefix]).fetchall()
        with self.db.conn:
            self.db.execute("DELETE FROM folders WHERE path = ? AND id != ?", [target, folder_id])
            self.db.execute("UPDATE folders SET path = ? WHERE id = ?", [target, folder_id])
            for track_id, path in rows:
                moved = new_prefix + path[len(old_prefix):]
                self.db.execute("DELETE FROM tracks WHERE path = ? AND id != ?", [moved, track_id])
                self.db.execute("DELETE FROM errors WHERE path = ?", [moved])
                self.db.execute("UPDATE tracks SET path = ?, folder_id = ? WHERE id = ?", [moved, folder_id, track_id])
                self.db.execute("UPDATE errors SET path = ? WHERE path = ?", [moved, path])
            self.db.execute(f"UPDATE tracks SET folder_id = ? WHERE {self._under(new_prefix)}", [folder_id, new_prefix])
            self.db.execute("DELETE FROM errors WHERE path = ? AND reason = 'unreadable_folder'", [stored])
            self._bump()
        return len(rows)

    def folder_counts(self) -> list[dict]:
        """Every folder with its track counts: path, tracks, missing, analysed (active model), exists."""
        key = self._model(None)
        out = []
        for f in self.folders():
            prefix = f["path"].rstrip(os.sep) + os.sep
            tracks, missing, analysed = self.db.execute(
                f"SELECT COUNT(*), COALESCE(SUM(missing), 0), COALESCE(SUM(EXISTS (SELECT 1 FROM analyses a"
                f" WHERE a.track_id = tracks.id AND a.model = ?)), 0) FROM tracks WHERE {self._under(prefix)}",
                [key, prefix]).fetchone()
            out.append(dict(f, tracks=tracks, missing=missing, analysed=analysed,
                            exists=os.path.isdir(from_db(f["path"])), display_path=display_path(f["path"])))
        return out

    def folders(self) -> list[dict]:
        return list(self.db.query("SELECT * FROM folders ORDER BY path"))

    def set_folder_watch(self, path: str | Path, watch: bool) -> None:
        with self.db.conn:
            self.db.execute("UPDATE folders SET watch = ? WHERE path = ?", [int(watch), to_db(Path(path))])

    # -- writes
    def upsert_track(self, path: str | Path, **fields: Any) -> int:
        p = to_db(path)
        unknown = set(fields) - set(TRACK_FIELDS)
        if unknown:
            raise ValueError(f"unknown track fields {sorted(unknown)}")
        now = time.time()
        row = self.db.execute("SELECT id FROM tracks WHERE path = ?", [p]).fetchone()
        with self.db.conn:
            if row:
                if fields:
                    sets = ", ".join(f"{k} = ?" for k in fields)
                    self.db.execute(f"UPDATE tracks SET {sets} WHERE id = ?", [*fields.values(), row[0]])
                return row[0]
            fields.setdefault("first_seen", now)
            fields.setdefault("last_seen", now)
            cols = ", ".join(["path", *fields])
            marks = ", ".join("?" for _ in range(len(fields) + 1))
            cur = self.db.execute(f"INSERT INTO tracks({cols}) VALUES ({marks})", [p, *fields.values()])
            return cur.lastrowid

    def save_analysis(self, track_id: int, model: str, window_starts, window_probs, embeddings, dense,
                      seconds: float, classes: list[str] | None = None, window_dense: bool = False) -> None:
        """Store one track's analysis (replacing any earlier one for this model): per window (rows
        of window_probs, embeddings, dense) and pooled. Every window's embedding is kept, and its
        dense vector too when `window_dense`."""
        window_probs = np.asarray(window_probs, dtype=np.float32)
        embeddings = np.asarray(embeddings, dtype=np.float32)
        dense = np.asarray(dense, dtype=np.float32)
        if not all(np.isfinite(a).all() for a in (window_probs, embeddings, dense)):
            raise ValueError("model output was invalid (NaN or infinite values); not stored")
        probs = window_probs.mean(axis=0)
        model = self._write_key(model)
        classes = classes or self.classes(model)
        order = np.argsort(-probs)
        labels = [classes[i] if classes else str(i) for i in order[:TOP_LABELS]]
        with self.transaction():
            self.db.execute(
                "INSERT OR REPLACE INTO analyses(track_id, model, probs, top_genre, top_prob, window_starts,"
                " window_probs, embedding, embedding_std, dense, dense_max, top_labels, n_windows, analysed_at,"
                " analysis_seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [track_id, model, blob(probs), labels[0], float(probs[order[0]]),
                 blob(window_starts), blob(window_probs), blob(embeddings.mean(axis=0)),
                 blob(embeddings.std(axis=0)), blob(dense.mean(axis=0) if dense.ndim == 2 else dense),
                 blob(dense.max(axis=0) if dense.ndim == 2 else dense), ", ".join(labels),
                 len(window_probs), time.time(), float(seconds)])
            self.db.execute("INSERT OR REPLACE INTO window_vectors(track_id, model, embeddings, dense) VALUES (?, ?, ?, ?)",
                            [track_id, model, _per_window(embeddings, len(window_probs)),
                             _per_window(dense, len(window_probs)) if window_dense else None])
            self.db.execute("DELETE FROM errors WHERE track_id = ?", [track_id])
            self.db.execute("DELETE FROM stale_analyses WHERE track_id = ? AND model = ?", [track_id, model])

    def record_error(self, path: str | Path, reason: str, detail: str, track_id: int | None = None,
                     size: int | None = None, mtime: float | None = None) -> None:
        with self.db.conn:
            self.db.execute("INSERT OR REPLACE INTO errors(path, track_id, reason, detail, size, mtime, at)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?)", [to_db(path), track_id, reason, detail, size, mtime, time.time()])

    def clear_error(self, path: str | Path) -> None:
        with self.db.conn:
            self.db.execute("DELETE FROM errors WHERE path = ?", [to_db(path)])

    def ensure_model(self, manifest) -> str:
        """The models row of a manifest; returns its key (the weights' digest when known).

        Rows written before digests (key = name) are adopted by the first model of that name
        that scans with a digest: its analyses, map and clusters move to the digest key."""
        digest = getattr(manifest, "weights_sha256", None)
        key = digest or manifest.name
        with self.db.conn:
            legacy = digest and self.db.execute(
                "SELECT 1 FROM models WHERE key = ? AND weights_sha256 IS NULL", [manifest.name]).fetchone()
            if legacy and not self.db.execute("SELECT 1 FROM models WHERE key = ?", [key]).fetchone():
                for table in _KEYED_TABLES:
                    self.db.execute(f"UPDATE {table} SET model = ? WHERE model = ?", [key, manifest.name])
                self.db.execute("UPDATE models SET key = ? WHERE key = ?", [key, manifest.name])
            self.db.execute(
                "INSERT OR REPLACE INTO models(key, name, classes, source, source_sha256, weights_sha256, added_at)"
                " VALUES (?, ?, ?, ?, ?, ?, COALESCE((SELECT added_at FROM models WHERE key = ?), ?))",
                [key, manifest.name, json.dumps(manifest.classes), manifest.source, manifest.source_sha256,
                 digest, key, time.time()])
        return key

    def classes(self, model: str) -> list[str]:
        row = self.db.execute("SELECT classes FROM models WHERE key = ?", [self._model(model)]).fetchone()
        return json.loads(row[0]) if row else []

    def analysed_ids(self, key: str, per_window: bool = False) -> set[int]:
        """Tracks with a sound analysis under this model key (rows with NaN, stored by older
        versions, have top_prob NULL and do not count: the next scan analyses them again).
        per_window: only those whose every window's vectors are kept too (written since schema 5)."""
        extra = _HAS_WINDOWS if per_window else ""
        return {r[0] for r in self.db.execute(
            "SELECT a.track_id FROM analyses a WHERE a.model = ? AND a.top_prob IS NOT NULL" + extra, [key])}

    def _bump(self) -> None:
        self.db.execute("INSERT INTO meta(key, value) VALUES ('data_version', '1') ON CONFLICT(key)"
                        " DO UPDATE SET value = CAST(value AS INTEGER) + 1")

    def touch(self) -> None:
        """Mark the analyses as changed (caches of derived data rebuild)."""
        with self.transaction():
            pass

    def data_version(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()
        return int(row[0]) if row else 0

    # -- reads
    def _filter(self, search: str | None, filters: dict | None = None) -> tuple[str, list]:
        """WHERE clause of the library table: every search word must match a tag, the path, the
        predicted genre or one of the tagger's top tags; then filters by predicted genre, tag genre,
        cluster and folder (genre and tag compare case-insensitively), artist and album (keys from
        `artist_key` / `album_key`, as `artists()` and `albums()` give them)."""
        where, params = [], []
        for word in (search or "").split():
            like = f"%{word}%"
            where.append("(t.title LIKE ? OR t.artist LIKE ? OR t.album LIKE ? OR t.tag_genre LIKE ?"
                         " OR a.top_genre LIKE ? OR t.path LIKE ? OR tg.top_labels LIKE ?)")
            params += [like] * 7
        filters = {k: v for k, v in (filters or {}).items() if v is not None and v != ""}
        unknown = set(filters) - FILTERS
        if unknown:
            raise ValueError(f"unknown library filters {sorted(unknown)}")
        if "genre" in filters:
            where.append("a.top_genre = ? COLLATE NOCASE")
            params.append(filters["genre"])
        if "tag" in filters:
            where.append("t.tag_genre = ? COLLATE NOCASE")
            params.append(filters["tag"])
        if "cluster" in filters:
            where.append("m.cluster = ?")
            params.append(int(filters["cluster"]))
        if "folder" in filters:
            where.append("t.folder_id = ?")
            params.append(int(filters["folder"]))
        for key in ("artist", "album"):
            if key in filters:
                cond, values = _browse_condition(filters[key])
                where.append(cond)
                params += values
        return " AND ".join(where), params

    def _rows_sql(self, model: str | None, search: str | None, filters: dict | None = None,
                  previous: bool = False) -> tuple[str, list]:
        """FROM and WHERE of the library table. With `previous`, a track the model has not analysed
        shows the previous model's analysis (see previous_model) and the map the app shows (map_model)."""
        cond, params = self._filter(search, filters)
        before = self.previous_model(model) if previous else None
        if before:
            genre = ("a.model = CASE WHEN EXISTS (SELECT 1 FROM analyses x WHERE x.track_id = t.id AND x.model = ?)"
                     " THEN ? ELSE ? END")
            genre_params = [model, model, before]
        else:
            genre, genre_params = "a.model = ?", [model]
        sql = (
            "FROM tracks t"
            f" LEFT JOIN analyses a ON a.track_id = t.id AND {genre}"
            " LEFT JOIN analyses tg ON tg.track_id = t.id AND tg.model = ?"
            " LEFT JOIN map_points m ON m.track_id = t.id AND m.model = ?"
            " LEFT JOIN clusters c ON c.model = m.model AND c.cluster = m.cluster"
            " LEFT JOIN errors e ON e.track_id = t.id"
        )
        if cond:
            sql += " WHERE " + cond
        mapped = self.map_model(model) if previous else model
        return sql, [*genre_params, self.tagger_key(), mapped, *params]

    def count_tracks(self, search: str | None = None, model: str | None = None, filters: dict | None = None,
                     previous: bool = False) -> int:
        sql, params = self._rows_sql(self._model(model), search, filters, previous)
        return self.db.execute("SELECT COUNT(*) " + sql, params).fetchone()[0]

    def track_rows(self, offset: int = 0, limit: int = 100, sort: str = "artist", descending: bool = False,
                   search: str | None = None, model: str | None = None, filters: dict | None = None,
                   previous: bool = False) -> list[dict]:
        """Rows of the library table; `genre_model` names the model a row's genre comes from (with
        `previous`, the previous model's for tracks the model has not analysed; status stays 'pending')."""
        if sort not in SORTABLE:
            raise ValueError(f"cannot sort by {sort!r}")
        model = self._model(model)
        sql, params = self._rows_sql(model, search, filters, previous)
        order = "DESC" if descending else "ASC"
        key, collate = _order(sort)
        rows = self.db.execute(
            "SELECT t.id, t.path, t.title, t.artist, t.album, t.duration, t.tag_genre, a.top_genre, a.top_prob,"
            " m.cluster, c.name AS cluster_name, tg.top_labels AS tags,"
            f" {_STATUS} AS status, a.model "
            + sql + f" ORDER BY {key} IS NULL, {key}{collate} {order}, {_tie(sort)} LIMIT ? OFFSET ?",
            [model, *params, limit, offset]).fetchall()
        cols = ["id", "path", "title", "artist", "album", "duration", "tag_genre", "top_genre", "top_prob",
                "cluster", "cluster_name", "tags", "status", "genre_model"]
        out = []
        names: dict[str, str] = {}
        for r in rows:
            d = dict(zip(cols, r))
            d["display_path"] = display_path(d["path"])
            if d["genre_model"]:
                d["genre_model"] = names.setdefault(d["genre_model"], self.model_name(d["genre_model"]))
            out.append(d)
        return out

    # -- the previous model's results, shown until the active model has analysed a track
    def previous_model(self, model: str | None = None) -> str | None:
        """The key of the genre model that analysed this library most recently, other than `model`
        (None: the active model): whose results the app shows for tracks the model has not analysed
        yet (a model switch, a scan under way). None when there is no other."""
        model = self._model(model)
        version = (self.data_version(), model)
        cached = getattr(self, "_previous", None)
        if cached and cached[0] == version:
            return cached[1]
        row = self.db.execute(
            f"SELECT a.model FROM analyses a WHERE a.model != ? AND a.top_prob IS NOT NULL AND {_GENRE_ROW}"
            " ORDER BY a.analysed_at DESC LIMIT 1", [model or ""]).fetchone()
        self._previous = (version, row[0] if row else None)
        return self._previous[1]

    def latest_analysis(self, track_id: int, model: str | None = None) -> dict | None:
        """The track's analysis by `model` (None: the active one), or else its most recent sound
        analysis by another genre model (the tagger's never), or None. See analysis() for the fields."""
        model = self._model(model)
        found = self.analysis(track_id, model) if model else None
        if found is not None:
            return found
        row = self.db.execute(
            f"SELECT a.model FROM analyses a WHERE a.track_id = ? AND a.model != ? AND a.top_prob IS NOT NULL"
            f" AND {_GENRE_ROW} ORDER BY a.analysed_at DESC LIMIT 1", [track_id, model or ""]).fetchone()
        return self.analysis(track_id, row[0]) if row else None

    def map_model(self, model: str | None = None) -> str | None:
        """Whose map the app shows: the model's (None: the active one) once it has one, until then
        the previous model's (previous_model) when that has one."""
        model = self._model(model)
        if model is None or self.map_fit(model) is not None:
            return model
        before = self.previous_model(model)
        return before if before and self.map_fit(before) is not None else model

    def results_model(self, seeds: Iterable[int], model: str | None = None) -> str | None:
        """Whose vectors "more like this" uses for these seeds: the model's (None: the active one)
        when it has analysed every seed and at least as many tracks as the previous model; else the
        previous model's when it has analysed the seeds; else the model's."""
        model = self._model(model)
        before = self.previous_model(model)
        if model is None or before is None:
            return model
        seeds = [int(s) for s in seeds]
        count = lambda key: self.db.execute(  # noqa: E731
            "SELECT COUNT(*) FROM analyses a JOIN tracks t ON t.id = a.track_id AND NOT t.missing"
            " WHERE a.model = ? AND a.top_prob IS NOT NULL", [key]).fetchone()[0]
        has_seeds = lambda key: all(self.analysis(s, key) is not None for s in seeds)  # noqa: E731
        if has_seeds(model) and count(model) >= count(before):
            return model
        return before if has_seeds(before) else model

    def results_coverage(self, model: str | None = None) -> dict:
        """What the library shows for the model (None: the active one): {model, analysed (present
        tracks it analysed), tracks (present tracks without an error), previous (the previous model's name or None),
        from_previous (present tracks shown with the previous model's results)}."""
        model = self._model(model)
        before = self.previous_model(model)
        one = lambda sql, p: self.db.execute(sql, p).fetchone()[0]  # noqa: E731
        return {
            "model": self.model_name(model) if model else None,
            "analysed": one("SELECT COUNT(*) FROM analyses a JOIN tracks t ON t.id = a.track_id AND NOT t.missing"
                            " WHERE a.model = ? AND a.top_prob IS NOT NULL", [model or ""]),
            "tracks": one("SELECT COUNT(*) FROM tracks t WHERE NOT t.missing AND NOT EXISTS"
                          " (SELECT 1 FROM errors e WHERE e.track_id = t.id)", []),
            "previous": self.model_name(before) if before else None,
            "from_previous": one(
                "SELECT COUNT(*) FROM analyses a JOIN tracks t ON t.id = a.track_id AND NOT t.missing"
                " WHERE a.model = ? AND a.top_prob IS NOT NULL AND NOT EXISTS (SELECT 1 FROM analyses x"
                " WHERE x.track_id = a.track_id AND x.model = ? AND x.top_prob IS NOT NULL)",
                [before, model or ""]) if before else 0,
        }

    def track_ids(self, search: str | None = None, sort: str = "artist", descending: bool = False,
                  model: str | None = None, filters: dict | None = None, previous: bool = False) -> list[int]:
        """Every track the library table shows for this search and these filters, in its order
        (what "play these" plays; `previous` as in track_rows)."""
        if sort not in SORTABLE:
            raise ValueError(f"cannot sort by {sort!r}")
        model = self._model(model)
        sql, params = self._rows_sql(model, search, filters, previous)
        key, collate = _order(sort)
        order = "DESC" if descending else "ASC"
        return [r[0] for r in self.db.execute(
            f"SELECT t.id, {_STATUS} AS status {sql} ORDER BY {key} IS NULL, {key}{collate} {order}, {_tie(sort)}",
            [model, *params])]

    def artists(self) -> list[dict]:
        """Every artist with its number of tracks and albums, by name (any case); untagged files
        come last as name None. Each: key (for the "artist" filter), name, tracks, albums."""
        rows = self.db.execute(
            f"SELECT MIN({_ARTIST}) AS artist_name, COUNT(*),"
            f" COUNT(DISTINCT COALESCE(LOWER({_ALBUM}) || char(31) || LOWER({_ALBUM_ARTIST}), {_ALBUM_FOLDER}))"
            f" FROM tracks t GROUP BY {_ARTIST} COLLATE NOCASE ORDER BY artist_name IS NULL, artist_name COLLATE NOCASE"
        ).fetchall()
        return [{"key": artist_key(name), "name": name, "tracks": tracks, "albums": albums}
                for name, tracks, albums in rows]

    def albums(self, artist: str | None = None) -> list[dict]:
        """Every album (of one artist: a key from `artists()`, counting that artist's tracks only).
        A tagged album is its name with its album artist; untagged files make one album per folder
        (album None, folder its path). Each: key (for the "album" filter), album, folder, artist
        (the album artist, the one artist, "Various artists", or None), year, tracks."""
        where, params = _browse_condition(artist) if artist else ("1", [])
        rows = self.db.execute(
            f"SELECT MIN({_ALBUM}) AS album_name, {_ALBUM_FOLDER} AS album_folder,"
            f" MIN({_ALBUM_ARTIST}) AS by_artist,"
            f" COUNT(DISTINCT {_ARTIST} COLLATE NOCASE), MIN({_ARTIST}), MIN(t.year), COUNT(*)"
            f" FROM tracks t WHERE {where}"
            f" GROUP BY {_ALBUM} COLLATE NOCASE, {_ALBUM_ARTIST} COLLATE NOCASE, album_folder"
            " ORDER BY album_name IS NULL, album_name COLLATE NOCASE, by_artist COLLATE NOCASE, album_folder", params).fetchall()
        out = []
        for album, folder, album_artist, n_artists, one_artist, year, tracks in rows:
            shown = album_artist or (one_artist if n_artists == 1 else "Various artists" if n_artists else None)
            out.append({"key": album_key(album, album_artist, folder), "album": album, "artist": shown,
                        "folder": display_path(folder) if folder else None, "year": year, "tracks": tracks})
        return out

    def track(self, track_id: int) -> dict | None:
        rows = list(self.db.query("SELECT * FROM tracks WHERE id = ?", [track_id]))
        return rows[0] if rows else None

    def track_by_path(self, path: str | Path) -> dict | None:
        rows = list(self.db.query("SELECT * FROM tracks WHERE path = ?", [to_db(path)]))
        return rows[0] if rows else None

    def tracks(self, ids: Iterable[int]) -> dict[int, dict]:
        ids = list(ids)
        out: dict[int, dict] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.query(f"SELECT * FROM tracks WHERE id IN ({marks})", chunk):
                out[row["id"]] = row
        return out

    def analysis(self, track_id: int, model: str | None = None) -> dict | None:
        model = self._model(model)
        rows = list(self.db.query("SELECT * FROM analyses WHERE track_id = ? AND model = ?", [track_id, model]))
        if not rows:
            return None
        r = rows[0]
        classes = self.classes(model)
        n = r["n_windows"] or 1
        window_probs = f32(r["window_probs"])
        return {
            "model": self.model_name(model),
            "model_key": model,
            "classes": classes,
            "probs": f32(r["probs"]),
            "top_genre": r["top_genre"],
            "top_prob": r["top_prob"],
            "window_starts": f32(r["window_starts"]),
            "window_probs": window_probs.reshape(n, -1) if window_probs is not None else None,
            "embedding": f32(r["embedding"]),
            "embedding_std": f32(r["embedding_std"]),
            "dense": f32(r["dense"]),
            "dense_max": f32(r["dense_max"]),
            "analysed_at": r["analysed_at"],
            "analysis_seconds": r["analysis_seconds"],
        }

    def embeddings(self, model: str | None = None, kind: str = "embedding",
                   ids: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(track ids, float32 matrix) of one stored vector kind, for tracks that are not missing
        (only those of `ids` when given); rows with NaN or infinite values (written by older
        versions) are left out."""
        if kind not in {"embedding", "embedding_std", "dense", "dense_max", "probs"}:
            raise ValueError(f"unknown vector kind {kind!r}")
        model = self._model(model)
        sql = (f"SELECT a.track_id, a.{kind} FROM analyses a JOIN tracks t ON t.id = a.track_id"
               " WHERE a.model = ? AND NOT t.missing")
        if ids is None:
            rows = self.db.execute(sql + " ORDER BY a.track_id", [model]).fetchall()
        else:
            rows = sorted(r for chunk in _chunks(sorted({int(i) for i in ids}))
                          for r in self.db.execute(sql + f" AND a.track_id IN ({_marks(chunk)})", [model, *chunk]))
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        rows = [r for r in rows if r[1] is not None]
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1)
        keep = finite_rows(matrix)
        return ids[keep], matrix[keep].astype(np.float32)

    def window_vectors(self, model: str | None = None, kind: str = "embedding", limit: int | None = None,
                       ids: Iterable[int] | None = None) -> list[np.ndarray]:
        """Every window's (patch's) embedding or dense vector (kind), one (windows, D) float32 array
        per present track (of `ids` when given) that has them (analysed since schema 5) and at
        least two windows; at most `limit` tracks, spread evenly over the track ids (the same ones
        for the same library)."""
        if kind not in ("embedding", "dense"):
            raise ValueError(f"unknown per-window vector kind {kind!r}")
        column = "embeddings" if kind == "embedding" else "dense"
        model = self._model(model)
        wanted = None if ids is None else {int(i) for i in ids}
        have = [r[0] for r in self.db.execute(
            "SELECT a.track_id FROM analyses a JOIN tracks t ON t.id = a.track_id JOIN window_vectors w"
            " ON w.track_id = a.track_id AND w.model = a.model WHERE a.model = ? AND NOT t.missing"
            f" AND w.{column} IS NOT NULL AND a.n_windows >= 2 ORDER BY a.track_id", [model])
            if wanted is None or r[0] in wanted]
        if limit is not None and len(have) > limit:
            have = [have[i] for i in np.linspace(0, len(have) - 1, limit).round().astype(int)]
        out = []
        for chunk in _chunks(have):
            for n, data in self.db.execute(
                    f"SELECT a.n_windows, w.{column} FROM analyses a JOIN window_vectors w ON w.track_id = a.track_id"
                    f" AND w.model = a.model WHERE a.model = ? AND a.track_id IN ({_marks(chunk)})", [model, *chunk]):
                windows = np.frombuffer(data, dtype="<f2").astype(np.float32).reshape(n, -1)
                if np.isfinite(windows).all():
                    out.append(windows)
        return out

    def analysis_coverage(self, model: str, other: str) -> tuple[int, int]:
        """(tracks analysed by `model`, how many of them `other` analysed too); missing tracks left out."""
        model, other = self._model(model), self._model(other)
        row = self.db.execute(
            "SELECT COUNT(*), COUNT(b.track_id) FROM analyses a JOIN tracks t ON t.id = a.track_id AND NOT t.missing"
            " LEFT JOIN analyses b ON b.track_id = a.track_id AND b.model = ? WHERE a.model = ?", [other, model]).fetchone()
        return int(row[0]), int(row[1])

    def tagger_name(self) -> str | None:
        """The installed tagger's (MusiCNN's) name, as the caller told it (a name or a function giving
        it), or None: then the library shows no tags and similarity uses the genre model alone."""
        return self._tagger() if callable(self._tagger) else self._tagger

    def tagger_key(self) -> str | None:
        """What the installed tagger's (MusiCNN's) analyses are stored under, or None."""
        name = self.tagger_name()
        return self._model(name) if name else None

    def top_tags(self, track_id: int, n: int = 5, tagger: str | None = None) -> list[tuple[str, float]]:
        """A track's `n` most probable tagger tags, most probable first ([] when not tagged)."""
        key = tagger or self.tagger_key()
        analysis = self.analysis(track_id, key) if key else None
        if analysis is None or not analysis["classes"]:
            return []
        probs = analysis["probs"]
        return [(analysis["classes"][i], float(probs[i])) for i in np.argsort(-probs)[:n]]

    def tag_labels(self, ids: Iterable[int], n: int = 3, tagger: str | None = None) -> dict[int, list[str]]:
        """The `n` most probable tagger tags of each of these tracks (tracks without tags left out)."""
        key = tagger or self.tagger_key()
        ids = list(ids)
        out: dict[int, list[str]] = {}
        for i in range(0, len(ids) if key else 0, 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for track_id, labels in self.db.execute(
                    f"SELECT track_id, top_labels FROM analyses WHERE model = ? AND track_id IN ({marks})"
                    " AND top_labels IS NOT NULL", [key, *chunk]):
                out[track_id] = labels.split(", ")[:n]
        return out

    def tag_matrix(self, tagger: str | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(track ids, tag probabilities (n, tags), tag names) of every tagged track that is not missing."""
        key = tagger or self.tagger_key()
        if not key:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32), []
        ids, probs = self.embeddings(key, "probs")
        return ids, probs, self.classes(key)

    def errors(self) -> list[dict]:
        return [dict(r, display_path=display_path(r["path"]))
                for r in self.db.query("SELECT path, track_id, reason, detail, at FROM errors ORDER BY reason, path")]

    def track_error(self, track_id: int) -> dict | None:
        """Why a track could not be analysed (reason, detail), or None."""
        rows = list(self.db.query("SELECT reason, detail FROM errors WHERE track_id = ?", [track_id]))
        return rows[0] if rows else None

    def status(self, model: str | None = None) -> dict:
        model = self._model(model)
        one = lambda sql, p=(): self.db.execute(sql, list(p)).fetchone()[0]  # noqa: E731
        return {
            "tracks": one("SELECT COUNT(*) FROM tracks WHERE NOT missing"),
            "missing": one("SELECT COUNT(*) FROM tracks WHERE missing"),
            "folders": one("SELECT COUNT(*) FROM folders"),
            "active_model": self.model_name(model) if model else None,
            "analysed": {r[0]: r[1] for r in self.db.execute(
                "SELECT COALESCE(m.name, a.model), COUNT(*) FROM analyses a JOIN tracks t ON t.id = a.track_id"
                " LEFT JOIN models m ON m.key = a.model"
                " WHERE NOT t.missing GROUP BY a.model ORDER BY 1")},
            "pending": one("SELECT COUNT(*) FROM tracks t WHERE NOT t.missing AND NOT EXISTS"
                           " (SELECT 1 FROM analyses a WHERE a.track_id = t.id AND a.model = ?)"
                           " AND NOT EXISTS (SELECT 1 FROM errors e WHERE e.path = t.path)", [model]) if model else None,
            "errors": {r[0]: r[1] for r in self.db.execute("SELECT reason, COUNT(*) FROM errors GROUP BY reason ORDER BY reason")},
        }

    def genre_distribution(self, model: str | None = None) -> dict[str, int]:
        model = self._model(model)
        return {r[0]: r[1] for r in self.db.execute(
            "SELECT a.top_genre, COUNT(*) FROM analyses a JOIN tracks t ON t.id = a.track_id"
            " WHERE a.model = ? AND NOT t.missing GROUP BY a.top_genre ORDER BY COUNT(*) DESC, a.top_genre", [model])}

    def tag_genres(self) -> list[str]:
        """Distinct tag genres of present tracks, most common first."""
        return [r[0] for r in self.db.execute(
            "SELECT tag_genre FROM tracks WHERE NOT missing AND tag_genre IS NOT NULL AND tag_genre != ''"
            " GROUP BY tag_genre COLLATE NOCASE ORDER BY COUNT(*) DESC, tag_genre")]

    def revision(self) -> tuple:
        """Changes whenever tracks are added, updated, analysed or fail: the live views poll it."""
        return (self.db.execute("SELECT COUNT(*), COALESCE(MAX(id), 0), COALESCE(SUM(missing), 0),"
                                " COALESCE(MAX(last_seen), 0) FROM tracks").fetchone()
                + self.db.execute("SELECT COUNT(*), COALESCE(MAX(at), 0) FROM errors").fetchone()
                + (self.data_version(),))

    # -- names the user gives clusters (kept in meta, one JSON object per model, across map refits)
    def cluster_names(self, model: str | None = None) -> dict[int, str]:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [f"cluster_names/{self._model(model)}"]).fetchone()
        return {int(k): v for k, v in json.loads(row[0]).items()} if row else {}

    def rename_cluster(self, cluster: int, name: str, model: str | None = None) -> None:
        """Give a cluster the user's name; it is kept across map updates (see mapping.build_map)."""
        name, model = name.strip(), self._model(model)
        if not name:
            raise ValueError("a cluster name cannot be empty")
        names = self.cluster_names(model)
        names[int(cluster)] = name
        with self.db.conn:
            self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                            [f"cluster_names/{model}", json.dumps({str(k): v for k, v in names.items()})])
            self.db.execute("UPDATE clusters SET name = ? WHERE model = ? AND cluster = ?", [name, model, int(cluster)])

    def map_assignments(self, model: str | None = None) -> dict[int, int]:
        """track id -> cluster of the model's current map."""
        return dict(self.db.execute("SELECT track_id, cluster FROM map_points WHERE model = ?",
                                    [self._model(model)]).fetchall())

    def prune(self) -> int:
        """Delete missing tracks (and, by cascade, their analyses and map points)."""
        with self.transaction():
            n = self.db.execute("DELETE FROM tracks WHERE missing").rowcount
            self.db.execute("DELETE FROM errors WHERE track_id IS NOT NULL AND track_id NOT IN (SELECT id FROM tracks)")
        return n

    # -- finding a track the user names
    def find_track(self, user_path: str | os.PathLike) -> dict | None:
        """The track a user means by a path: as given (made absolute, symlinked folders kept, the
        way a scan stores it), then with every link resolved."""
        given = Path(os.path.expanduser(os.fspath(user_path)))
        track = self.track_by_path(os.path.abspath(given))
        if track is None:
            try:
                real = given.resolve()
            except (OSError, RuntimeError):  # a symlink loop
                return None
            track = self.track_by_path(real)
        return track

    # -- what the scanner needs
    def scan_tracks(self) -> dict[str, tuple]:
        """path -> (path, id, size, mtime, missing, fingerprint) of every track."""
        return {r[0]: r for r in self.db.execute("SELECT path, id, size, mtime, missing, fingerprint FROM tracks")}

    def failed_files(self, retried: tuple[str, ...] = ()) -> dict[str, tuple]:
        """path -> (size, mtime) of every recorded error, but those whose reason is in `retried`."""
        return {r[0]: (r[1], r[2]) for r in self.db.execute(
            f"SELECT path, size, mtime FROM errors WHERE reason NOT IN ({_marks(retried)})", list(retried))}

    def mark_seen(self, track_ids: list[int], when: float, returned: bool = False) -> None:
        """Tracks found unchanged: seen now, not missing. `returned`: some were missing before."""
        with self.transaction() if returned else self._write():
            for chunk in _chunks(track_ids):
                self.db.execute(f"UPDATE tracks SET last_seen = ?, missing = 0 WHERE id IN ({_marks(chunk)})",
                                [when, *chunk])

    def mark_missing(self, track_ids: list[int]) -> None:
        """Tracks whose files are gone; their errors (about files now gone) go too."""
        if not track_ids:
            return
        with self.transaction():
            for chunk in _chunks(track_ids):
                self.db.execute(f"UPDATE tracks SET missing = 1 WHERE id IN ({_marks(chunk)})", chunk)
                self.db.execute(f"DELETE FROM errors WHERE track_id IN ({_marks(chunk)})", chunk)

    def move_track(self, track_id: int, new_path: str | Path) -> None:
        """The same audio under a new name: the row (and its analyses) follows the file."""
        key = to_db(new_path)
        with self.transaction():
            self.db.execute("UPDATE tracks SET path = ? WHERE id = ?", [key, track_id])
            self.db.execute("DELETE FROM errors WHERE path = ?", [key])

    def forget_analyses(self, track_id: int) -> None:
        """New audio in the same file: every model's result for it is stale."""
        with self.transaction():
            self.db.execute("DELETE FROM analyses WHERE track_id = ?", [track_id])
            self.db.execute("DELETE FROM window_vectors WHERE track_id = ?", [track_id])
            self.db.execute("DELETE FROM stale_analyses WHERE track_id = ?", [track_id])

    def set_aside_analyses(self, track_id: int) -> None:
        """The file changed and its new version could not be analysed: its analyses (and map
        points) stop being served; the analyses are kept in stale_analyses."""
        with self.transaction():
            self.db.execute(f"INSERT OR REPLACE INTO stale_analyses({_ANALYSIS_COLUMNS}, set_aside_at)"
                            f" SELECT {_ANALYSIS_COLUMNS}, ? FROM analyses WHERE track_id = ?", [time.time(), track_id])
            self.db.execute("DELETE FROM analyses WHERE track_id = ?", [track_id])
            self.db.execute("DELETE FROM window_vectors WHERE track_id = ?", [track_id])  # derived, never served
            self.db.execute("DELETE FROM map_points WHERE track_id = ?", [track_id])

    def stale_analysis_models(self, track_id: int) -> list[str]:
        """The keys of the models whose analyses of this track are set aside."""
        return [r[0] for r in self.db.execute("SELECT model FROM stale_analyses WHERE track_id = ? ORDER BY model",
                                              [track_id])]

    def replace_folder_errors(self, under: tuple[str, ...], unreadable: list[tuple[str, str]]) -> None:
        """Folders that could not be read (reason 'unreadable_folder'): rows for folders under the
        `under` prefixes go, then one row per (path, detail) in `unreadable`."""
        with self._write():
            old = [r[0] for r in self.db.execute("SELECT path FROM errors WHERE reason = 'unreadable_folder'")
                   if (from_db(r[0]) + os.sep).startswith(under)]
            for path in old:
                self.db.execute("DELETE FROM errors WHERE path = ?", [path])
            for path, detail in unreadable:
                self.db.execute("INSERT OR REPLACE INTO errors(path, track_id, reason, detail, at)"
                                " VALUES (?, NULL, 'unreadable_folder', ?, ?)", [to_db(path), detail, time.time()])

    def has_analysis(self, track_id: int, key: str, per_window: bool = False) -> bool:
        """Whether this track has a sound analysis under this key (see analysed_ids)."""
        extra = _HAS_WINDOWS if per_window else ""
        return self.db.execute("SELECT 1 FROM analyses a WHERE a.track_id = ? AND a.model = ? AND a.top_prob IS NOT NULL"
                               + extra, [track_id, key]).fetchone() is not None

    def analysed_twin(self, fingerprint: str | None, track_id: int, model: str, per_window: bool = False) -> int | None:
        """Another track with the same audio already analysed by this model (a copy of the file);
        per_window: only one whose analysis keeps every window's embedding."""
        if not fingerprint:
            return None
        extra = _HAS_WINDOWS if per_window else ""
        row = self.db.execute(
            "SELECT t.id FROM tracks t JOIN analyses a ON a.track_id = t.id AND a.model = ?"
            " WHERE t.fingerprint = ? AND t.id != ? AND a.top_prob IS NOT NULL" + extra + " LIMIT 1",
            [model, fingerprint, track_id]).fetchone()
        return row[0] if row else None

    def copy_analysis(self, source: int, target: int, model: str) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT OR REPLACE INTO analyses(track_id, model, probs, top_genre, top_prob, window_starts,"
                " window_probs, embedding, embedding_std, dense, dense_max, top_labels, n_windows, analysed_at,"
                " analysis_seconds)"
                " SELECT ?, model, probs, top_genre, top_prob, window_starts, window_probs, embedding, embedding_std,"
                " dense, dense_max, top_labels, n_windows, analysed_at, 0"
                " FROM analyses WHERE track_id = ? AND model = ?",
                [target, source, model])
            self.db.execute("INSERT OR REPLACE INTO window_vectors(track_id, model, embeddings, dense)"
                            " SELECT ?, model, embeddings, dense FROM window_vectors WHERE track_id = ? AND model = ?",
                            [target, source, model])

    # -- what the map and similarity need
    def tagged_tracks(self) -> list[tuple[str, str]]:
        """(path, tag genre) of present tracks that have a tag genre, by path."""
        return [(r[0], r[1]) for r in self.db.execute(
            "SELECT path, tag_genre FROM tracks WHERE NOT missing AND tag_genre IS NOT NULL AND tag_genre != ''"
            " ORDER BY path")]

    def artists_and_tag_genres(self) -> dict[int, tuple[str | None, str | None]]:
        return {r[0]: (r[1], r[2]) for r in self.db.execute("SELECT id, artist, tag_genre FROM tracks")}

    def map_fit(self, model: str) -> dict | None:
        """The model's current map fit: method, params (dict), n_tracks, fitted_at; None before the first."""
        row = self.db.execute("SELECT method, params, n_tracks, fitted_at FROM map_fits WHERE model = ?",
                              [model]).fetchone()
        if row is None:
            return None
        try:
            params = json.loads(row[1] or "{}")
        except ValueError:
            params = {}
        return {"method": row[0], "params": params if isinstance(params, dict) else {}, "n_tracks": row[2],
                "fitted_at": row[3]}

    def map_labels(self, model: str) -> dict[int, int]:
        """track id -> cluster of every track on the model's map."""
        return dict(self.db.execute("SELECT track_id, cluster FROM map_points WHERE model = ?", [model]).fetchall())

    def remove_map_points(self, model: str, track_ids: Iterable[int]) -> None:
        with self._write():
            self.db.conn.executemany("DELETE FROM map_points WHERE model = ? AND track_id = ?",
                                     [(model, int(i)) for i in track_ids])

    def add_map_points(self, model: str, rows: list[tuple[int, float, float, int]]) -> None:
        """(track id, x, y, cluster) placed on an existing map."""
        with self._write():
            self.db.conn.executemany("INSERT OR REPLACE INTO map_points(model, track_id, x, y, cluster)"
                                     " VALUES (?, ?, ?, ?, ?)", [(model, *r) for r in rows])

    def replace_map(self, model: str, rows: list[tuple[int, float, float, int]], method: str, params: dict) -> None:
        """A new fit: every point of the model's map and its map_fits row, in one transaction."""
        with self._write():
            self.db.execute("DELETE FROM map_points WHERE model = ?", [model])
            self.db.conn.executemany("INSERT INTO map_points(model, track_id, x, y, cluster) VALUES (?, ?, ?, ?, ?)",
                                     [(model, *r) for r in rows])
            self.db.execute("INSERT OR REPLACE INTO map_fits(model, method, params, n_tracks, fitted_at)"
                            " VALUES (?, ?, ?, ?, ?)", [model, method, json.dumps(params), len(rows), time.time()])

    def replace_clusters(self, model: str, named: dict[int, dict]) -> None:
        """cluster -> {name, size, top_genres, top_artists, top_tag_genres}."""
        with self._write():
            self.db.execute("DELETE FROM clusters WHERE model = ?", [model])
            self.db.conn.executemany(
                "INSERT INTO clusters(model, cluster, name, size, top_genres, top_artists, top_tag_genres, top_tags)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(model, c, d["name"], d["size"], json.dumps(d["top_genres"]), json.dumps(d["top_artists"]),
                  json.dumps(d["top_tag_genres"]), json.dumps(d.get("top_tags", []))) for c, d in named.items()])

    def map_rows(self, model: str) -> list[tuple]:
        """(track id, x, y, cluster, top genre, artist, title) of every present track on the map."""
        return self.db.execute(
            "SELECT m.track_id, m.x, m.y, m.cluster, a.top_genre, t.artist, t.title FROM map_points m"
            " JOIN tracks t ON t.id = m.track_id AND NOT t.missing"
            " LEFT JOIN analyses a ON a.track_id = m.track_id AND a.model = m.model"
            " WHERE m.model = ? ORDER BY m.track_id", [model]).fetchall()

    def clusters(self, model: str) -> list[dict]:
        return [{"cluster": r["cluster"], "name": r["name"], "size": r["size"],
                 "top_genres": json.loads(r["top_genres"]), "top_artists": json.loads(r["top_artists"]),
                 "top_tag_genres": json.loads(r["top_tag_genres"]), "top_tags": json.loads(r["top_tags"] or "[]")}
                for r in self.db.query("SELECT * FROM clusters WHERE model = ? ORDER BY size DESC, cluster", [model])]

    def cluster_tracks(self, model: str, cluster_id: int) -> list[dict]:
        return list(self.db.query(
            "SELECT t.* FROM map_points m JOIN tracks t ON t.id = m.track_id WHERE m.model = ? AND m.cluster = ?"
            " AND NOT t.missing ORDER BY t.artist, t.album, t.track_no, t.title", [model, cluster_id]))

    def map_version(self, model: str) -> tuple:
        """Changes whenever the model's map changes (a refit rewrites the same rows: its time tells it apart)."""
        return tuple(self.db.execute(
            "SELECT COUNT(*), COALESCE(MAX(rowid), 0), (SELECT fitted_at FROM map_fits WHERE model = ?) FROM map_points"
            " WHERE model = ?", [model, model]).fetchone())

    def similarity_info(self, model: str, map_model: str | None = None) -> dict[int, tuple]:
        """track id -> (artist, album, top genre, cluster or None) of tracks the model analysed; the
        cluster is the track's on `map_model`'s map (None: the model's own), e.g. the map the app shows."""
        return {r[0]: r[1:] for r in self.db.execute(
            "SELECT t.id, t.artist, t.album, a.top_genre, m.cluster FROM tracks t"
            " JOIN analyses a ON a.track_id = t.id AND a.model = ?"
            " LEFT JOIN map_points m ON m.track_id = t.id AND m.model = ?", [model, map_model or model])}



def _order(sort: str) -> tuple[str, str]:
    """The ORDER BY key of a library table column, and its collation."""
    key = {"status": "status", "top_genre": "a.top_genre", "top_prob": "a.top_prob", "cluster": "m.cluster",
           "tags": "tg.top_labels"}.get(sort, f"t.{sort}")
    collate = " COLLATE NOCASE" if sort in {"title", "artist", "album", "path", "tag_genre", "top_genre", "tags"} else ""
    return key, collate


def _tie(sort: str) -> str:
    """What orders equal keys: an album's untagged tracks play in file order."""
    return "t.path, t.id" if sort == "track_no" else "t.id"


def _browse_condition(key: str) -> tuple[str, list]:
    """SQL condition for an artist or album key (see artist_key, album_key)."""
    try:
        kind, *values = json.loads(key)
    except (TypeError, ValueError):
        raise ValueError(f"not an artist or album key: {key!r}") from None
    if kind == "artist":
        return (f"{_ARTIST} IS NULL", []) if values[0] is None else (f"{_ARTIST} = ? COLLATE NOCASE", values)
    if kind == "album":
        return f"{_ALBUM} = ? COLLATE NOCASE AND {_ALBUM_ARTIST} = ? COLLATE NOCASE", values
    if kind == "folder":
        return f"{_ALBUM} IS NULL AND folder_of(t.path) = ?", values
    raise ValueError(f"not an artist or album key: {key!r}")


def _chunks(ids: list, size: int = 900) -> Iterator[list]:
    for i in range(0, len(ids), size):
        yield ids[i:i + size]


def _marks(chunk: list) -> str:
    return ",".join("?" * len(chunk))


def explain(e: sqlite3.Error, path: Path | str) -> str:
    text = str(e)
    if "locked" in text or "busy" in text:
        return f"the library database {path} is locked by another program (is Cratedigger already running?)"
    if "disk is full" in text or "database or disk is full" in text:
        return f"the disk holding {path} is full; free some space and scan again (nothing already saved is lost)"
    if "malformed" in text or "not a database" in text:
        return (f"the library database {path} is damaged ({text}); run 'cratedigger repair' to restore the last "
                "backup or save what can be read ('cratedigger doctor' says more)")
    folder = Path(path).parent
    if "readonly" in text or "read-only" in text or ("unable to open" in text and folder.is_dir()
                                                     and not os.access(folder, os.W_OK)):
        return (f"cannot write the library database {path}: its folder or file is read-only; commands that "
                "only read (status, similar, show...) still work")
    if "unable to open" in text:
        return f"cannot open the library database {path} ({text})"
    return f"library database error: {text}"
