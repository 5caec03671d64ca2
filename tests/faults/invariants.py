"""What must hold in a project folder at any moment, however its search ended.

Read with `sqlite3` and the file system directly, not through keras_hparams, so that
a bug in the library's reading cannot hide one in its writing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

UNFINISHED = ("running", "interrupted")
FINISHED = ("completed", "failed", "pruned", "timed_out")
# What keras-hparams writes at the top of a project folder.
OWN_FILES = {"trials.db", "trials.db-wal", "trials.db-shm", "search.lock", "trials"}
MODEL_FILE = "model.keras"
NO_FILE = "no_checkpoint"  # why a trial among the best has no model file


@dataclasses.dataclass(frozen=True)
class Row:
    """One row of the `trials` table, its JSON columns parsed."""

    id: int
    params: dict[str, Any]
    status: str
    score: float | None
    best_epoch: int | None
    history: list[dict[str, float]]
    started: float | None
    ended: float | None
    error: str | None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def key(self) -> str:
        """The trial's values, as comparable text."""
        return json.dumps(self.params, sort_keys=True)


def read_rows(project: Path) -> list[Row]:
    """Every row of `project/trials.db`, after SQLite's own integrity check."""
    path = project / "trials.db"
    assert path.exists(), f"{path} is missing"
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as connection:
        (integrity,) = connection.execute("PRAGMA integrity_check").fetchone()
        assert integrity == "ok", f"{path}: {integrity}"
        rows = connection.execute(
            "SELECT id, params, status, score, best_epoch, history, started, ended, "
            "error, extra FROM trials ORDER BY id"
        ).fetchall()
    parsed = []
    for row in rows:
        values = dict(zip(Row.__dataclass_fields__, row, strict=True))
        values["params"] = json.loads(values["params"])
        values["history"] = json.loads(values["history"])
        values["extra"] = json.loads(values["extra"])
        parsed.append(Row(**values))
    return parsed


def check_rows(
    rows: list[Row], *, epochs: int, objective: str = "val_accuracy"
) -> None:
    """Ids contiguous from 1, at most one unfinished trial (the last), whole rows."""
    assert [r.id for r in rows] == list(range(1, len(rows) + 1)), [r.id for r in rows]
    unfinished = [r.id for r in rows if r.status in UNFINISHED]
    assert len(unfinished) <= 1 and (not unfinished or unfinished[0] == rows[-1].id), (
        f"unfinished trials {unfinished} among {len(rows)}"
    )
    for row in rows:
        check_row(row, epochs=epochs, objective=objective)
    keys = [r.key for r in rows]
    assert len(set(keys)) == len(keys), "two trials with the same values"


def check_row(row: Row, *, epochs: int, objective: str = "val_accuracy") -> None:
    """A row is whole: every column its status implies is there and consistent."""
    where = f"trial {row.id} ({row.status})"
    assert row.status in UNFINISHED + FINISHED, where
    assert isinstance(row.params, dict), f"{where}: params {row.params!r}"
    # A trial's row is written before its build, with the proposed values: none for
    # the first trial, which runs the defaults. A finished trial has its values.
    assert row.params or row.status in UNFINISHED, f"{where}: no values"
    assert row.started is not None, f"{where}: no start time"
    assert isinstance(row.history, list), where
    if row.status == "completed":
        assert row.error is None, f"{where}: error {row.error!r}"
        assert row.score is not None and math.isfinite(row.score), f"{where}: score"
        assert len(row.history) == epochs, f"{where}: {len(row.history)} epochs"
        assert row.best_epoch in range(len(row.history)), f"{where}: best epoch"
        assert row.score == row.history[row.best_epoch][objective], where
        assert all(math.isfinite(v) for h in row.history for v in h.values()), where
    if row.status in FINISHED:
        assert row.ended is not None and row.ended >= row.started, f"{where}: ended"
    if row.status == "failed":
        assert isinstance(row.error, str) and row.error, f"{where}: no error message"


def ranked(rows: list[Row], direction: str = "max") -> list[Row]:
    """Completed rows best first, the earliest among equal scores (as the tuner)."""
    sign = -1 if direction == "max" else 1
    completed = [r for r in rows if r.status == "completed"]
    return sorted(completed, key=lambda r: (sign * r.score, r.id))


def trial_folders(project: Path) -> dict[int, Path]:
    root = project / "trials"
    if not root.is_dir():
        return {}
    return {int(p.name.removeprefix("trial_")): p for p in root.glob("trial_*")}


def check_files(
    project: Path, rows: list[Row], *, keep: int, final: bool = False
) -> None:
    """Checkpoints: whole, present for the best `keep` trials; bounded when `final`.

    Mid-search (after a kill), a folder may hold a running trial's files and the
    model files of a trial the next completed trial will delete. Once a search has
    ended, only the best `keep` trials have a folder, and it holds only its model.
    """
    ids = {r.id for r in rows}
    folders = trial_folders(project)
    assert set(folders) <= ids, f"folders {sorted(folders)} for trials never started"
    for folder in folders.values():
        model = folder / MODEL_FILE
        if model.exists():
            check_model_file(model)
    # A trial whose model file could not be written (a full disk) says why.
    without = {r.id for r in rows if r.extra.get(NO_FILE)}
    best = [r.id for r in ranked(rows)[:keep] if r.id not in without]
    for trial_id in best:
        assert trial_id in folders and (folders[trial_id] / MODEL_FILE).exists(), (
            f"trial {trial_id}, among the best {keep}, has no {MODEL_FILE}"
        )
    if final:
        assert sorted(folders) == sorted(best), (
            f"checkpoint folders {sorted(folders)}; the best {keep}: {sorted(best)}"
        )
        for trial_id, folder in folders.items():
            names = sorted(p.name for p in folder.iterdir())
            assert names == [MODEL_FILE], f"trial {trial_id} folder holds {names}"
        others = {p.name for p in project.iterdir()} - OWN_FILES
        assert not others, f"{project} holds {sorted(others)}"


def check_model_file(path: Path) -> None:
    """A `.keras` file is a whole zip archive (what an atomic rename guarantees)."""
    assert zipfile.is_zipfile(path), f"{path} is not a whole .keras archive"
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None, f"{path} has a corrupt member"
        names = set(archive.namelist())
    assert {"config.json", "model.weights.h5"} <= names, f"{path}: {sorted(names)}"


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
