"""Tests for keras_hparams/storage.py: the SQLite trial store."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sqlite3

import numpy as np
import pytest

from keras_hparams.errors import DamagedFileError
from keras_hparams.storage import DATABASE_NAME, SCHEMA_VERSION, TrialStore
from keras_hparams.trial import Trial


def _trial(trial_id: int = 1, **overrides) -> Trial:
    values = dict(
        id=trial_id,
        params={"units": 64, "lr": 0.001, "act": "relu", "bn": True, "pool": None},
        status="completed",
        score=0.25,
        best_epoch=1,
        history=[{"loss": 0.5, "val_loss": 0.3}, {"loss": 0.4, "val_loss": 0.25}],
        started=1_700_000_000.5,
        ended=1_700_000_042.25,
        error=None,
    )
    values.update(overrides)
    return Trial(**values)


@pytest.fixture
def store(tmp_path):
    store = TrialStore(tmp_path / "project")
    yield store
    store.close()


def test_write_then_read_back(store):
    trial = _trial()
    store.write(trial)
    assert store.get(1) == trial
    assert store.trials() == [trial]
    assert store.get(1).seconds == pytest.approx(41.75)
    assert type(store.get(1).params["units"]) is int
    assert type(store.get(1).params["lr"]) is float


def test_failed_trial_keeps_its_error(store):
    trial = _trial(
        2,
        status="failed",
        score=None,
        best_epoch=None,
        history=[],
        error="ResourceExhaustedError: OOM when allocating tensor",
    )
    store.write(trial)
    assert store.get(2) == trial


def test_running_trial_with_no_end(store):
    trial = Trial(id=1, params={"units": 32}, started=1.0)
    store.write(trial)
    read = store.get(1)
    assert read == trial
    assert read.status == "running"
    assert read.score is None and read.ended is None and read.history == []
    assert read.seconds is None and not read.finished


def test_write_again_replaces_the_row(store):
    store.write(Trial(id=1, params={"units": 32}, started=10.0))
    finished = Trial(
        id=1,
        params={"units": 32},
        status="completed",
        score=0.5,
        best_epoch=0,
        history=[{"val_loss": 0.5}],
        started=10.0,
        ended=20.0,
    )
    store.write(finished)
    assert store.trials() == [finished]
    assert store.get(1).status == "completed"


def test_trials_are_ordered_by_id_and_get_misses_return_none(store):
    for trial_id in (3, 1, 2):
        store.write(_trial(trial_id, score=float(trial_id)))
    assert [t.id for t in store.trials()] == [1, 2, 3]
    assert store.get(4) is None


def test_next_id(store):
    assert store.next_id() == 1
    store.write(_trial(1))
    assert store.next_id() == 2
    store.write(_trial(5))
    assert store.next_id() == 6


def test_meta_round_trip(store):
    assert store.get_meta("missing") is None
    values = {
        "objective": {"name": "val_loss", "direction": "min"},
        "space": [
            {
                "kind": "Int",
                "name": "a",
                "low": 1,
                "high": 4,
                "step": None,
                "log": False,
                "default": 1,
            }
        ],
        "seed": 0,
        "note": "text",
        "flag": False,
    }
    for key, value in values.items():
        store.set_meta(key, value)
    for key, value in values.items():
        assert store.get_meta(key) == value
    store.set_meta("seed", 7)
    assert store.get_meta("seed") == 7


def test_schema_version_is_recorded(store):
    assert store.get_meta("schema_version") == SCHEMA_VERSION


def test_nan_and_infinity_are_stored_as_null(store):
    trial = _trial(
        score=float("nan"),
        history=[
            {"loss": 0.5, "val_loss": float("nan")},
            {"loss": float("inf"), "val_loss": float("-inf")},
        ],
        params={"lr": 0.01},
    )
    store.write(trial)
    read = store.get(1)
    assert read.score is None
    assert read.history == [
        {"loss": 0.5, "val_loss": None},
        {"loss": None, "val_loss": None},
    ]
    raw = (
        sqlite3.connect(store.path)
        .execute("SELECT score, history FROM trials")
        .fetchone()
    )
    assert raw[0] is None
    assert "NaN" not in raw[1] and "Infinity" not in raw[1]
    assert json.loads(raw[1])[0]["val_loss"] is None


def test_infinite_score_is_stored_as_null(store):
    store.write(_trial(score=float("inf")))
    assert store.get(1).score is None


def test_numpy_values_in_params_and_history(store):
    store.write(
        _trial(
            params={"units": np.int64(64), "lr": np.float32(0.5), "bn": np.bool_(True)},
            history=[{"loss": np.float32(0.25)}],
        )
    )
    read = store.get(1)
    assert read.params == {"units": 64, "lr": 0.5, "bn": True}
    assert read.history == [{"loss": 0.25}]


def test_numpy_score_and_best_epoch(store):
    store.write(_trial(score=np.float32(0.5), best_epoch=np.int64(2)))
    read = store.get(1)
    assert read.score == 0.5
    assert read.best_epoch == 2


def test_two_stores_on_one_directory_see_each_others_writes(tmp_path):
    first, second = TrialStore(tmp_path), TrialStore(tmp_path)
    try:
        first.write(_trial(1))
        assert second.get(1) == _trial(1)
        second.write(_trial(2, score=0.1))
        assert [t.id for t in first.trials()] == [1, 2]
        assert first.next_id() == 3
        first.write(_trial(2, score=0.05))
        assert second.get(2).score == 0.05
        second.set_meta("k", [1, 2])
        assert first.get_meta("k") == [1, 2]
    finally:
        first.close()
        second.close()


def test_data_survives_reopening(tmp_path):
    store = TrialStore(tmp_path)
    store.write(_trial(1))
    store.set_meta("seed", 3)
    store.close()
    reopened = TrialStore(tmp_path)
    assert reopened.trials() == [_trial(1)]
    assert reopened.get_meta("seed") == 3
    reopened.close()


def test_directory_is_created(tmp_path):
    directory = tmp_path / "a" / "b" / "project"
    store = TrialStore(directory)
    assert directory.is_dir()
    assert store.path == directory / DATABASE_NAME
    store.close()


def test_database_is_a_plain_sqlite_file(store):
    store.write(_trial(1))
    store.write(_trial(2, status="failed", score=None, error="boom"))
    assert store.path.name == "trials.db"
    connection = sqlite3.connect(store.path)
    rows = connection.execute(
        "SELECT id, params, status, score, best_epoch, history, started, ended, error "
        "FROM trials ORDER BY id"
    ).fetchall()
    connection.close()
    assert [row[0] for row in rows] == [1, 2]
    assert json.loads(rows[0][1]) == _trial(1).params
    assert rows[0][2:5] == ("completed", 0.25, 1)
    assert json.loads(rows[0][5]) == _trial(1).history
    assert rows[1][2] == "failed" and rows[1][3] is None and rows[1][8] == "boom"


def test_schema_version_mismatch(tmp_path):
    store = TrialStore(tmp_path)
    store.set_meta("schema_version", 999)
    store.close()
    expected = (
        f"{tmp_path / 'trials.db'} was written by schema version 999; this "
        f"version of keras-hparams reads version {SCHEMA_VERSION}."
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        TrialStore(tmp_path)


def test_a_trial_row_is_whole_after_each_write(tmp_path):
    # Each write is its own committed transaction: a connection opened right after a
    # write, with no close in between, sees the whole row.
    store = TrialStore(tmp_path)
    for trial_id in range(1, 6):
        store.write(_trial(trial_id, score=trial_id / 10))
        connection = sqlite3.connect(store.path)
        (count,) = connection.execute("SELECT COUNT(*) FROM trials").fetchone()
        connection.close()
        assert count == trial_id
    store.close()
    reopened = TrialStore(tmp_path)
    assert all(math.isclose(t.score, t.id / 10) for t in reopened.trials())
    reopened.close()


# -- damaged databases are refused, naming the file, changing nothing -------------
def _damage(path, how):
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif how == "not a database":
        path.write_text("a text file, not SQLite " * 100)
    else:  # another program's SQLite file
        path.unlink()
        with sqlite3.connect(path) as connection:
            connection.execute("CREATE TABLE notes (text TEXT)")


@pytest.mark.parametrize(
    ("how", "what"),
    [
        ("empty", r"is empty \(0 bytes\)"),
        ("truncated", r"is damaged \(SQLite"),
        ("not a database", r"is not a database \(SQLite: file is not a database\)"),
        ("foreign", r"is an SQLite database without a trial store's tables"),
    ],
)
@pytest.mark.parametrize("read_only", [False, True])
def test_a_damaged_database_is_refused_and_left_as_it_is(
    tmp_path, how, what, read_only
):
    store = TrialStore(tmp_path)
    for trial_id in range(1, 40):  # pages enough that a half-file loses some
        store.write(_trial(trial_id, error="x" * 500))
    store.close()
    _damage(store.path, how)
    before = store.path.read_bytes()
    with pytest.raises(DamagedFileError, match=re.escape(str(store.path)) + " " + what):
        TrialStore(tmp_path, read_only=read_only)
    with pytest.raises(DamagedFileError, match="Restore it from a backup.*overwrite"):
        TrialStore(tmp_path, read_only=read_only)
    assert store.path.read_bytes() == before  # nothing written, nothing deleted


def test_a_new_database_is_made_whole_under_another_name(tmp_path):
    store = TrialStore(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name) == []
    assert store.get_meta("schema_version") == SCHEMA_VERSION
    store.close()
    # A make that was killed leaves its partial file; the next one starts over.
    (tmp_path / "partial-trials.db").write_bytes(b"half")
    os.remove(tmp_path / DATABASE_NAME)
    TrialStore(tmp_path).close()
    assert not (tmp_path / "partial-trials.db").exists()


# -- the database file alone is a whole record ------------------------------------
def test_after_a_checkpoint_the_file_alone_holds_every_row(tmp_path):
    store = TrialStore(tmp_path / "live")
    for trial_id in (1, 2, 3):
        store.write(_trial(trial_id))
    store.checkpoint()
    # Copy trials.db alone while the store is open: its -wal stays behind.
    (tmp_path / "copy").mkdir()
    shutil.copy(store.path, tmp_path / "copy" / DATABASE_NAME)
    copied = TrialStore(tmp_path / "copy", read_only=True)
    assert [t.id for t in copied.trials()] == [1, 2, 3]
    copied.close()
    store.close()


def test_without_a_checkpoint_the_rows_wait_in_the_wal(tmp_path):
    # Why checkpoint() exists: SQLite moves WAL pages into the file only after
    # 1,000 pages, so a copy of the file alone would hold none of these.
    store = TrialStore(tmp_path / "live")
    store.write(_trial(1))
    (tmp_path / "copy").mkdir()
    shutil.copy(store.path, tmp_path / "copy" / DATABASE_NAME)
    assert TrialStore(tmp_path / "copy", read_only=True).trials() == []
    store.close()


# -- read-only ----------------------------------------------------------------------
def test_a_read_only_store_writes_nothing(tmp_path):
    store = TrialStore(tmp_path)
    store.write(_trial(1))
    store.close()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    reader = TrialStore(tmp_path, read_only=True)
    assert [t.id for t in reader.trials()] == [1]
    with pytest.raises(PermissionError, match="is open read-only"):
        reader.write(_trial(2))
    reader.close()
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name in before}
    assert after == before


def test_a_read_only_store_sees_a_writer_s_new_rows(tmp_path):
    writer = TrialStore(tmp_path)
    reader = TrialStore(tmp_path, read_only=True)
    writer.write(_trial(1))
    assert [t.id for t in reader.trials()] == [1]
    reader.close()
    writer.close()


def test_a_read_only_store_refuses_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        TrialStore(tmp_path, read_only=True)


# -- writes that fail say which file, and that the search resumes -----------------
def test_a_full_database_is_an_error_naming_the_file(tmp_path):
    store = TrialStore(tmp_path)
    # SQLite's own "database or disk is full", from a page limit.
    (pages,) = store._connection.execute("PRAGMA page_count").fetchone()
    store._connection.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(
        OSError,
        match=re.escape(
            f"Could not write the trial database {store.path}: database or disk is full"
        )
        + ".*run search\\(\\) again to resume",
    ):
        for trial_id in range(1, 200):
            store.write(_trial(trial_id, error="x" * 2000))
    store.close()


def test_a_closed_store_says_so(tmp_path):
    store = TrialStore(tmp_path)
    store.close("was deleted by Tuner(overwrite=True): make a new Tuner")
    with pytest.raises(
        RuntimeError,
        match=re.escape(
            f"The trial database {store.path} was deleted by Tuner(overwrite=True): "
            "make a new Tuner."
        ),
    ):
        store.trials()
