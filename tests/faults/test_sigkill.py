"""SIGKILL, many times over one search, at chosen and at random points.

One search of `MAX_TRIALS` trials is killed `KILLS` times: each time a new process
resumes it and is killed again, at a place chosen by a seeded generator (see
`child.py` for the places: in the build, mid-epoch, during the checkpoint write,
inside the database transaction, ...), or at a random moment. After every kill the
project folder must hold whole rows only, with nothing finished lost or changed;
after the last, an undisturbed run must finish the search with exactly `MAX_TRIALS`
trials, the checkpoints of the best `KEEP` and nothing else.
"""

from __future__ import annotations

import collections
import os
import signal
import time

import numpy as np
import pytest

import keras_hparams as kh
from tests.faults import FULL, TALLY, child, invariants, launch, scaled

pytestmark = pytest.mark.faults

MAX_TRIALS = scaled(8, 24)
KILLS = scaled(12, 45)
KEEP = scaled(2, 3)
SEED = int(os.environ.get("KH_FAULTS_SEED", "0"))
# Seconds after the search starts in which a random kill lands.
RANDOM_WINDOW = 3.0
# A kill at a place lands at its first visit in the process (the database writes:
# one of the first three, a trial's; the batches: one of the first 20); a place not
# reached in time is replaced by a kill at a random moment.
VISITS = {"batch": 20, "db_commit": 3, "db_write": 3}
FALLBACK = (0.5, 1.5)
# Seconds for the checkpoint places: only trials among the best `KEEP` write one.
CHECKPOINT_FALLBACK = (3.0, 5.0)
# Trials given to Tuner.enqueue in the first run, so that kills land next to the
# queue too ("queue_pop", first in the plan).
ENQUEUED = [
    {
        "layers": 2,
        "units_0": 8,
        "activation": "tanh",
        "units_1": 12,
        "lr": 0.01,
        "batch_size": 32,
    },
    {"layers": 1, "units_0": 28, "activation": "relu", "lr": 0.2, "batch_size": 16},
]


class Observed:
    """Rows seen after each kill; what was finished must never change or vanish."""

    def __init__(self) -> None:
        self.finished: dict[int, invariants.Row] = {}
        self.started: dict[int, dict] = {}

    def update(self, rows: list[invariants.Row]) -> None:
        by_id = {row.id: row for row in rows}
        for trial_id, row in self.finished.items():
            assert by_id.get(trial_id) == row, f"finished trial {trial_id} changed"
        # A killed trial runs again with its values. Its row is first written with
        # the proposed values (all of them, or none for the defaults trial), then
        # with those its build used: the two must agree where both have a value.
        # The one exception: values whose build repeats a finished trial (they
        # differ only in dimensions the build does not use) are given up, the row
        # deleted and its id used by the next proposal.
        for trial_id, params in list(self.started.items()):
            now = by_id[trial_id].params if trial_id in by_id else None
            if now is None or any(now[k] != v for k, v in params.items() if k in now):
                assert self.repeats_a_finished_trial(params), (
                    f"trial {trial_id} was {params}, is now {now}"
                )
                del self.started[trial_id]
        for row in rows:
            if row.status in invariants.FINISHED:
                self.finished[row.id] = row
            self.started.setdefault(row.id, row.params)

    def repeats_a_finished_trial(self, params: dict) -> bool:
        return any(
            params and row.params.items() <= params.items()
            for row in self.finished.values()
        )


def plan(rng: np.random.Generator, count: int, places: list[str]) -> list[str]:
    """`count` kill specs: every place once in each round, in a random order.

    The first round starts with the queue (the enqueued trials run first) and the
    checkpoint places (the first trials are always checkpointed), so that even a
    short campaign kills there; later rounds leave the queue out, by then empty.
    """
    first = [p for p in places if p == "queue_pop" or p.startswith("checkpoint")]
    rounds = first + list(rng.permutation([p for p in places if p not in first]))
    later = [p for p in places if p != "queue_pop"]
    while len(rounds) < count:
        rounds += list(rng.permutation(later))
    specs = []
    for place in rounds[:count]:
        if place == "random":
            specs.append("random")
        else:
            specs.append(f"{place}:{rng.integers(1, VISITS.get(place, 1) + 1)}")
    return specs


def where(search: launch.Search) -> str:
    """Where a kill landed: the place the child killed itself at, or its last event."""
    events = search.events()
    kills = [e for e in events if e.startswith("kill ")]
    if kills:
        return kills[-1].split()[1]
    last = events[-1].split()[0] if events else "start"
    phases = {
        "build_begin": "random: build",
        "build": "random: build",
        "fit_begin": "random: training",
        "batch": "random: training",
        "epoch_end": "random: training",
        "checkpoint_begin": "random: checkpoint write",
        "checkpoint_rename": "random: checkpoint write",
        "progress_rename": "random: progress write",
        "db_begin": "random: database write",
        "propose_begin": "random: proposal",
        "db_commit": "random: database write",
    }
    return phases.get(last, f"random: after {last}")


def kill_once(tmp_path, spec, rng, config, fresh=False) -> launch.Search:
    delay = float(rng.uniform(0, 0.004))
    if spec == "random":
        search = launch.start(tmp_path, fresh=fresh, delay=delay, **config)
        search.wait_for("ready")
        time.sleep(rng.uniform(0, RANDOM_WINDOW))
        search.kill()
    else:
        search = launch.start(tmp_path, fresh=fresh, kill=spec, delay=delay, **config)
        search.wait_for("ready")
        wait = CHECKPOINT_FALLBACK if spec.startswith("checkpoint") else FALLBACK
        if search.join(rng.uniform(*wait)) is None:
            search.kill()  # the place was not reached in time: a random kill
    return search


def campaign(tmp_path, specs, config, fresh=False, enqueue=()) -> collections.Counter:
    """Kills one search at each of `specs` (the first run enqueues `enqueue`),
    checking the project after each kill; then lets it finish and checks it, each
    enqueued trial run once. Returns where the kills landed."""
    rng = np.random.default_rng(SEED)
    project = tmp_path / "p"
    observed, landed = Observed(), collections.Counter()
    for number, spec in enumerate(specs):
        first = {"enqueue": enqueue} if number == 0 and enqueue else {}
        search = kill_once(tmp_path, spec, rng, {**config, **first}, fresh)
        code = search.wait()
        if code == 0:
            break  # the search ended before this kill: nothing left to kill
        assert code == -signal.SIGKILL, search.output()[-3000:]
        landed[where(search)] += 1
        rows = invariants.read_rows(project)
        invariants.check_rows(rows, epochs=child.EPOCHS)
        invariants.check_files(project, rows, keep=config["keep_checkpoints"])
        observed.update(rows)

    final = launch.run(tmp_path, **config)
    assert final.poll() == 0, final.output()[-3000:]
    rows = invariants.read_rows(project)
    invariants.check_rows(rows, epochs=child.EPOCHS)
    assert [r.status for r in rows] == ["completed"] * config["max_trials"]
    observed.update(rows)
    invariants.check_files(project, rows, keep=config["keep_checkpoints"], final=True)
    for params in enqueue:
        assert [r.params for r in rows].count(params) == 1, params
    check_through_the_library(tmp_path, config, rows)
    return landed


def test_search_survives_repeated_sigkill(tmp_path):
    config = dict(
        max_trials=MAX_TRIALS, keep_checkpoints=KEEP, tuner=child.progress_options()
    )
    specs = plan(np.random.default_rng(SEED), KILLS, [*child.PLACES, "random"])
    landed = campaign(tmp_path, specs, config, enqueue=ENQUEUED)
    kills = sum(landed.values())
    TALLY["SIGKILLs survived"] += kills
    print(f"\n{kills} kills survived over {MAX_TRIALS} trials: {dict(landed)}")
    assert kills >= KILLS * 0.8, f"only {kills} kills: {dict(landed)}"


@pytest.mark.skipif(not FULL, reason="KH_FAULTS=full only: 5 s per interpreter")
def test_fresh_interpreters_killed_through_the_environment_variable(tmp_path):
    # `python -m tests.faults.child` reads its kill point from KH_FAULT_KILL.
    config = dict(max_trials=6, keep_checkpoints=2, tuner=child.progress_options())
    places = [p for p in child.PLACES if p != "queue_pop"]  # nothing enqueued here
    landed = campaign(tmp_path, [f"{p}:1" for p in places], config, fresh=True)
    TALLY["SIGKILLs survived"] += sum(landed.values())
    print(f"\n{sum(landed.values())} kills of fresh interpreters: {dict(landed)}")
    assert sum(landed.values()) >= len(places) - 1


def check_through_the_library(tmp_path, config, rows) -> None:
    """`kh.Tuner(...).trials` reads the same rows; the best checkpoint scores as
    recorded."""
    tuner = child.make_tuner(
        dict(config, directory=str(tmp_path), tuner={}), child.make_builder()
    )
    assert [(t.id, t.status, t.score, t.params, t.history) for t in tuner.trials] == [
        (r.id, r.status, r.score, r.params, r.history) for r in rows
    ]
    x, y = child.digits()
    held_out = int(len(x) * (1 - child.VALIDATION_SPLIT))
    _, accuracy = tuner.best_model().evaluate(x[held_out:], y[held_out:], verbose=0)
    assert accuracy == pytest.approx(tuner.best_score, abs=1e-6)


def test_kill_while_progress_is_renamed_leaves_no_file_behind(tmp_path):
    options = child.progress_options()
    if not options:
        pytest.skip("this version saves no progress of a running trial")
    config = dict(max_trials=2, keep_checkpoints=1)
    killed = launch.run(tmp_path, kill="progress_rename:1", tuner=options, **config)
    assert killed.poll() == -signal.SIGKILL, killed.output()[-3000:]
    resumed = launch.run(tmp_path, tuner={"save_progress_every": None}, **config)
    assert resumed.poll() == 0, resumed.output()[-3000:]
    rows = invariants.read_rows(tmp_path / "p")
    invariants.check_rows(rows, epochs=child.EPOCHS)
    invariants.check_files(tmp_path / "p", rows, keep=1, final=True)


def test_kill_after_a_completed_row_leaves_no_file_behind(tmp_path):
    config = dict(max_trials=3, keep_checkpoints=1, tuner=child.progress_options())
    if not config["tuner"]:
        pytest.skip("this version saves no progress of a running trial")
    killed = launch.run(tmp_path, kill="after_write:1", **config)
    assert killed.poll() == -signal.SIGKILL, killed.output()[-3000:]
    resumed = launch.run(tmp_path, **config)
    assert resumed.poll() == 0, resumed.output()[-3000:]
    rows = invariants.read_rows(tmp_path / "p")
    assert [r.status for r in rows] == ["completed"] * 3
    invariants.check_files(tmp_path / "p", rows, keep=1, final=True)


def test_an_enqueued_trial_taken_just_before_a_kill_still_runs(tmp_path):
    if not hasattr(kh.Tuner, "enqueue"):
        pytest.skip("this version has no Tuner.enqueue")
    wanted = {
        "layers": 2,
        "units_0": 8,
        "activation": "tanh",
        "units_1": 12,
        "lr": 0.01,
        "batch_size": 32,
    }
    killed = launch.run(tmp_path, max_trials=2, enqueue=[wanted], kill="queue_pop:1")
    assert killed.poll() == -signal.SIGKILL, killed.output()[-3000:]
    resumed = launch.run(tmp_path, max_trials=2)
    assert resumed.poll() == 0, resumed.output()[-3000:]
    rows = invariants.read_rows(tmp_path / "p")
    assert wanted in [r.params for r in rows], [r.params for r in rows]
