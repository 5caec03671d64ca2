"""The driver of worker processes killed or told to end: no worker outlives it.

A search with `executor="processes"` holds its worker mid-trial; then the driver
gets SIGKILL (its workers must die with it, not train on, writing into a project
that the next run searches again) or SIGTERM (a batch scheduler's request: the
same clean stop as Ctrl-C, its trial recorded `interrupted`, its workers
stopped, its lock let go, and exit status 143). The search then resumes.
"""

from __future__ import annotations

import signal

import pytest

from tests.faults import FULL, TALLY, child, invariants, launch

pytestmark = [pytest.mark.faults, pytest.mark.slow]

WORKERS = {"executor": "processes", "n_workers": 1, "save_progress_every": 0}


def held_search(tmp_path, tuner: dict, **config) -> tuple[launch.Search, int]:
    """A search whose first training is held at its first batch; the process id
    of the process that holds it."""
    search = launch.start(
        tmp_path,
        hold=str(tmp_path / "release"),
        hold_once=True,
        max_trials=2,
        keep_checkpoints=2,
        tuner=tuner,
        **config,
    )
    return search, search.wait_for_pid("holding")


def resume_and_check(tmp_path) -> list[invariants.Row]:
    """Lets the held trial go; a new run finishes the search with each trial once."""
    (tmp_path / "release").touch()
    resumed = launch.run(tmp_path, max_trials=2, keep_checkpoints=2)
    assert resumed.poll() == 0, resumed.output()[-3000:]
    rows = invariants.read_rows(tmp_path / "p")
    invariants.check_rows(rows, epochs=child.EPOCHS)
    assert [r.status for r in rows] == ["completed"] * 2
    invariants.check_files(tmp_path / "p", rows, keep=2, final=True)
    return rows


def test_workers_die_with_a_killed_driver(tmp_path):
    search, worker = held_search(tmp_path, WORKERS)
    assert worker != search.pid
    search.kill()
    assert search.wait() == -signal.SIGKILL
    # Before the hold is let go: on its own, the worker would train on.
    assert launch.wait_gone([worker]) == [], "the worker outlived its driver"
    rows = invariants.read_rows(tmp_path / "p")
    assert [r.status for r in rows] == ["running"]
    logged = search.events_of(worker)
    resume_and_check(tmp_path)
    assert search.events_of(worker) == logged  # nothing after the driver died
    TALLY["faults injected: driver SIGKILL with workers"] += 1


@pytest.mark.parametrize(
    "executor",
    [
        pytest.param(
            "processes",
            marks=pytest.mark.skipif(not FULL, reason="KH_FAULTS=full only"),
        ),
        "this process",
    ],
)
def test_sigterm_stops_the_search_cleanly(tmp_path, executor):
    tuner = WORKERS if executor == "processes" else {"save_progress_every": 0}
    search, holder = held_search(tmp_path, tuner)
    search.terminate()
    assert search.wait() == 143, search.output()[-3000:]  # 128 + SIGTERM
    assert search.result() == {"error": "Terminated", "message": "stopped by SIGTERM"}
    assert "Search stopped by SIGTERM during trial 1; run search() again" in (
        search.output()
    )
    if executor == "processes":
        assert launch.wait_gone([holder]) == [], "the worker outlived its driver"
    (row,) = invariants.read_rows(tmp_path / "p")
    assert row.status == "interrupted"
    assert row.error == "stopped by SIGTERM (the system or a batch scheduler)"
    rows = resume_and_check(tmp_path)  # the lock was let go
    assert rows[0].params == child_defaults()
    TALLY[f"faults injected: SIGTERM ({executor})"] += 1


def child_defaults() -> dict:
    return {
        "layers": 1,
        "units_0": 16,
        "activation": "relu",
        "lr": 0.05,
        "batch_size": 16,
    }


def test_sigterm_during_garbage_collection_stops_the_search(tmp_path):
    # Python drops an exception raised in a finalizer: the SIGTERM is kept and
    # raised at the next batch end.
    search = launch.run(
        tmp_path, max_trials=3, interrupt_at_build=1, gc_signal="SIGTERM"
    )
    assert "garbage_left" in search.events()
    assert search.poll() == 143, search.output()[-3000:]
    assert search.result() == {"error": "Terminated", "message": "stopped by SIGTERM"}
    rows = invariants.read_rows(tmp_path / "p")
    invariants.check_rows(rows, epochs=child.EPOCHS)
    assert rows[-1].status == "interrupted", rows
    TALLY["faults injected: SIGTERM during garbage collection"] += 1
