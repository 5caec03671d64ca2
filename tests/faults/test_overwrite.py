"""`overwrite=True` deletes only what keras-hparams wrote.

tests/test_tuner.py covers a file of the user's beside the database; here: a folder
of the user's, files of the user's inside `trials/`, and a folder left by a killed
search (temporary files, progress files, SQLite's -wal and -shm), which is all ours
and must be deleted.
"""

from __future__ import annotations

import signal

import pytest

import keras_hparams as kh
from tests.faults import child, launch

pytestmark = pytest.mark.faults


def make_tuner(builder, tmp_path, **kwargs):
    return kh.Tuner(
        builder,
        "val_accuracy",
        directory=tmp_path,
        project_name="p",
        verbose=0,
        **kwargs,
    )


def test_overwrite_refuses_a_folder_holding_a_folder_of_the_user(builder, tmp_path):
    make_tuner(builder, tmp_path)
    (tmp_path / "p" / "logs").mkdir()
    (tmp_path / "p" / "logs" / "run.txt").write_text("mine")
    with pytest.raises(
        ValueError, match=r"deletes only what keras-hparams wrote.*logs"
    ):
        make_tuner(builder, tmp_path, overwrite=True)
    assert (tmp_path / "p" / "logs" / "run.txt").exists()
    assert (tmp_path / "p" / "trials.db").exists()


def test_overwrite_refuses_files_of_the_user_inside_trials(builder, digits, tmp_path):
    tuner = make_tuner(builder, tmp_path, max_trials=1)
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    notes = tmp_path / "p" / "trials" / "notes.txt"
    plot = tmp_path / "p" / "trials" / "trial_0001" / "my_plot.png"
    notes.write_text("mine")
    plot.write_bytes(b"mine")
    try:
        with pytest.raises(ValueError, match="deletes only what keras-hparams wrote"):
            make_tuner(builder, tmp_path, overwrite=True)
    finally:
        assert notes.exists() and plot.exists(), "the user's files were deleted"


def test_overwrite_deletes_what_a_killed_search_left(builder, tmp_path):
    options = child.progress_options()
    killed = launch.run(
        tmp_path, max_trials=2, kill="checkpoint_rename:1", tuner=options
    )
    assert killed.poll() == -signal.SIGKILL, killed.output()[-3000:]
    project = tmp_path / "p"
    left = {p.relative_to(project).as_posix() for p in project.rglob("*")}
    assert "trials/trial_0001/partial-model.keras" in left
    assert "trials.db-wal" in left

    tuner = make_tuner(builder, tmp_path, overwrite=True)
    assert tuner.trials == []
    # The lock file stays: deleting it while held would let a third process
    # lock a new one and search at the same time.
    assert {p.name for p in project.iterdir()} <= {
        "trials.db",
        "trials.db-wal",
        "trials.db-shm",
        "search.lock",
    }
