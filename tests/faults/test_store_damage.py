"""A project folder copied half-way, on a full disk, damaged or read-only.

- A `trials.db` that is empty (a failed copy, a full disk at creation), truncated
  or not a database is refused by `Tuner`, `kh.load` and the CLI with an error
  that names the file and says how to recover; nothing is deleted or overwritten
  until the user asks (`overwrite=True`).
- A damaged checkpoint is named as such by `best_model()`, `export()` and the CLI.
- A copy of `trials.db` alone, taken while a search runs, holds every trial that
  had ended (the WAL is checkpointed after each).
- A finished project on a read-only disk reads with `kh.load` and the CLI, and
  nothing in it changes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

import keras_hparams as kh
from tests.faults import TALLY, child, invariants, launch

pytestmark = pytest.mark.faults

DAMAGES = ("empty", "truncated", "not a database")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished search of 3 trials with 2 checkpoints, to copy."""
    root = tmp_path_factory.mktemp("finished")
    search = launch.run(root, max_trials=3, keep_checkpoints=2)
    assert search.poll() == 0, search.output()[-3000:]
    return root / "p"


def copy_of(finished, tmp_path):
    shutil.copytree(finished, tmp_path / "p")
    return tmp_path / "p"


def snapshot(folder) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def kept(files: dict[str, bytes]) -> dict[str, bytes]:
    """The files a refusal must leave alone: the database and the checkpoints."""
    return {
        name: data
        for name, data in files.items()
        if name.startswith("trials") and not name.endswith(("-wal", "-shm"))
    }


def damage(path, how: str) -> None:
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(b"not SQLite " * 1000)


def cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "keras_hparams.cli", *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )


def check_one_line_error(result, command: str, *phrases: str) -> None:
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    # TensorFlow's own start-up lines (absl, oneDNN) may come first: the
    # command's is the last, and the only one of its own.
    lines = result.stderr.strip().splitlines()
    ours = [line for line in lines if line.startswith("keras-hparams")]
    assert ours == lines[-1:], result.stderr[-3000:]
    assert ours[0].startswith(f"keras-hparams {command}: error: "), ours[0]
    for phrase in phrases:
        assert phrase in ours[0], ours[0]


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_store_is_refused_and_nothing_is_deleted(finished, tmp_path, how):
    project = copy_of(finished, tmp_path)
    for sidecar in ("trials.db-wal", "trials.db-shm"):  # copied beside a bad file
        (project / sidecar).unlink(missing_ok=True)
    damage(project / "trials.db", how)
    before = snapshot(project)
    described = {"empty": "is empty (0 bytes)", "truncated": "is damaged"}
    what = described.get(how, "is not a database")

    resumed = launch.run(tmp_path, max_trials=4, keep_checkpoints=2)
    assert resumed.result()["error"] == "DamagedFileError", resumed.output()[-3000:]
    message = resumed.result()["message"]
    assert message.startswith(f"The trial database {project / 'trials.db'} {what}")
    assert "Nothing was changed or deleted. Restore it from a backup" in message
    assert "overwrite=True" in message
    with pytest.raises(kh.DamagedFileError, match="Restore it from a backup"):
        kh.load(project)
    check_one_line_error(cli("show", str(project)), "show", what, "overwrite=True")
    # The database and the checkpoints that survived are as they were (SQLite may
    # make the empty -wal and -shm it reads a WAL database through).
    assert kept(snapshot(project)) == kept(before)
    TALLY[f"faults injected: {how} trials.db"] += 1
    TALLY["unclear errors"] += 0

    if how == "empty":  # the user asks: a new search
        fresh = launch.run(tmp_path, max_trials=2, keep_checkpoints=2, overwrite=True)
        assert fresh.poll() == 0, fresh.output()[-3000:]
        rows = invariants.read_rows(project)
        assert [r.status for r in rows] == ["completed"] * 2


def test_a_damaged_checkpoint_is_named(finished, tmp_path):
    project = copy_of(finished, tmp_path)
    search = kh.load(project)
    best = search.best_trial.id
    search.close()
    checkpoint = project / "trials" / f"trial_{best:04d}" / "model.keras"
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[: len(data) // 2])
    expected = f"The checkpoint {checkpoint} of trial {best} is damaged"
    with kh.load(project) as search:
        with pytest.raises(kh.DamagedFileError, match=expected):
            search.best_model()
        with pytest.raises(kh.DamagedFileError, match="retrain=True"):
            search.export(tmp_path / "best.keras")
    tuner = child.make_tuner(
        {"directory": str(tmp_path), "max_trials": 3}, child.make_builder()
    )
    with pytest.raises(kh.DamagedFileError, match=expected):
        tuner.best_model()
    tuner.close()
    result = cli("export", str(project), str(tmp_path / "out.keras"))
    check_one_line_error(result, "export", "is damaged", "trial database")
    assert not (tmp_path / "out.keras").exists()
    TALLY["faults injected: truncated checkpoint"] += 1


def test_a_copy_of_the_store_taken_mid_search_holds_the_finished_trials(tmp_path):
    search = launch.start(
        tmp_path, max_trials=4, hold=str(tmp_path / "release"), hold_at=3
    )
    try:
        assert search.wait_for("holding"), search.output()[-3000:]
        copy = tmp_path / "copy.db"
        shutil.copy(tmp_path / "p" / "trials.db", copy)  # the file alone, no -wal
    finally:
        (tmp_path / "release").touch()
    assert search.wait() == 0, search.output()[-3000:]
    with contextlib.closing(sqlite3.connect(copy)) as connection:
        statuses = [s for (s,) in connection.execute("SELECT status FROM trials")]
    assert statuses[:2] == ["completed", "completed"], statuses
    TALLY["faults injected: copy of trials.db mid-search"] += 1


def closed(database) -> None:
    """Leaves `database` as a closed search leaves it: the WAL folded in, no -wal
    or -shm beside it (SQLite deletes them when its last connection closes)."""
    with contextlib.closing(sqlite3.connect(database)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert not database.with_name("trials.db-shm").exists()


def check_read_only_reads(project, tmp_path) -> None:
    with kh.load(project) as search:
        assert [t.status for t in search.trials] == ["completed"] * 3
        assert search.best_model().compiled
        search.export(tmp_path / "best.keras")
    for command in ("show", "best"):
        result = cli(command, str(project))
        assert result.returncode == 0, result.stderr[-3000:]


def test_a_finished_project_on_a_read_only_disk_reads(finished, tmp_path):
    source = copy_of(finished, tmp_path)
    closed(source / "trials.db")
    before = snapshot(source)
    mount = tmp_path / "read-only"
    mount.mkdir()
    bound = subprocess.run(
        ["mount", "--bind", "-o", "ro", str(source), str(mount)], capture_output=True
    )
    if bound.returncode != 0:
        pytest.skip(f"cannot bind-mount read-only here: {bound.stderr.decode()}")
    try:
        assert not os.access(mount, os.W_OK)
        check_read_only_reads(mount, tmp_path)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
    assert snapshot(source) == before
    TALLY["faults injected: read-only disk"] += 1


def test_reading_a_project_writes_nothing_in_it(finished, tmp_path):
    # Where no read-only mount is allowed: kh.load opens the file with mode=ro.
    project = copy_of(finished, tmp_path)
    before = snapshot(project)
    check_read_only_reads(project, tmp_path)
    after = snapshot(project)
    # The -shm is SQLite's shared-memory index, which every reader updates (and
    # makes, with an empty -wal, if missing); every other byte stays.
    for files in (before, after):
        files.pop("trials.db-shm", None)
    if "trials.db-wal" not in before:
        assert after.pop("trials.db-wal", b"") == b""
    assert after == before
