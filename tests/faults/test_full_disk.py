"""A disk that fills up under a search, on a real tmpfs of a few kilobytes.

At the creation of a project, the store is made under a temporary name and
renamed into place, so a full disk leaves no empty `trials.db` behind (one that a
resume would have taken for a new search), only an error naming the file. In the
middle of a search, every trial that ended stays recorded: the search goes on with
trials that say why they have no model file, or stops with an error naming the
file; once space is freed, it resumes and finishes, nothing lost or run twice.
"""

from __future__ import annotations

import re
import subprocess

import pytest

import keras_hparams as kh
from tests.faults import FULL, TALLY, child, invariants, launch

pytestmark = pytest.mark.faults


def test_a_full_disk_at_creation_leaves_no_empty_store(builder, digits, tmp_path):
    project = tmp_path / "p"
    with launch.tmpfs(project, "8k"):
        with pytest.raises(
            OSError,
            match=re.escape(
                f"Could not make the trial database {project / 'trials.db'}"
            )
            + r": .*full.*Nothing was left behind",
        ):
            kh.Tuner(builder, directory=tmp_path, project_name="p", verbose=0)
        names = sorted(p.name for p in project.iterdir())
        assert names == ["search.lock"], names  # no trials.db, empty or not
        subprocess.run(["mount", "-o", "remount,size=4m", str(project)], check=True)
        tuner = kh.Tuner(
            builder,
            "val_accuracy",
            directory=tmp_path,
            project_name="p",
            max_trials=2,
            keep_checkpoints=1,
            verbose=0,
        )
        tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)
        assert [t.status for t in tuner.trials] == ["completed"] * 2
        tuner.close()
    TALLY["faults injected: full disk at creation"] += 1


@pytest.mark.skipif(not FULL, reason="KH_FAULTS=full only")
def test_a_disk_that_fills_mid_search_loses_nothing(tmp_path):
    project = tmp_path / "p"
    config = dict(max_trials=5, keep_checkpoints=2)
    with launch.tmpfs(project, "2m"):
        search = launch.start(
            tmp_path, hold=str(tmp_path / "release"), hold_at=3, **config
        )
        assert search.wait_for("holding"), search.output()[-3000:]
        before = invariants.read_rows(project)
        filler = launch.fill(project)
        (tmp_path / "release").touch()
        search.wait()
        result = search.result()
        if result != {"done": True}:  # stopped: an error that names the file
            assert result["error"] == "OSError", result
            assert "trials.db" in result["message"], result
            assert "run search() again to resume" in result["message"], result
        how = "went on" if result == {"done": True} else "stopped with a sentence"
        TALLY[f"disk full mid-search: the search {how}"] += 1
        rows = invariants.read_rows(project)
        invariants.check_rows(rows, epochs=child.EPOCHS)
        check_kept(before, rows)
        filler.unlink()
        resumed = launch.run(tmp_path, **config)
        assert resumed.poll() == 0, resumed.output()[-3000:]
        rows = invariants.read_rows(project)
        invariants.check_rows(rows, epochs=child.EPOCHS)
        assert [r.status for r in rows] == ["completed"] * 5
        invariants.check_files(project, rows, keep=2, final=True)
        check_kept(before, rows)
    TALLY["faults injected: disk full mid-search"] += 1


def check_kept(before, rows) -> None:
    """Every trial finished before the disk filled is there, unchanged."""
    by_id = {r.id: r for r in rows}
    for row in before:
        if row.status in invariants.FINISHED:
            assert by_id.get(row.id) == row, f"trial {row.id} changed or vanished"
