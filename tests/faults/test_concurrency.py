"""Two processes pointed at one project folder at the same time.

The second gets `kh.SearchLockedError` with a clear message and changes nothing; once
the first has ended, a new search resumes the project as usual.
"""

from __future__ import annotations

import collections
import gc
import os
import subprocess
import sys
import time

import pytest

import keras_hparams as kh
from tests.faults import TALLY, child, invariants, launch, scaled

pytestmark = pytest.mark.faults

RACES = scaled(1, 8)
# Two processes released at one instant to make a new project (2 of 6 such races
# ended in "sqlite3.OperationalError: database is locked" before the lock was
# taken first).
SYNCHRONIZED_RACES = scaled(2, 6)


def hold_first_search(tmp_path, **config) -> launch.Search:
    """A search held at the first batch of its first trial."""
    first = launch.start(tmp_path, hold=str(tmp_path / "release"), **config)
    assert first.wait_for("holding"), first.output()[-3000:]
    return first


def release(tmp_path, first: launch.Search) -> None:
    (tmp_path / "release").touch()
    assert first.wait() == 0, first.output()[-3000:]


def test_second_process_is_refused_then_the_project_resumes(tmp_path):
    first = hold_first_search(tmp_path, max_trials=1)
    project = tmp_path / "p"
    before = invariants.read_rows(project)

    second = launch.run(tmp_path, max_trials=1)
    assert second.poll() == 1
    result = second.result()
    assert result["error"] == "SearchLockedError", result
    assert f"Another process (pid {first.pid}) holds {project}" in result["message"]
    assert "another project_name" in result["message"]
    assert invariants.read_rows(project) == before  # it wrote nothing

    release(tmp_path, first)
    third = launch.run(tmp_path, max_trials=2)
    assert third.poll() == 0, third.output()[-3000:]
    rows = invariants.read_rows(project)
    invariants.check_rows(rows, epochs=child.EPOCHS)
    assert [r.status for r in rows] == ["completed"] * 2
    invariants.check_files(project, rows, keep=2, final=True)


def test_two_processes_started_at_once_run_one_search(tmp_path):
    for race in range(RACES):
        folder = tmp_path / f"race{race}"
        searches = [launch.start(folder, max_trials=2) for _ in range(2)]
        codes = sorted(search.wait() for search in searches)
        results = [search.result() for search in searches]
        assert codes == [0, 1], [s.output()[-2000:] for s in searches]
        assert {"done": True} in results
        assert any(r.get("error") == "SearchLockedError" for r in results), results
        rows = invariants.read_rows(folder / "p")
        invariants.check_rows(rows, epochs=child.EPOCHS)
        assert [r.status for r in rows] == ["completed"] * 2
        invariants.check_files(folder / "p", rows, keep=2, final=True)
        TALLY["lock races"] += 1


def test_overwrite_while_another_process_searches_is_refused(tmp_path):
    first = hold_first_search(tmp_path, max_trials=2)
    project = tmp_path / "p"
    before = invariants.read_rows(project)

    second = launch.run(tmp_path, max_trials=2, overwrite=True)
    try:
        assert second.result().get("error") == "SearchLockedError", second.result()
        assert invariants.read_rows(project) == before
    finally:
        release(tmp_path, first)
    rows = invariants.read_rows(project)
    assert [r.status for r in rows] == ["completed"] * 2


def test_a_refused_process_changes_nothing_in_the_project(tmp_path):
    first = hold_first_search(tmp_path, max_trials=2)
    second = launch.run(tmp_path, max_trials=2, objective="val_loss")
    try:
        assert second.result()["error"] == "SearchLockedError", second.result()
    finally:
        release(tmp_path, first)
    third = launch.run(tmp_path, max_trials=3)
    assert third.result() == {"done": True}, third.result()


def test_overwrite_between_another_process_s_tuner_and_its_search_is_refused(
    tmp_path,
):
    first = launch.start(tmp_path, max_trials=2, search_at=str(tmp_path / "go"))
    assert first.wait_for("ready"), first.output()[-3000:]  # its Tuner is made
    second = launch.run(tmp_path, max_trials=2, overwrite=True)
    try:
        assert second.result()["error"] == "SearchLockedError", second.result()
        assert f"(pid {first.pid}) holds {tmp_path / 'p'}" in second.result()["message"]
    finally:
        (tmp_path / "go").touch()
    assert first.wait() == 0, first.output()[-3000:]
    rows = invariants.read_rows(tmp_path / "p")
    assert [r.status for r in rows] == ["completed"] * 2
    TALLY["faults injected: overwrite before another process's search"] += 1


def test_two_processes_making_a_new_project_at_the_same_instant(tmp_path):
    results = collections.Counter()
    for race in range(SYNCHRONIZED_RACES):
        folder = tmp_path / f"race{race}"
        folder.mkdir()
        go = folder / "go"
        os.mkfifo(go)  # opening it to read blocks until it is opened to write
        searches = [
            launch.start(folder, max_trials=1, start_at=str(go)) for _ in range(2)
        ]
        for search in searches:
            assert search.wait_for("start kill=None:0")
        time.sleep(0.5)  # both blocked in open(go)
        with open(go, "w"):
            pass  # both make their Tuner now
        for search in searches:
            search.wait()
        errors = sorted(s.result().get("error", "done") for s in searches)
        results.update(errors)
        assert errors == ["SearchLockedError", "done"], [
            s.output()[-2000:] for s in searches
        ]
        rows = invariants.read_rows(folder / "p")
        assert [r.status for r in rows] == ["completed"]
        TALLY["lock races (synchronized)"] += 1
    print(f"\n{SYNCHRONIZED_RACES} synchronized races: {dict(results)}")


# -- one process, several Tuners (a notebook) -----------------------------------
def make_tuner(builder, tmp_path, **kwargs):
    return kh.Tuner(
        builder, "val_accuracy", max_trials=1, directory=tmp_path, verbose=0, **kwargs
    )


def test_a_second_tuner_in_one_process_works_and_holds_the_project(
    builder, digits, tmp_path
):
    first = make_tuner(builder, tmp_path)  # a notebook cell, run once...
    second = make_tuner(builder, tmp_path)  # ...and again, the first still bound
    second.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    assert [t.status for t in first.trials] == ["completed"]
    with kh.load(tmp_path / "search") as search:  # reading never takes the lock
        assert len(search.trials) == 1
    assert held_elsewhere(tmp_path / "search")  # first holds it: never searched
    first.close()
    assert not held_elsewhere(tmp_path / "search")  # second let go at its end
    with make_tuner(builder, tmp_path) as third:
        assert held_elsewhere(tmp_path / "search")
        assert len(third.trials) == 1
    assert not held_elsewhere(tmp_path / "search")


def test_a_tuner_dropped_without_close_lets_go(builder, tmp_path):
    tuner = make_tuner(builder, tmp_path)
    assert held_elsewhere(tmp_path / "search")
    del tuner
    gc.collect()
    assert not held_elsewhere(tmp_path / "search")


def test_overwrite_in_one_process_closes_the_older_tuner(builder, digits, tmp_path):
    first = make_tuner(builder, tmp_path)
    first.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    second = make_tuner(builder, tmp_path, overwrite=True)
    assert second.trials == []
    with pytest.raises(RuntimeError, match=r"was deleted by Tuner\(overwrite=True\)"):
        first.trials  # noqa: B018
    with pytest.raises(RuntimeError, match=r"make a new Tuner"):
        first.search(*digits, epochs=1, validation_split=0.25, verbose=0)


def held_elsewhere(project) -> bool:
    """Whether another process would find the project's lock file locked."""
    code = (
        "import fcntl, sys\n"
        "with open(sys.argv[1], 'a') as handle:\n"
        "    try:\n        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "    except BlockingIOError:\n        sys.exit(3)\n"
    )
    lock = project / "search.lock"
    result = subprocess.run([sys.executable, "-c", code, str(lock)], timeout=120)
    assert result.returncode in (0, 3), result
    return result.returncode == 3
