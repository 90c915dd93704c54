"""The label store: a crash-safe SQLite database of media, frames, cached poses and labels.

One file (``labels.db`` by default) in WAL mode holds:

- ``media``: every image or video file (absolute path, sha256, kind ``image``/``video``).
- ``frames``: one row per image, one per labeled or shown video frame (frame index, time).
- ``poses``: cached keypoints per frame and pose back-end (name and version), (16, 3) float32
  canonical pixels, or NULL when the back-end found no person, with the image size.
- ``labels``: an append-only history of labels (label, created time, optional labeler name,
  confidence, notes). A frame's label is its newest row; undo deletes the rows of one action.

Every label is committed in its own transaction (``synchronous=FULL``) before the call returns,
so killing the process at any moment loses no label already made.

Groups, for splits that keep related frames together (see ``training.splits``):

- a video frame belongs to its video: ``video:<absolute path>``;
- an image belongs to its folder plus a person id when the file name starts with one:
  a token of letters followed by digits, then ``_``, ``-``, ``.`` or a space
  (``user3_img_5.jpg`` -> ``folder:<folder>|user3``; ``image_13.jpg`` or ``IMG_0042.jpg`` have no
  person id -> ``folder:<folder>``).

Around the store: ``engine.media`` finds and reads the media files, ``training.label_io``
imports and exports CSV/JSONL label files, ``training.labeled_set`` turns labeled frames with
cached poses into a training set (and fills missing poses), ``training.label`` is the labeling
window.

Command line (``python -m training.store --help``): ``import``, ``export``, ``poses``, ``stats``.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.checksum import file_sha256
from engine.media import MediaError, media_kind, video_timing
from engine.skeleton import NUM_JOINTS
from engine.verdict import FORM_LABELS, UNSURE_LABEL

STORE_LABELS: tuple[str, ...] = FORM_LABELS + (UNSURE_LABEL,)
# Other spellings accepted on import (the dev set's labels.csv says "unclear").
LABEL_ALIASES: dict[str, str] = {"unclear": UNSURE_LABEL, "unknown": UNSURE_LABEL}

DEFAULT_DB = Path("labels.db")
SCHEMA_VERSION = 1
_PERSON_ID = re.compile(r"^([A-Za-z]+\d+)[_\-. ]")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS media (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('image', 'video')),
    fps REAL,
    frame_count INTEGER,
    added REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS media_sha256 ON media (sha256);
CREATE TABLE IF NOT EXISTS frames (
    id INTEGER PRIMARY KEY,
    media_id INTEGER NOT NULL REFERENCES media (id) ON DELETE CASCADE,
    frame_index INTEGER NOT NULL,
    time_s REAL NOT NULL,
    UNIQUE (media_id, frame_index)
);
CREATE TABLE IF NOT EXISTS poses (
    id INTEGER PRIMARY KEY,
    frame_id INTEGER NOT NULL REFERENCES frames (id) ON DELETE CASCADE,
    backend TEXT NOT NULL,
    backend_version TEXT NOT NULL,
    keypoints BLOB,
    rotation INTEGER NOT NULL DEFAULT 0,
    image_width INTEGER NOT NULL,
    image_height INTEGER NOT NULL,
    created REAL NOT NULL,
    UNIQUE (frame_id, backend, backend_version)
);
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY,
    frame_id INTEGER NOT NULL REFERENCES frames (id) ON DELETE CASCADE,
    label TEXT NOT NULL CHECK (label IN ({", ".join(repr(label) for label in STORE_LABELS)})),
    created REAL NOT NULL,
    labeler TEXT,
    confidence REAL,
    notes TEXT,
    action INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS labels_frame ON labels (frame_id, id);
CREATE INDEX IF NOT EXISTS labels_action ON labels (action);
"""


class StoreError(RuntimeError):
    """The label store cannot be opened, read or written; the message is one line."""


def normalize_label(label: str) -> str:
    """Maps a label or one of its aliases to a store label.

    Raises:
        StoreError: the label is not known.
    """
    cleaned = label.strip().lower()
    cleaned = LABEL_ALIASES.get(cleaned, cleaned)
    if cleaned not in STORE_LABELS:
        raise StoreError(f"unknown label {label!r} (expected one of {', '.join(STORE_LABELS)})")
    return cleaned


def group_of(path: str | Path, kind: str) -> str:
    """The split group of a media file (see the module docstring for the rule).

    Args:
        path: the media file.
        kind: ``"image"`` or ``"video"``.
    """
    path = Path(path)
    if kind == "video":
        return f"video:{path}"
    match = _PERSON_ID.match(path.name)
    folder = f"folder:{path.parent}"
    return f"{folder}|{match.group(1).lower()}" if match else folder


@dataclass(frozen=True)
class MediaInfo:
    """One media file in the store."""

    id: int
    path: str
    sha256: str
    kind: str
    fps: float | None
    frame_count: int | None


@dataclass(frozen=True)
class CachedPose:
    """A pose cached for one frame and back-end.

    Attributes:
        keypoints: (16, 3) float32 pixels with confidence, or None when no person was found.
        image_size: (width, height) of the frame the pixels refer to.
        rotation: 0 or 180, the orientation in which the person was found.
    """

    keypoints: np.ndarray | None
    image_size: tuple[int, int]
    rotation: int = 0


@dataclass(frozen=True)
class LabelRecord:
    """A frame's current label, as exported."""

    frame_id: int
    path: str
    kind: str
    frame_index: int
    time_s: float
    label: str
    created: float
    labeler: str | None
    confidence: float | None
    notes: str | None


def one_line(error: BaseException) -> str:
    """An error's message as one line (its type name when it has none)."""
    return " ".join(str(error).split()) or type(error).__name__


def _one_line_text(text: str, limit: int = 200) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class LabelStore:
    """The SQLite label store. Use one instance per thread.

    Args:
        path: the database file.
        create: create the file when missing; otherwise a missing file is a ``StoreError``.
        timeout_s: how long to wait for another process's write lock before failing.

    Raises:
        StoreError: the file is missing (``create=False``), not a database, corrupt, locked
            or unwritable.
    """

    def __init__(
        self, path: str | Path = DEFAULT_DB, *, create: bool = True, timeout_s: float = 5.0
    ):
        self.path = Path(path)
        # First: a folder is "missing" as a file too, and every command should say what it is.
        if self.path.is_dir():
            raise StoreError(f"label store {self.path} is a folder, not a label store file")
        if not create and not self.path.is_file():
            raise StoreError(f"no label store at {self.path}")
        try:
            self._db = sqlite3.connect(
                str(self.path), timeout=timeout_s, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as error:
            raise StoreError(f"cannot open label store {self.path}: {one_line(error)}") from None
        try:
            self._setup()
        except StoreError:
            self._db.close()
            raise

    def _setup(self) -> None:
        try:
            # Read-only checks first: a damaged or foreign file is reported, never changed.
            check = self._db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise StoreError(f"label store {self.path} is corrupt: {_one_line_text(check)}")
            tables = {
                row[0]
                for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if tables and "meta" not in tables:
                # Someone else's SQLite file: never add our tables to it.
                raise StoreError(
                    f"{self.path} is an SQLite database but not a label store "
                    f"(it holds {', '.join(sorted(tables)[:3])}); choose another --db"
                )
            self._db.execute("PRAGMA foreign_keys = ON")
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            self._db.execute("PRAGMA synchronous = FULL")
            if str(mode).lower() != "wal":
                raise StoreError(f"label store {self.path}: cannot switch to WAL mode ({mode})")
            if "meta" not in tables:  # a new store: create the tables (no write lock otherwise)
                with self._transaction():
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            self._db.execute(statement)
                    self._db.execute(
                        "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)",
                        (str(SCHEMA_VERSION),),
                    )
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None or int(row[0]) > SCHEMA_VERSION:
                raise StoreError(
                    f"label store {self.path} has schema {row[0] if row else 'none'}, "
                    "which this program does not know"
                )
        except sqlite3.Error as error:
            raise StoreError(self._describe(error)) from None

    def _describe(self, error: sqlite3.Error) -> str:
        text = one_line(error)
        if "locked" in text or "busy" in text:
            return (
                f"label store {self.path} is locked by another program ({text}); "
                "close that program and retry"
            )
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            return f"label store {self.path} is corrupt or not a label store ({text})"
        if "readonly" in text or "read-only" in text or "unable to open" in text:
            return f"label store {self.path} cannot be written ({text})"
        return f"label store {self.path}: {text}"

    class _Transaction:
        def __init__(self, store: LabelStore):
            self.store = store

        def __enter__(self):
            try:
                self.store._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise StoreError(self.store._describe(error)) from None
            return self.store._db

        def __exit__(self, exc_type, exc, tb):
            db = self.store._db
            if exc_type is None:
                try:
                    db.execute("COMMIT")
                except sqlite3.Error as error:
                    db.execute("ROLLBACK")
                    raise StoreError(self.store._describe(error)) from None
                return False
            if db.in_transaction:
                db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(self.store._describe(exc)) from None
            return False

    def _transaction(self) -> LabelStore._Transaction:
        return LabelStore._Transaction(self)

    def _query(self, sql: str, params: Sequence = ()) -> list[tuple]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as error:
            raise StoreError(self._describe(error)) from None

    def close(self) -> None:
        """Closes the connection (everything is already committed)."""
        self._db.close()

    def __enter__(self) -> LabelStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------------------- media, frames
    def add_media(self, path: str | Path) -> MediaInfo:
        """Registers an image or video file (idempotent) and returns it.

        A file already known by path is returned as is. A file whose path is new but whose
        sha256 matches a media entry whose file no longer exists is treated as moved: the entry
        takes the new path, keeping its labels.

        Raises:
            StoreError: the file is missing, unreadable or of an unsupported type.
        """

        def fail(error: StoreError) -> None:
            raise error

        return self.add_media_many([path], on_error=fail)[0]

    def add_media_many(
        self,
        paths: Iterable[str | Path],
        *,
        on_error: Callable[[StoreError], None] | None = None,
    ) -> list[MediaInfo]:
        """Registers many files (see ``add_media``) in one transaction.

        Args:
            paths: image and video files.
            on_error: called with the error of each file that cannot be registered (it is left
                out of the result); None ignores such files.

        Returns:
            The media entries, in the order of ``paths``, without the files that failed.
        """
        resolved: list[Path] = []
        new: list[tuple[str, str, str, float | None, int | None]] = []
        for raw in paths:
            path = Path(raw).expanduser().resolve()
            try:
                kind = media_kind(path)
                if kind is None:
                    raise StoreError(f"{path}: not a supported image or video file")
                if self.media_by_path(path) is None:
                    if not path.is_file():
                        raise StoreError(f"{path}: no such file")
                    try:
                        digest = file_sha256(path)
                    except OSError as error:
                        raise StoreError(f"{path}: cannot read ({one_line(error)})") from None
                    try:
                        fps, count = video_timing(path) if kind == "video" else (None, 1)
                    except MediaError as error:
                        raise StoreError(str(error)) from None
                    new.append((str(path), digest, kind, fps, count))
                resolved.append(path)
            except StoreError as error:
                if on_error is not None:
                    on_error(error)
        if new:
            now = time.time()
            with self._transaction() as db:
                for path_text, digest, kind, fps, count in new:
                    if db.execute("SELECT 1 FROM media WHERE path = ?", (path_text,)).fetchone():
                        continue  # listed twice
                    for media_id, old_path in db.execute(
                        "SELECT id, path FROM media WHERE sha256 = ? AND kind = ?", (digest, kind)
                    ).fetchall():
                        if not Path(old_path).exists():
                            db.execute(
                                "UPDATE media SET path = ? WHERE id = ?", (path_text, media_id)
                            )
                            break
                    else:
                        db.execute(
                            "INSERT INTO media (path, sha256, kind, fps, frame_count, added)"
                            " VALUES (?, ?, ?, ?, ?, ?)",
                            (path_text, digest, kind, fps, count, now),
                        )
        found = [self.media_by_path(path) for path in resolved]
        return [media for media in found if media is not None]

    def media_by_path(self, path: str | Path) -> MediaInfo | None:
        """The media entry for an (absolute) path, or None."""
        rows = self._query(
            "SELECT id, path, sha256, kind, fps, frame_count FROM media WHERE path = ?",
            (str(Path(path).expanduser().resolve()),),
        )
        return MediaInfo(*rows[0]) if rows else None

    def media(self, media_id: int) -> MediaInfo:
        """The media entry with this id."""
        rows = self._query(
            "SELECT id, path, sha256, kind, fps, frame_count FROM media WHERE id = ?", (media_id,)
        )
        if not rows:
            raise StoreError(f"label store {self.path}: no media with id {media_id}")
        return MediaInfo(*rows[0])

    def frame_id(self, media: MediaInfo, frame_index: int = 0, time_s: float | None = None) -> int:
        """The id of a frame of ``media``, created when missing."""
        rows = self._query(
            "SELECT id FROM frames WHERE media_id = ? AND frame_index = ?", (media.id, frame_index)
        )
        if rows:
            return int(rows[0][0])
        if time_s is None:
            time_s = frame_index / media.fps if media.fps else 0.0
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO frames (media_id, frame_index, time_s) VALUES (?, ?, ?)",
                (media.id, frame_index, float(time_s)),
            )
        return int(
            self._query(
                "SELECT id FROM frames WHERE media_id = ? AND frame_index = ?",
                (media.id, frame_index),
            )[0][0]
        )

    def frame_ids(self, media: MediaInfo, frame_indices: Sequence[int]) -> list[int]:
        """Ids of many frames of ``media`` (created when missing), in the given order."""
        return self.frame_ids_many([(media, int(i)) for i in frame_indices])

    def frame_ids_many(self, frames: Sequence[tuple[MediaInfo, int]]) -> list[int]:
        """Ids of ``(media, frame_index)`` frames (created when missing), in one transaction."""
        query = "SELECT id FROM frames WHERE media_id = ? AND frame_index = ?"
        missing = [
            (media.id, index, index / media.fps if media.fps else 0.0)
            for media, index in frames
            if not self._query(query, (media.id, index))
        ]
        if missing:
            with self._transaction() as db:
                db.executemany(
                    "INSERT OR IGNORE INTO frames (media_id, frame_index, time_s)"
                    " VALUES (?, ?, ?)",
                    missing,
                )
        return [int(self._query(query, (media.id, index))[0][0]) for media, index in frames]

    # -------------------------------------------------------------------------------------- poses
    def put_pose(
        self,
        frame_id: int,
        backend: str,
        backend_version: str,
        keypoints: np.ndarray | None,
        image_size: tuple[int, int],
        rotation: int = 0,
    ) -> None:
        """Caches a pose for a frame (replacing one from the same back-end and version).

        Args:
            frame_id: the frame.
            backend: back-end name (``PoseBackend.name``).
            backend_version: back-end version (``PoseBackend.version``).
            keypoints: (16, 3) pixels with confidence, or None for "no person found".
            image_size: (width, height) of the frame.
            rotation: 0 or 180.
        """
        self.put_poses([(frame_id, keypoints, image_size, rotation)], backend, backend_version)

    def put_poses(
        self,
        entries: Iterable[tuple[int, np.ndarray | None, tuple[int, int], int]],
        backend: str,
        backend_version: str,
    ) -> None:
        """Caches many poses in one transaction: ``(frame_id, keypoints, (w, h), rotation)``."""
        rows = []
        now = time.time()
        for frame_id, keypoints, (width, height), rotation in entries:
            blob = None
            if keypoints is not None:
                array = np.asarray(keypoints, dtype=np.float32)
                if array.shape != (NUM_JOINTS, 3):
                    raise StoreError(f"pose must be ({NUM_JOINTS}, 3), got {array.shape}")
                blob = array.tobytes()
            rows.append(
                (frame_id, backend, backend_version, blob, rotation, width, height, now)
            )
        if not rows:
            return
        # Poses are a cache that can be recomputed: skip the fsync labels get (the labeling
        # window writes poses between key presses). Labels keep synchronous=FULL.
        self._query("PRAGMA synchronous = NORMAL")
        try:
            self._put_pose_rows(rows)
        finally:
            self._query("PRAGMA synchronous = FULL")

    def _put_pose_rows(self, rows: list[tuple]) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO poses (frame_id, backend, backend_version, keypoints,"
                " rotation, image_width, image_height, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def get_pose(
        self, frame_id: int, backend: str | None = None, backend_version: str | None = None
    ) -> CachedPose | None:
        """The cached pose of a frame (newest matching one), or None when none is cached."""
        sql = "SELECT keypoints, image_width, image_height, rotation FROM poses WHERE frame_id = ?"
        params: list = [frame_id]
        if backend is not None:
            sql += " AND backend = ?"
            params.append(backend)
        if backend_version is not None:
            sql += " AND backend_version = ?"
            params.append(backend_version)
        rows = self._query(sql + " ORDER BY created DESC, id DESC LIMIT 1", params)
        if not rows:
            return None
        blob, width, height, rotation = rows[0]
        return CachedPose(_decode_keypoints(blob), (int(width), int(height)), int(rotation))

    # ------------------------------------------------------------------------------------- labels
    def add_label(
        self,
        frame_ids: int | Sequence[int],
        label: str,
        *,
        labeler: str | None = None,
        confidence: float | None = None,
        notes: str | None = None,
        created: float | None = None,
    ) -> int:
        """Labels one or more frames in one committed transaction.

        Args:
            frame_ids: a frame id, or several (a video segment).
            label: one of ``STORE_LABELS`` (or an alias such as ``unclear``).
            labeler: who labeled.
            confidence: how sure the labeler was, in [0, 1].
            notes: free text.
            created: unix time; now when omitted.

        Returns:
            The action id, for ``undo``.
        """
        label = normalize_label(label)
        ids = [frame_ids] if isinstance(frame_ids, int | np.integer) else list(frame_ids)
        if not ids:
            raise StoreError("nothing to label")
        return self.add_label_rows(
            [(int(i), label, created, labeler, confidence, notes) for i in ids]
        )

    def add_label_rows(
        self,
        rows: Sequence[tuple[int, str, float | None, str | None, float | None, str | None]],
    ) -> int:
        """Adds labels that differ per frame as one action, in one committed transaction.

        Args:
            rows: ``(frame_id, label, created, labeler, confidence, notes)``; ``created`` None
                is now, labels are store labels (see ``normalize_label``).

        Returns:
            The action id, for ``undo`` (0 when ``rows`` is empty: nothing was written).
        """
        if not rows:
            return 0
        now = time.time()
        entries = [
            (int(frame), normalize_label(label), now if created is None else created, labeler,
             confidence, notes)
            for frame, label, created, labeler, confidence, notes in rows
        ]
        with self._transaction() as db:
            action = db.execute("SELECT COALESCE(MAX(action), 0) + 1 FROM labels").fetchone()[0]
            db.executemany(
                "INSERT INTO labels (frame_id, label, created, labeler, confidence, notes, action)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(*entry, action) for entry in entries],
            )
        return int(action)

    def undo(self, action: int) -> list[int]:
        """Removes the labels of one action; returns the frame ids it had labeled."""
        with self._transaction() as db:
            frames = [
                int(row[0])
                for row in db.execute(
                    "SELECT frame_id FROM labels WHERE action = ? ORDER BY id", (action,)
                )
            ]
            db.execute("DELETE FROM labels WHERE action = ?", (action,))
        return frames

    def current_label(self, frame_id: int) -> str | None:
        """A frame's newest label, or None when it has none."""
        rows = self._query(
            "SELECT label FROM labels WHERE frame_id = ? ORDER BY id DESC LIMIT 1", (frame_id,)
        )
        return rows[0][0] if rows else None

    def current_label_map(self) -> dict[int, str]:
        """Frame id -> newest label, for every labeled frame."""
        rows = self._query(
            "SELECT frame_id, label FROM labels l"
            " WHERE id = (SELECT MAX(id) FROM labels WHERE frame_id = l.frame_id)"
        )
        return {int(frame_id): label for frame_id, label in rows}

    def labeled_frame_ids(self) -> set[int]:
        """Ids of all frames that have a label (``unsure`` included)."""
        return {int(row[0]) for row in self._query("SELECT DISTINCT frame_id FROM labels")}

    def label_count(self) -> int:
        """Number of label rows (the label history, undo removes rows)."""
        return int(self._query("SELECT COUNT(*) FROM labels")[0][0])

    def current_labels(self) -> list[LabelRecord]:
        """Every labeled frame with its newest label, ordered by path and frame index."""
        rows = self._query(
            """
            SELECT f.id, m.path, m.kind, f.frame_index, f.time_s, l.label, l.created,
                   l.labeler, l.confidence, l.notes
            FROM labels l
            JOIN frames f ON f.id = l.frame_id
            JOIN media m ON m.id = f.media_id
            WHERE l.id = (SELECT MAX(id) FROM labels WHERE frame_id = l.frame_id)
            ORDER BY m.path, f.frame_index
            """
        )
        return [LabelRecord(*row) for row in rows]

    def frames_without_pose(
        self, backend: str, backend_version: str, *, labeled_only: bool = True
    ) -> list[tuple[int, str, str, int]]:
        """Frames with no pose cached for this back-end: ``(frame_id, path, kind, frame_index)``.

        Args:
            backend: back-end name.
            backend_version: back-end version.
            labeled_only: only frames whose current label is trainable (not ``unsure``).
        """
        sql = """
            SELECT f.id, m.path, m.kind, f.frame_index FROM frames f
            JOIN media m ON m.id = f.media_id
            WHERE NOT EXISTS (SELECT 1 FROM poses p WHERE p.frame_id = f.id
                              AND p.backend = ? AND p.backend_version = ?)
        """
        if labeled_only:
            sql += """ AND (SELECT label FROM labels WHERE frame_id = f.id
                            ORDER BY id DESC LIMIT 1) IN ({})""".format(
                ", ".join("?" * len(FORM_LABELS))
            )
        rows = self._query(
            sql + " ORDER BY m.path, f.frame_index",
            (backend, backend_version, *(FORM_LABELS if labeled_only else ())),
        )
        return [(int(a), b, c, int(d)) for a, b, c, d in rows]


    def labeled_poses(
        self,
        labels: Sequence[str] = FORM_LABELS,
        *,
        backend: str | None = None,
        backend_version: str | None = None,
    ) -> list[tuple[LabelRecord, CachedPose]]:
        """Frames whose current label is one of ``labels`` and that have a person in a pose.

        The pose is the newest one cached for the frame (of ``backend``/``backend_version``
        when given) whose keypoints are not None.

        Returns:
            ``(label record, pose)`` pairs ordered by path and frame index.
        """
        conditions = ["p2.keypoints IS NOT NULL"]
        params: list = []
        if backend is not None:
            conditions.append("p2.backend = ?")
            params.append(backend)
        if backend_version is not None:
            conditions.append("p2.backend_version = ?")
            params.append(backend_version)
        rows = self._query(
            f"""
            SELECT f.id, m.path, m.kind, f.frame_index, f.time_s, l.label, l.created,
                   l.labeler, l.confidence, l.notes,
                   p.keypoints, p.image_width, p.image_height, p.rotation
            FROM frames f
            JOIN media m ON m.id = f.media_id
            JOIN labels l ON l.id = (SELECT MAX(id) FROM labels WHERE frame_id = f.id)
            JOIN poses p ON p.id = (SELECT p2.id FROM poses p2 WHERE p2.frame_id = f.id
                                    AND {" AND ".join(conditions)}
                                    ORDER BY p2.created DESC, p2.id DESC LIMIT 1)
            WHERE l.label IN ({", ".join("?" * len(labels))})
            ORDER BY m.path, f.frame_index
            """,
            (*params, *labels),
        )
        return [
            (LabelRecord(*row[:10]),
             CachedPose(_decode_keypoints(row[10]), (int(row[11]), int(row[12])), int(row[13])))
            for row in rows
        ]

    def counts(self) -> dict[str, int]:
        """Rows per table: ``media``, ``frames``, ``poses`` and ``labels`` (label history)."""
        return {
            table: int(self._query(f"SELECT COUNT(*) FROM {table}")[0][0])
            for table in ("media", "frames", "poses", "labels")
        }


def _decode_keypoints(blob: bytes | None) -> np.ndarray | None:
    if blob is None:
        return None
    return np.frombuffer(blob, dtype=np.float32).reshape(NUM_JOINTS, 3).copy()


# ------------------------------------------------------------------------------ command line
def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.store",
        description="Manage the label store (labels.db): import/export labels, cache poses.",
    )
    parser.add_argument("--db", default=str(DEFAULT_DB), help="label store (default labels.db)")
    commands = parser.add_subparsers(dest="command", required=True)
    importer = commands.add_parser("import", help="import labels from .csv or .jsonl files")
    importer.add_argument("files", nargs="+")
    importer.add_argument("--labeler", default=None, help="labeler name for rows without one")
    exporter = commands.add_parser("export", help="export current labels to .csv or .jsonl")
    exporter.add_argument("file")
    poses = commands.add_parser("poses", help="compute missing BlazePose poses (image mode)")
    poses.add_argument("--all", action="store_true", help="also frames without a usable label")
    commands.add_parser("stats", help="count media, frames, labels and poses")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    # The modules around the store import it, so they are imported here, when they run.
    from training.label_io import export_labels, import_labels
    from training.labeled_set import compute_missing_poses

    args = _parse_args(argv)
    try:
        with LabelStore(args.db, create=args.command == "import") as store:
            if args.command == "import":
                for name in args.files:
                    report = import_labels(store, name, labeler=args.labeler)
                    print(
                        f"{name}: imported {report.imported} labels"
                        f", {len(report.missing_files)} missing files"
                        f", {len(report.bad_rows)} bad rows"
                    )
                    for line in (report.missing_files + report.bad_rows)[:20]:
                        print(f"  skipped: {line}")
            elif args.command == "export":
                count = export_labels(store, args.file)
                print(f"wrote {count} labels to {args.file}")
            elif args.command == "poses":
                from engine.pose.base import PoseBackendError
                from engine.pose.blazepose import BlazePoseBackend

                try:
                    backend = BlazePoseBackend(stream=False)
                except PoseBackendError as error:
                    raise StoreError(str(error)) from None

                def show(done: int, total: int) -> None:
                    print(f"\rposes {done}/{total}", end="", file=sys.stderr, flush=True)

                try:
                    count = compute_missing_poses(
                        store, backend, labeled_only=not args.all, progress=show
                    )
                finally:
                    backend.close()
                print(f"\ncomputed {count} poses", file=sys.stderr)
            else:
                counts = store.counts()
                current: dict[str, int] = {}
                for record in store.current_labels():
                    current[record.label] = current.get(record.label, 0) + 1
                print(", ".join(f"{k} {v}" for k, v in counts.items()))
                summary = ", ".join(f"{k} {v}" for k, v in sorted(current.items()))
                print(f"current labels: {summary}")
    except StoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; everything committed so far is kept", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
