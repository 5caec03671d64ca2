"""Worker processes that stop answering: the driver does not wait forever.

A worker stopped with SIGSTOP (a debugger, a stuck node) gives no heartbeat, and
one stuck in a batch that never ends (a hung device call) overruns
`trial_timeout`: after `worker_timeout` seconds the driver kills it, records its
trial as failed with a sentence, starts a new worker in its place, and the search
goes on to `max_trials`.
"""

from __future__ import annotations

import os
import signal

import pytest

from tests.faults import FULL, TALLY, child, invariants, launch

pytestmark = [pytest.mark.faults, pytest.mark.slow]

MAX_TRIALS = 3


def run_with_a_hung_trial(tmp_path, tuner: dict, stop: bool) -> list[invariants.Row]:
    """Holds the first training in its worker (never let go); with `stop`, also
    SIGSTOPs that worker. Returns the rows once the search has ended."""
    search = launch.start(
        tmp_path,
        hold=str(tmp_path / "never"),
        hold_once=True,
        max_trials=MAX_TRIALS,
        keep_checkpoints=1,
        tuner={"executor": "processes", "n_workers": 1, **tuner},
    )
    worker = search.wait_for_pid("holding")
    if stop:
        os.kill(worker, signal.SIGSTOP)
    try:
        assert search.wait() == 0, search.output()[-3000:]
    finally:
        if launch.alive(worker):  # the search never killed it
            os.kill(worker, signal.SIGKILL)
    assert not launch.alive(worker)
    rows = invariants.read_rows(tmp_path / "p")
    invariants.check_rows(rows, epochs=child.EPOCHS)
    statuses = [r.status for r in rows]
    # The others may time out themselves on a loaded machine, never fail.
    assert statuses[0] == "failed" and len(statuses) == MAX_TRIALS, statuses
    assert set(statuses[1:]) <= {"completed", "timed_out"}, statuses
    invariants.check_files(tmp_path / "p", rows, keep=1, final=True)
    return rows


def test_a_stopped_worker_is_killed_and_replaced(tmp_path):
    rows = run_with_a_hung_trial(tmp_path, {"worker_timeout": 3}, stop=True)
    assert rows[0].error.startswith(
        "The worker process running this trial gave no sign of life for "
    ), rows[0].error
    assert "(worker_timeout=3): it was stopped, or hung outside Python" in rows[0].error
    TALLY["faults injected: worker SIGSTOP"] += 1


@pytest.mark.skipif(not FULL, reason="KH_FAULTS=full only: 15 s of waiting")
def test_a_trial_stuck_past_its_timeout_is_killed_and_replaced(tmp_path):
    tuner = {"worker_timeout": 10, "trial_timeout": 5}
    rows = run_with_a_hung_trial(tmp_path, tuner, stop=False)
    assert rows[0].error.startswith("The trial trained for "), rows[0].error
    assert (
        "past trial_timeout=5 s by more than worker_timeout=10 s without its training "
        "stopping" in rows[0].error
    )
    TALLY["faults injected: worker stuck past trial_timeout"] += 1
