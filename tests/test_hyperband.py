"""Tests for keras_hparams/algorithms/brackets.py, hyperband.py and
bayesian_hyperband.py: schedules, and decisions on scripted histories.

The searches here run no Keras: `simulate` drives the real algorithm and records
each run the way the search loop does (`multi_fidelity.Runs.record`), with scores
read off an exact learning curve, one time unit per epoch.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import keras_hparams as kh
from keras_hparams.algorithms import (
    BayesianHyperband,
    BayesianOptimization,
    Hyperband,
)
from keras_hparams.algorithms.brackets import Schedule
from keras_hparams.algorithms.hyperband import Idle, Promote, Start, budget_scores
from keras_hparams.multi_fidelity import Runs
from keras_hparams.runner import Outcome
from keras_hparams.space import SearchSpace
from keras_hparams.storage import TrialStore
from keras_hparams.trial import COMPLETED, FAILED, PRUNED, RUNNING, TIMED_OUT, Trial

SPACE = SearchSpace([kh.Float("x", 0.0, 1.0), kh.Float("y", 0.0, 1.0)])


def curve(params: dict, epoch: int) -> float:
    """An exact validation accuracy after `epoch` epochs: the best final values
    (x near 0.8) learn slowly, so the first epochs rank them low."""
    x, y = params["x"], params["y"]
    final = 1.0 - (x - 0.8) ** 2 - 0.5 * (y - 0.3) ** 2
    rate = 1.5 - 1.2 * x
    return final * (1.0 - math.exp(-rate * epoch))


@dataclasses.dataclass
class Run:
    trial_id: int
    start: int
    end: int


def simulate(algorithm, tmp_path, *, max_trials, max_epochs, workers=1, fail=()):
    """A search of `algorithm` on `workers` simulated workers; its trials and runs.

    `fail`: trial ids whose first run fails.
    """
    runs_glue = Runs(algorithm, max_epochs, max_trials, "max")
    trials: list[Trial] = []
    running: list[tuple[int, Trial]] = []
    runs: list[Run] = []
    now = 0
    while True:
        while len(running) < workers:
            decision = runs_glue.decide(trials)
            if isinstance(decision, Idle):
                break
            trial = _submitted(algorithm, trials, decision)
            start, end = len(trial.history), trial.extra["budget"]
            runs.append(Run(trial.id, start, end))
            running.append((now + end - start, trial))
        if not running:
            return trials, runs
        running.sort(key=lambda item: (item[0], item[1].id))
        now, trial = running.pop(0)
        _record(runs_glue, trial, tmp_path, fail)


def _submitted(algorithm, trials, decision):
    if isinstance(decision, Promote):
        trial = next(t for t in trials if t.id == decision.trial_id)
        Runs.promoted(trial, decision)
    else:
        (params,) = algorithm.propose(SPACE, trials, 1, direction="max")
        extra = Runs.new_extra(decision)
        trial = Trial(len(trials) + 1, params, extra=extra)
        trials.append(trial)
    trial.status = RUNNING
    return trial


def _record(runs_glue, trial, tmp_path, fail):
    """What training and the loop record at the end of a run."""
    if trial.id in fail and len(trial.history) == 0:
        trial.status, trial.error = FAILED, "scripted failure"
        return
    trial.history = [
        {"val_accuracy": curve(trial.params, e + 1)}
        for e in range(trial.extra["budget"])
    ]
    trial.score = max(h["val_accuracy"] for h in trial.history)
    trial.status = COMPLETED
    runs_glue.record(Outcome(trial, []), tmp_path)


def rung_counts(runs, epochs):
    """How many runs ended at each number of epochs."""
    return {e: sum(r.end == e for r in runs) for e in epochs}


# -- the schedule ------------------------------------------------------------------


def test_schedule_matches_the_hyperband_paper():
    # Li et al. 2018, Table 1: R = 81, eta = 3.
    schedule = Schedule(81, 3)
    assert schedule.rungs == (1, 3, 9, 27, 81)
    assert [(b.sizes, b.epochs) for b in schedule.brackets(143)] == [
        ((81, 27, 9, 3, 1), (1, 3, 9, 27, 81)),
        ((34, 11, 3, 1), (3, 9, 27, 81)),
        ((15, 5, 1), (9, 27, 81)),
        ((8, 2), (27, 81)),
        ((5,), (81,)),
    ]


def test_rungs_divide_max_epochs_and_respect_min_epochs():
    assert Schedule(20, 3).rungs == (2, 7, 20)
    assert Schedule(27, 3, 3).rungs == (3, 9, 27)
    assert Schedule(2, 3).rungs == (2,)
    assert Schedule(16, 2).rungs == (1, 2, 4, 8, 16)


def test_brackets_repeat_and_the_last_is_cut_to_max_trials():
    schedule = Schedule(9, 3)
    assert [b.sizes for b in schedule.brackets(17)] == [(9, 3, 1), (5, 1), (3,)]
    assert [b.sizes for b in schedule.brackets(21)] == [
        (9, 3, 1),
        (5, 1),
        (3,),
        (4, 1, 1),
    ]
    # With continuation: 9 * 1 + 3 * 2 + 1 * 6, 5 * 3 + 1 * 6, 3 * 9.
    assert [b.total_epochs() for b in schedule.brackets(17)] == [21, 21, 27]
    assert schedule.total_epochs(17) == 69


@pytest.mark.parametrize(
    "arguments, message",
    [
        ((9, 1), r"Hyperband\(factor=...\) expects an integer >= 2. Received: 1"),
        ((0, 3), r"Hyperband\(max_epochs=...\) expects an integer >= 1. Received: 0"),
        ((9, 3, 0), r"Hyperband\(min_epochs=...\) expects an integer >= 1"),
        ((3, 3, 4), r"expected min_epochs <= max_epochs. Received: min_epochs=4, "),
    ],
)
def test_bad_schedules_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        Schedule(*arguments)


# -- Hyperband's decisions ---------------------------------------------------------


def test_a_sequential_search_runs_synchronous_hyperband(tmp_path):
    trials, runs = simulate(Hyperband(0), tmp_path, max_trials=17, max_epochs=9)
    assert len(trials) == 17
    assert rung_counts(runs, (1, 3, 9)) == {1: 9, 3: 3 + 5, 9: 1 + 1 + 3}
    assert sum(r.end - r.start for r in runs) == Schedule(9, 3).total_epochs(17)
    # Each rung of the first bracket keeps the best third of the previous one.
    first = [t for t in trials if t.extra["bracket"] == 0]
    for epochs, kept, next_epochs in ((1, 3, 3), (3, 1, 9)):
        ranked = sorted(
            (t for t in first if epochs in budget_scores(t)),
            key=lambda t, e=epochs: -budget_scores(t)[e],
        )
        promoted = {t.id for t in first if next_epochs in budget_scores(t)}
        assert promoted == {t.id for t in ranked[:kept]}
    # Run one at a time, a bracket's rung ends before the next run is decided.
    assert [r.end for r in runs[:13]] == [1] * 9 + [3] * 3 + [9]


@pytest.mark.parametrize("workers", [2, 3])
def test_several_workers_run_every_run_of_the_schedule_once(tmp_path, workers):
    trials, runs = simulate(
        Hyperband(0), tmp_path, max_trials=17, max_epochs=9, workers=workers
    )
    assert rung_counts(runs, (1, 3, 9)) == {1: 9, 3: 8, 9: 5}
    assert sum(r.end - r.start for r in runs) == Schedule(9, 3).total_epochs(17)
    # A promoted trial goes on from where its last run ended, never from 0.
    for trial in trials:
        mine = [r for r in runs if r.trial_id == trial.id]
        assert [r.start for r in mine] == [0] + [r.end for r in mine[:-1]]
        assert len(trial.history) == mine[-1].end
    statuses = {t.id: t.status for t in trials}
    assert {statuses[r.trial_id] for r in runs if r.end == 9} == {COMPLETED}
    assert set(statuses.values()) == {COMPLETED, PRUNED}


def _bracket(statuses_and_scores, max_epochs=9):
    """Trials of bracket 0 at rung 0 (1 epoch): `(status, score)` each."""
    trials = []
    for i, (status, score) in enumerate(statuses_and_scores, start=1):
        extra = {"bracket": 0, "rung": 0, "budget": 1}
        if score is not None:
            extra["budget_scores"] = [[1, score]]
        trials.append(Trial(i, {"x": i / 10, "y": 0.5}, status, score, extra=extra))
    return trials


def test_an_unfinished_rung_promotes_early_only_when_nothing_else_can_start():
    scores = [0.1, 0.5, 0.3, 0.9, 0.2, 0.4, 0.6, 0.7]
    trials = _bracket([(PRUNED, s) for s in scores] + [(RUNNING, None)])
    hyperband = Hyperband(0)
    # Configurations left: the next bracket starts.
    more = hyperband.decide(trials, max_trials=20, max_epochs=9, direction="max")
    assert more == Start(3, {"bracket": 1, "rung": 0})
    # None left: the best of the top third of the 8 finished goes on (ASHA).
    early = hyperband.decide(trials, max_trials=9, max_epochs=9, direction="max")
    assert early == Promote(4, 3, {"rung": 1})
    trials[3].status, trials[3].extra["rung"] = RUNNING, 1
    second = hyperband.decide(trials, max_trials=9, max_epochs=9, direction="max")
    assert second == Promote(8, 3, {"rung": 1})  # 2 of the top 8 // 3 = 2
    trials[7].status, trials[7].extra["rung"] = RUNNING, 1
    # The third place waits for the last trial of the rung.
    assert (
        hyperband.decide(trials, max_trials=9, max_epochs=9, direction="max")
        is Idle.WAIT
    )


def test_a_complete_rung_promotes_its_best_and_frees_the_others():
    scores = [0.1, 0.5, 0.3, 0.9, 0.2, 0.4, 0.6, 0.7, 0.35]
    trials = _bracket([(PRUNED, s) for s in scores])
    hyperband = Hyperband(0)
    options = {"max_trials": 9, "max_epochs": 9, "direction": "max"}
    assert hyperband.may_continue(trials, **options) == {4, 8, 7}
    assert hyperband.decide(trials, **options) == Promote(4, 3, {"rung": 1})
    for trial_id in (4, 8, 7):
        trials[trial_id - 1].extra["rung"] = 1
        trials[trial_id - 1].status = RUNNING
    assert hyperband.may_continue(trials, **options) == set()
    # Minimized, the order turns around.
    low = {**options, "direction": "min"}
    assert Hyperband(0).may_continue(
        _bracket([(PRUNED, s) for s in scores]), **low
    ) == {
        1,
        5,
        3,
    }


def test_failed_and_timed_out_runs_are_never_promoted():
    trials = _bracket(
        [(FAILED, None), (TIMED_OUT, 0.99), (PRUNED, 0.2), (PRUNED, 0.1)]
        + [(PRUNED, 0.05)] * 5
    )
    options = {"max_trials": 9, "max_epochs": 9, "direction": "max"}
    assert Hyperband(0).may_continue(trials, **options) == {3, 4, 5}
    assert Hyperband(0).decide(trials, **options) == Promote(3, 3, {"rung": 1})


def test_failures_shrink_a_rung_and_the_bracket_still_ends(tmp_path):
    trials, runs = simulate(
        Hyperband(0), tmp_path, max_trials=9, max_epochs=9, fail={1, 2, 3, 4, 5, 6, 7}
    )
    # Two configurations trained: 3 places at 3 epochs, 2 candidates.
    assert [t.status for t in trials].count(FAILED) == 7
    assert rung_counts(runs, (1, 3, 9)) == {1: 9, 3: 2, 9: 1}


def test_decisions_depend_only_on_the_stored_trials(tmp_path):
    trials, runs = simulate(
        Hyperband(3), tmp_path, max_trials=12, max_epochs=9, workers=2
    )
    again, runs_again = simulate(
        Hyperband(3), tmp_path, max_trials=12, max_epochs=9, workers=2
    )
    assert runs == runs_again
    assert [t.params for t in trials] == [t.params for t in again]
    # Midway through, trials read back from SQLite decide as the live ones do.
    store = TrialStore(tmp_path / "store")
    partial = trials[:10]
    for trial in partial:
        store.write(trial)
    for algorithm in (Hyperband(3), BayesianHyperband(3, random_fraction=0.0)):
        for options in (
            {"max_trials": 12, "max_epochs": 9, "direction": "max"},
            {"max_trials": 10, "max_epochs": 9, "direction": "min"},
        ):
            assert algorithm.decide(store.trials(), **options) == algorithm.decide(
                partial, **options
            )
            assert algorithm.may_continue(
                store.trials(), **options
            ) == algorithm.may_continue(partial, **options)


def test_no_new_values_cuts_the_last_bracket_to_the_trials_there_are(tmp_path):
    hyperband = Hyperband(0)
    glue = Runs(hyperband, 9, max_trials=17, direction="max")
    trials = _bracket([(PRUNED, s) for s in (0.1, 0.5, 0.3, 0.9)])
    assert glue.decide(trials) == Start(1, {"bracket": 0, "rung": 0})
    glue.exhausted = True  # the loop found no new values
    assert glue.decide(trials) == Promote(4, 3, {"rung": 1})


def test_epochs_come_from_search_unless_max_epochs_is_given():
    assert Hyperband().epochs_for(27) == 27
    assert Hyperband().epochs_for(None) == 1
    assert Hyperband(max_epochs=9).epochs_for(None) == 9
    assert Hyperband(max_epochs=9).epochs_for(9) == 9
    with pytest.raises(
        ValueError,
        match=r"Hyperband\(max_epochs=9\) and search\(epochs=27\) disagree on the "
        r"longest run",
    ):
        Hyperband(max_epochs=9).epochs_for(27)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Hyperband(factor=1.5), r"Hyperband\(factor=...\) expects an integer"),
        (lambda: Hyperband(min_epochs=0), r"Hyperband\(min_epochs=...\) expects"),
        (
            lambda: Hyperband(max_epochs=0),
            r"Hyperband\(max_epochs=...\) expects an integer >= 1. Received: 0",
        ),
        (
            lambda: BayesianHyperband(random_fraction=1.5),
            r"BayesianHyperband\(random_fraction=...\) expects a number between 0 "
            r"and 1. Received: 1.5",
        ),
        (
            lambda: BayesianHyperband(min_observations=0),
            r"BayesianHyperband\(min_observations=...\) expects an integer >= 1",
        ),
        (
            lambda: BayesianHyperband(lower_rungs="yes"),
            r"BayesianHyperband\(lower_rungs=...\) expects True or False",
        ),
    ],
)
def test_bad_arguments_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bayesian_hyperband_refuses_an_optimizer_of_another_kind():
    with pytest.raises(
        TypeError,
        match=r"BayesianHyperband\(optimizer=...\) expects a "
        r"kh.algorithms.BayesianOptimization or None. Received: 'GP'",
    ):
        BayesianHyperband(optimizer="GP")


# -- Bayesian Hyperband's proposals ------------------------------------------------


def _scored(scores_by_epochs):
    """Trials with the given budget scores (one list of `(epochs, score)` each)."""
    rng = np.random.default_rng(0)
    trials = []
    for i, pairs in enumerate(scores_by_epochs, start=1):
        params = {"x": float(rng.random()), "y": float(rng.random())}
        last = pairs[-1][0]
        extra = {"bracket": 0, "rung": 0, "budget": last, "budget_scores": pairs}
        trials.append(Trial(i, params, PRUNED, pairs[-1][1], extra=extra))
    return trials


def test_the_model_is_fitted_at_the_largest_rung_with_enough_scores():
    bohb = BayesianHyperband(0, random_fraction=0.0)  # 2 dimensions: 3 needed
    low = [[[1, 0.1 * i]] for i in range(5)]
    trials = _scored(low + [[[1, 0.6], [3, 0.7]], [[1, 0.5], [3, 0.4]]])
    seen = bohb.trials_at_rung(SPACE, trials)
    assert [t.score for t in seen if t.status == COMPLETED] == [
        0.0,
        0.1,
        0.2,
        0.30000000000000004,
        0.4,
        0.6,
        0.5,
    ]
    trials += _scored([[[1, 0.3], [3, 0.9]]])
    trials[-1] = dataclasses.replace(trials[-1], id=8)
    trials.append(dataclasses.replace(trials[0], id=9, status=RUNNING, score=None))
    seen = bohb.trials_at_rung(SPACE, trials)
    completed = {t.id: t.score for t in seen if t.status == COMPLETED}
    assert completed == {6: 0.7, 7: 0.4, 8: 0.9}  # their scores at 3 epochs
    assert [t.status for t in seen if t.id not in completed] == [FAILED] * 5 + [RUNNING]
    assert bohb.trials_at_rung(SPACE, trials[:2]) is None


def test_a_rung_needs_as_many_scores_as_the_optimizer_explores_first():
    space = SearchSpace([kh.Float(f"x{i}", 0.0, 1.0) for i in range(6)])
    six = _scored([[[1, 0.1 * i]] for i in range(6)])
    seven = _scored([[[1, 0.1 * i]] for i in range(7)])
    assert BayesianHyperband(0).optimizer.initial_points(space) == 5
    assert BayesianHyperband(0).trials_at_rung(space, six) is not None
    given = BayesianHyperband(0, optimizer=BayesianOptimization(n_initial_points=7))
    assert given.trials_at_rung(space, six) is None
    assert given.trials_at_rung(space, seven) is not None
    assert BayesianHyperband(0, min_observations=7).trials_at_rung(space, six) is None


def test_without_lower_rungs_the_model_waits_for_enough_scores_at_the_last_rung():
    # 2 dimensions, so 3 scores needed.
    bohb = BayesianHyperband(0, random_fraction=0.0, lower_rungs=False)
    low = _scored([[[1, 0.1 * i]] for i in range(6)] + [[[1, 0.6], [3, 0.7]]] * 3)
    # Plenty of scores at 1 and 3 epochs, none at the last rung: random values
    # (BOHB's rule, the default, fits the model on the 3-epoch scores).
    assert BayesianHyperband(0).trials_at_rung(SPACE, low) is not None
    assert bohb.trials_at_rung(SPACE, low) is None
    assert bohb.propose(SPACE, low, 1) == Hyperband(0).propose(SPACE, low, 1)
    # Trained to 9 epochs, the last rung: "completed".
    last = _scored([[[1, 0.5], [3, 0.4], [9, score]] for score in (0.5, 0.4, 0.3)])
    last = [
        dataclasses.replace(t, id=10 + i, status=COMPLETED) for i, t in enumerate(last)
    ]
    running = dataclasses.replace(low[0], id=20, status=RUNNING, score=None)
    assert bohb.trials_at_rung(SPACE, low + last[:2] + [running]) is None  # 2 < 3
    seen = bohb.trials_at_rung(SPACE, low + last + [running])
    assert {t.id: t.score for t in seen if t.status == COMPLETED} == {
        10: 0.5,
        11: 0.4,
        12: 0.3,
    }
    statuses = {t.id: t.status for t in seen}
    assert statuses[20] == RUNNING  # pending: the lie keeps proposals away
    assert all(statuses[t.id] == FAILED for t in low)  # only their values kept


def test_proposals_are_random_until_a_rung_has_enough_scores_then_bayesian():
    few = _scored([[[1, 0.1]], [[1, 0.2]]])
    bohb = BayesianHyperband(4, random_fraction=0.0)
    assert bohb.propose(SPACE, few, 1) == Hyperband(4).propose(SPACE, few, 1)
    enough = _scored([[[1, 0.1 * i]] for i in range(6)])
    expected = BayesianOptimization(4).propose(
        SPACE, bohb.trials_at_rung(SPACE, enough), 1, direction="max"
    )
    assert bohb.propose(SPACE, enough, 1, direction="max") == expected
    always_random = BayesianHyperband(4, random_fraction=1.0)
    assert always_random.propose(SPACE, enough, 1) == Hyperband(4).propose(
        SPACE, enough, 1
    )


def test_random_fraction_draws_that_share_of_proposals_at_random():
    bohb = BayesianHyperband(0, random_fraction=1 / 3)
    draws = [bohb._explores([Trial(i, {})] * i) for i in range(300)]
    assert 0.25 < np.mean(draws) < 0.42


@pytest.mark.slow
def test_bayesian_hyperband_finds_better_values_than_its_random_start(tmp_path):
    # On the exact curve, the model's proposals beat Hyperband's random ones at
    # the top rung: compared over the same seeds and the same schedule.
    def best_at_top(algorithm):
        trials, _ = simulate(algorithm, tmp_path, max_trials=17, max_epochs=9)
        return max(t.score for t in trials if t.status == COMPLETED)

    seeds = range(3)
    bohb = [best_at_top(BayesianHyperband(s, random_fraction=0.0)) for s in seeds]
    random = [best_at_top(Hyperband(s)) for s in seeds]
    assert np.mean(bohb) > np.mean(random)
