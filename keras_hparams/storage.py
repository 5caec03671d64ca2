"""The trial store: every trial of a project in one SQLite file.

A trial is written when it starts and again when it ends, each write one committed
transaction, so a process killed at any point leaves whole rows only. The store knows
nothing about Keras, and nothing about the project's lock (`locking.py`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from keras_hparams.errors import DamagedFileError
from keras_hparams.trial import Trial

SCHEMA_VERSION = 1
DATABASE_NAME = "trials.db"
# A new database is made under this name, then renamed to DATABASE_NAME.
PARTIAL_NAME = "partial-" + DATABASE_NAME


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
    MARKERS = "markers"
    """The names of the dimensions a build with every default meets, and of the
    tuned fit arguments: a resume whose code meets others is refused."""


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

    A new store is made under a temporary name and renamed into place, so
    `trials.db` is never a half-made database; an existing one that is empty,
    truncated or not a trial database is refused with `DamagedFileError`. After
    each finished trial the search calls `checkpoint()`, so that `trials.db`
    alone (a copy, a backup) holds every finished trial, not only its `-wal`.

    Args:
        directory: path of the project directory (created if missing).
        read_only: bool, opens the file read-only (`mode=ro`: no write, no change
            of journal mode; `immutable` on a read-only disk). Defaults to `False`.

    Example:

    >>> store = TrialStore("hparams/digits")
    >>> [t.score for t in store.trials()]
    """

    def __init__(
        self, directory: str | os.PathLike, *, read_only: bool = False
    ) -> None:
        self.directory = Path(directory)
        self.path = self.directory / DATABASE_NAME
        self.read_only = read_only
        self._closed: str | None = None
        if read_only:
            self._open = _open_read_only(self.path)
        else:
            self.directory.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                _create(self.path)
            self._open = _open_read_write(self.path)
        if read_only:
            with self._reading():
                _check_tables(self._open, self.path)
            return
        with self._writing():
            self._add_missing_columns()
        version = self.get_meta(Meta.SCHEMA_VERSION)
        if version is None:
            self.set_meta(Meta.SCHEMA_VERSION, SCHEMA_VERSION)
        elif version != SCHEMA_VERSION:
            raise ValueError(
                f"{self.path} was written by schema version {version}; this version of "
                f"keras-hparams reads version {SCHEMA_VERSION}."
            )

    @property
    def _connection(self) -> sqlite3.Connection:
        if self._closed is not None:
            raise RuntimeError(f"The trial database {self.path} {self._closed}.")
        return self._open

    def _add_missing_columns(self) -> None:
        # Databases written before a column existed get it with its default.
        have = {row[1] for row in self._connection.execute("PRAGMA table_info(trials)")}
        if "extra" not in have:
            self._connection.execute(
                "ALTER TABLE trials ADD COLUMN extra TEXT NOT NULL DEFAULT '{}'"
            )

    def checkpoint(self) -> None:
        """Copies the committed transactions from `trials.db-wal` into `trials.db`
        (as far as readers allow), so that the file alone is a whole record."""
        if not self.read_only:
            with self._writing():
                self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()

    def close(self, reason: str = "was closed") -> None:
        """Checkpoints and closes the database; later use raises `RuntimeError`
        saying it `reason`."""
        if self._closed is not None:
            return
        if not self.read_only:
            with contextlib.suppress(sqlite3.Error):
                self._open.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        self._open.close()
        self._closed = reason

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """Turns SQLite's "malformed" and "not a database" into `DamagedFileError`."""
        try:
            yield
        except sqlite3.DatabaseError as error:
            if type(error) is not sqlite3.DatabaseError:  # locked, I/O, misuse
                raise
            raise damaged(self.path, _described(error)) from None

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Says which file could not be written, and that the search resumes."""
        if self.read_only:
            raise PermissionError(
                f"The trial database {self.path} is open read-only (kh.load): it "
                "is read, never written."
            )
        with self._reading():
            try:
                yield
            except sqlite3.OperationalError as error:
                if "locked" in str(error) or "busy" in str(error):
                    raise
                raise OSError(
                    f"Could not write the trial database {self.path}: {error}. "
                    "Every trial that ended before is kept; free the disk (or fix "
                    "the folder's permissions) and run search() again to resume."
                ) from None

    # -- metadata -------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        with self._reading():
            row = self._connection.execute(
                "SELECT value FROM meta WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        with self._writing(), self._connection:
            self._connection.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                (key, _to_json(value)),
            )

    # -- trials ---------------------------------------------------------------
    def next_id(self) -> int:
        with self._reading():
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
        with self._writing(), self._connection:
            self._connection.execute(
                f"INSERT OR REPLACE INTO trials ({', '.join(_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_COLUMNS))})",
                row,
            )

    def delete(self, trial_id: int) -> None:
        """Removes a trial's row (one that turned out to repeat a finished trial)."""
        with self._writing(), self._connection:
            self._connection.execute("DELETE FROM trials WHERE id = ?", (trial_id,))

    def trials(self) -> list[Trial]:
        """Every trial, by id."""
        with self._reading():
            rows = self._connection.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM trials ORDER BY id"
            ).fetchall()
        return [self._trial(row) for row in rows]

    def get(self, trial_id: int) -> Trial | None:
        with self._reading():
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


def damaged(path: Path, what: str) -> DamagedFileError:
    """The error for a trial database that cannot be read: names it, says how to
    recover, and that nothing was changed."""
    return DamagedFileError(
        f"The trial database {path} is {what}, so keras-hparams cannot read it "
        "(a copy that did not finish, a disk that filled up?). Nothing was changed "
        "or deleted. Restore it from a backup (a copy of trials.db taken while a "
        "search ran holds every trial that had ended), or start the search again "
        "with Tuner(overwrite=True), which deletes the project's files, "
        "checkpoints included, or use a new project_name."
    )


def _create(path: Path) -> None:
    """Makes a new, empty trial database at `path`, whole or not at all."""
    temporary = path.with_name(PARTIAL_NAME)
    leftovers = (temporary, *_sidecars(temporary))
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
    try:
        connection = sqlite3.connect(temporary)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            with connection:
                connection.executescript(_SCHEMA)
                connection.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    (Meta.SCHEMA_VERSION, json.dumps(SCHEMA_VERSION)),
                )
        finally:
            connection.close()  # the last connection: the -wal is folded in
        os.replace(temporary, path)
    except (sqlite3.Error, OSError) as error:
        for leftover in leftovers:
            with contextlib.suppress(OSError):
                leftover.unlink(missing_ok=True)
        raise OSError(
            f"Could not make the trial database {path}: {error}. Nothing was left "
            "behind; free the disk (or fix the folder's permissions) and try again."
        ) from None


def _sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]


def _open_read_write(path: Path) -> sqlite3.Connection:
    if path.stat().st_size == 0:
        raise damaged(path, "empty (0 bytes)")
    connection = sqlite3.connect(path, timeout=30, check_same_thread=False)
    try:
        _check_tables(connection, path)  # before anything is written
        connection.execute("PRAGMA journal_mode=WAL").fetchone()
        connection.execute("PRAGMA synchronous=FULL")
    except sqlite3.DatabaseError as error:
        connection.close()
        if type(error) is not sqlite3.DatabaseError:
            raise
        raise damaged(path, _described(error)) from None
    except DamagedFileError:
        connection.close()
        raise
    return connection


def _described(error: sqlite3.DatabaseError) -> str:
    if "not a database" in str(error):
        return f"not a database (SQLite: {error})"
    return f"damaged (SQLite: {error})"


def _open_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection: `mode=ro`, or `immutable=1` where the folder cannot
    be written (a read-only disk, where SQLite cannot make the `-shm` file)."""
    if path.stat().st_size == 0:
        raise damaged(path, "empty (0 bytes)")
    uri = Path(os.path.abspath(path)).as_uri()
    queries = ["mode=ro"]
    if not os.access(path.parent, os.W_OK):
        queries.append("immutable=1")
    for query in queries:
        connection = sqlite3.connect(
            f"{uri}?{query}", uri=True, timeout=30, check_same_thread=False
        )
        try:
            connection.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return connection
        except sqlite3.OperationalError as error:
            connection.close()
            failure = error
        except sqlite3.DatabaseError as error:
            connection.close()
            raise damaged(path, _described(error)) from None
    raise failure


def _check_tables(connection: sqlite3.Connection, path: Path) -> None:
    """Refuses a database that SQLite finds damaged, or that is not a trial store."""
    (verdict,) = connection.execute("PRAGMA quick_check(1)").fetchone()
    if verdict != "ok":
        raise damaged(path, f"damaged (SQLite's quick_check: {verdict})")
    tables = {
        name
        for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
    }
    if not {"meta", "trials"} <= tables:
        raise damaged(
            path,
            f"an SQLite database without a trial store's tables ({sorted(tables)})",
        )
