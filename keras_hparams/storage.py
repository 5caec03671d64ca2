"""The trial store: every trial of a project in one SQLite file.

A trial is written when it starts and again when it ends, each write one committed
transaction, so a process killed at any point leaves whole rows only. The store knows
nothing about Keras.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from keras_hparams.errors import SearchLockedError
from keras_hparams.trial import Trial

SCHEMA_VERSION = 1
DATABASE_NAME = "trials.db"
LOCK_NAME = "search.lock"


class Meta:
    """The keys of the store's `meta` table: what a project records besides trials."""

    SCHEMA_VERSION = "schema_version"
    OBJECTIVE = "objective"
    """The `Objective.get_config()` the trials were scored with (with several
    objectives, the first one's)."""
    OBJECTIVES = "objectives"
    """`Objectives.get_config()`: every objective and constraint, for a search
    with several or with constraints (absent for a search of one metric)."""
    SPACE = "space"
    """`SearchSpace.get_config()` of every dimension found so far."""
    SCORING = "scoring"
    """The settings that give a score its meaning (epochs, cv, ...)."""
    QUEUE = "queue"
    """Values enqueued by `Tuner.enqueue`, run before any proposal."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    id INTEGER PRIMARY KEY,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    score REAL,
    best_epoch INTEGER,
    history TEXT NOT NULL,
    started REAL,
    ended REAL,
    error TEXT,
    extra TEXT NOT NULL DEFAULT '{}'
);
"""
_COLUMNS = (
    "id",
    "params",
    "status",
    "score",
    "best_epoch",
    "history",
    "started",
    "ended",
    "error",
    "extra",
)


def _to_json(value: Any) -> str:
    # NaN and infinity are not JSON: store them as null rather than invalid text.
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if hasattr(v, "item"):  # numpy scalars
            return clean(v.item())
        return v

    return json.dumps(clean(value))


def _finite_or_none(value: Any) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)  # a numpy scalar would be stored as a BLOB


class TrialStore:
    """The SQLite file `trials.db` in a project directory.

    Args:
        directory: path of the project directory (created if missing).

    Example:

    >>> store = TrialStore("hparams/digits")
    >>> [t.score for t in store.trials()]
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / DATABASE_NAME
        self._lock_file = None
        self._connection = sqlite3.connect(
            self.path, timeout=30, check_same_thread=False
        )
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=FULL")
        with self._connection:
            self._connection.executescript(_SCHEMA)
            self._add_missing_columns()
        version = self.get_meta(Meta.SCHEMA_VERSION)
        if version is None:
            self.set_meta(Meta.SCHEMA_VERSION, SCHEMA_VERSION)
        elif version != SCHEMA_VERSION:
            raise ValueError(
                f"{self.path} was written by schema version {version}; this version of "
                f"keras-hparams reads version {SCHEMA_VERSION}."
            )

    def _add_missing_columns(self) -> None:
        # Databases written before a column existed get it with its default.
        have = {row[1] for row in self._connection.execute("PRAGMA table_info(trials)")}
        if "extra" not in have:
            self._connection.execute(
                "ALTER TABLE trials ADD COLUMN extra TEXT NOT NULL DEFAULT '{}'"
            )

    def close(self) -> None:
        self.unlock()
        self._connection.close()

    # -- single-writer lock ------------------------------------------------------------
    def lock(self) -> None:
        """Takes the project's lock; `SearchLockedError` if another process has it."""
        if self._lock_file is None:
            self._lock_file = take_lock(self.directory)

    def unlock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing releases the flock
            self._lock_file = None

    @contextlib.contextmanager
    def locked(self) -> Iterator[TrialStore]:
        self.lock()
        try:
            yield self
        finally:
            self.unlock()

    # -- metadata -------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        row = self._connection.execute(
            "SELECT value FROM meta WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        with self._connection:
            self._connection.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                (key, _to_json(value)),
            )

    # -- trials ---------------------------------------------------------------
    def next_id(self) -> int:
        (last,) = self._connection.execute("SELECT MAX(id) FROM trials").fetchone()
        return (last or 0) + 1

    def write(self, trial: Trial) -> None:
        """Inserts or replaces `trial`'s row in one committed transaction."""
        row = (
            trial.id,
            _to_json(trial.params),
            trial.status,
            _finite_or_none(trial.score),
            None if trial.best_epoch is None else int(trial.best_epoch),
            _to_json(trial.history),
            trial.started,
            trial.ended,
            trial.error,
            _to_json(trial.extra),
        )
        with self._connection:
            self._connection.execute(
                f"INSERT OR REPLACE INTO trials ({', '.join(_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_COLUMNS))})",
                row,
            )

    def delete(self, trial_id: int) -> None:
        """Removes a trial's row (one that turned out to repeat a finished trial)."""
        with self._connection:
            self._connection.execute("DELETE FROM trials WHERE id = ?", (trial_id,))

    def trials(self) -> list[Trial]:
        """Every trial, by id."""
        rows = self._connection.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM trials ORDER BY id"
        ).fetchall()
        return [self._trial(row) for row in rows]

    def get(self, trial_id: int) -> Trial | None:
        row = self._connection.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM trials WHERE id = ?", (trial_id,)
        ).fetchone()
        return None if row is None else self._trial(row)

    @staticmethod
    def _trial(row: tuple) -> Trial:
        values = dict(zip(_COLUMNS, row, strict=True))
        values["params"] = json.loads(values["params"])
        values["history"] = json.loads(values["history"])
        values["extra"] = json.loads(values["extra"])
        return Trial(**values)


def take_lock(directory: Path) -> Any:
    """The open, flock-ed `search.lock` of `directory` (closing it releases the
    lock); `SearchLockedError` if another process holds it."""
    # "a", not "w": a refused attempt must not wipe the holder's process id.
    handle = open(Path(directory) / LOCK_NAME, "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise SearchLockedError(
            f"Another process is searching in {directory}. Wait for it to end, "
            "or give this search another project_name."
        ) from None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
