"""Tests for keras_hparams/storage.py: the SQLite trial store."""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from keras_hparams.errors import FatalError, SearchLockedError
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


_LOCK_SCRIPT = textwrap.dedent("""
    import sys
    from keras_hparams.errors import SearchLockedError
    from keras_hparams.storage import TrialStore

    store = TrialStore(sys.argv[1])
    for line in sys.stdin:
        try:
            store.lock()
        except SearchLockedError as error:
            print("locked:", error, flush=True)
        else:
            store.unlock()  # before answering, so the parent may take it at once
            print("acquired", flush=True)
""")


def test_lock_excludes_another_process(tmp_path):
    store = TrialStore(tmp_path)
    store.lock()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen(
        [sys.executable, "-c", _LOCK_SCRIPT, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        process.stdin.write("try\n")
        process.stdin.flush()
        first = process.stdout.readline()
        store.unlock()
        process.stdin.write("try\n")
        process.stdin.flush()
        second = process.stdout.readline()
        store.lock()  # the other process let it go again
    finally:
        process.stdin.close()
        process.wait(timeout=60)
        store.close()
    assert first.startswith("locked: Another process is searching in "), first
    assert "give this search another project_name" in first
    assert second.strip() == "acquired"
    assert process.returncode == 0


def test_lock_excludes_another_store_in_this_process(tmp_path):
    first, second = TrialStore(tmp_path), TrialStore(tmp_path)
    try:
        first.lock()
        first.lock()  # taking it again is a no-op
        with pytest.raises(
            SearchLockedError,
            match=re.escape(
                f"Another process is searching in {tmp_path}. Wait for it to end, or "
                "give this search another project_name."
            ),
        ):
            second.lock()
        first.unlock()
        with second.locked():
            with pytest.raises(SearchLockedError):
                first.lock()
        first.lock()
    finally:
        first.close()
        second.close()


def test_close_releases_the_lock(tmp_path):
    first = TrialStore(tmp_path)
    first.lock()
    first.close()
    second = TrialStore(tmp_path)
    second.lock()
    second.close()


def test_search_locked_error_is_fatal():
    assert issubclass(SearchLockedError, FatalError)
    assert issubclass(SearchLockedError, RuntimeError)


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
