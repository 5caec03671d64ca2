"""A resumed trial runs exactly the values it started with.

Each trial's row stores, when it starts, how its build fills the values its
proposal does not name: the defaults (the first trial, enqueued ones), or the seed
of the generator that draws a dimension first found in that build. A trial killed
before its row holds the values it used (in its build, or in a worker process,
whose values the driver learns only at the end) draws the same ones again.
"""

from __future__ import annotations

import json
import signal

import pytest

from tests.faults import FULL, TALLY, child, invariants, launch
from tests.faults.test_orphans import child_defaults

pytestmark = pytest.mark.faults


def test_the_defaults_trial_killed_in_its_build_resumes_with_the_defaults(tmp_path):
    killed = launch.run(tmp_path, max_trials=2, kill="build:1")
    assert killed.poll() == -signal.SIGKILL, killed.output()[-3000:]
    (row,) = invariants.read_rows(tmp_path / "p")
    assert (row.status, row.params) == ("running", {})
    resumed = launch.run(tmp_path, max_trials=2)
    assert resumed.poll() == 0, resumed.output()[-3000:]
    rows = invariants.read_rows(tmp_path / "p")
    invariants.check_rows(rows, epochs=child.EPOCHS)
    assert rows[0].params == child_defaults()
    TALLY["faults injected: SIGKILL in the defaults trial's build"] += 1


def test_values_drawn_in_a_killed_build_are_drawn_the_same_again(tmp_path):
    # Trial 2 names no units_1: its build finds it (layers=2) and draws it, with
    # no seed, and is killed before its row holds it. The seed stored with the
    # trial draws the same value on resume (before: drawn again at random).
    proposal = {"layers": 2, "units_0": 8, "activation": "tanh", "lr": 0.1}
    config = dict(max_trials=2, seed=None, proposals=[{**proposal, "batch_size": 32}])
    killed = launch.run(tmp_path, kill="build:2", **config)
    assert killed.poll() == -signal.SIGKILL, killed.output()[-3000:]
    (drawn,) = [e for e in killed.events() if e.startswith("layers ")][1:]
    drawn = json.loads(drawn.removeprefix("layers "))
    rows = invariants.read_rows(tmp_path / "p")
    assert "units_1" not in rows[1].params and rows[1].status == "running"
    resumed = launch.run(tmp_path, **config)
    assert resumed.poll() == 0, resumed.output()[-3000:]
    rows = invariants.read_rows(tmp_path / "p")
    invariants.check_rows(rows, epochs=child.EPOCHS)
    assert rows[1].params["units_1"] == drawn["units_1"]
    TALLY["faults injected: SIGKILL in a build that draws a value"] += 1


@pytest.mark.slow
@pytest.mark.skipif(not FULL, reason="KH_FAULTS=full only: worker processes")
def test_a_worker_s_trial_killed_with_its_driver_resumes_with_its_values(tmp_path):
    # Trial 2 names no units_1: its build in the worker finds it (layers=2) and
    # draws it, with no seed. The driver is killed while trial 2 trains.
    # (Before, the row held the proposal only, and a resume drew units_1 again.)
    proposal = {"layers": 2, "units_0": 8, "activation": "tanh", "lr": 0.1}
    config = dict(seed=None, proposals=[{**proposal, "batch_size": 32}])
    search = launch.start(
        tmp_path,
        max_trials=2,
        hold=str(tmp_path / "never"),
        hold_at=2,
        hold_once=True,
        tuner={"executor": "processes", "n_workers": 1},
        **config,
    )
    worker = search.wait_for_pid("holding")
    search.kill()
    assert search.wait() == -signal.SIGKILL
    assert launch.wait_gone([worker]) == []
    built = [e for e in search.events_of(worker) if e.startswith("values ")]
    used = json.loads(built[-1].removeprefix("values "))
    assert used["layers"] == 2 and "units_1" in used
    rows = invariants.read_rows(tmp_path / "p")
    assert [r.status for r in rows] == ["completed", "running"]
    # The worker said which values its build used before training: the row
    # holds them; had the driver died before that, the stored seed draws them.
    assert rows[1].params == {**used, "batch_size": 32}
    assert isinstance(rows[1].extra["draw"], int)

    resumed = launch.run(tmp_path, max_trials=2, **config)
    assert resumed.poll() == 0, resumed.output()[-3000:]
    rows = invariants.read_rows(tmp_path / "p")
    invariants.check_rows(rows, epochs=child.EPOCHS)
    assert rows[1].params == {**used, "batch_size": 32}
    TALLY["faults injected: driver SIGKILL mid-trial, values drawn in a worker"] += 1
