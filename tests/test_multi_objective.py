"""Tests for keras_hparams/algorithms/multi_objective.py: ParEGO proposals.

Driven through `propose` with synthetic trials, as the tuner drives it (the first
trial runs the defaults). The quality checks take the median over a few seeds; a
search whose surrogate is told the scores shuffled must fail the same check, so the
check measures the surrogate, not luck.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import keras_hparams as kh
from keras_hparams import pareto
from keras_hparams.algorithms import (
    BayesianOptimization,
    GridSearch,
    MultiObjectiveBayesian,
    RandomSearch,
    for_objectives,
)
from keras_hparams.algorithms.multi_objective import scalarized
from keras_hparams.objectives import Objectives
from keras_hparams.space import SearchSpace
from keras_hparams.trial import COMPLETED, FAILED, INFEASIBLE, RUNNING, Trial
from tests.test_proposal_quality import BlindBayesian

OBJECTIVES = Objectives.from_arguments([kh.Objective("a", "max"), "params"])
BUDGET = 16
SEEDS = range(5)
# With the settings of 2026-11: median hypervolume 0.96 for this algorithm, 0.0 for
# random search, far less told shuffled scores (of at most about 1.17).
GOOD_HYPERVOLUME = 0.8


def space():
    return SearchSpace(
        [
            kh.Float("x", 0.0, 1.0, default=0.5),
            kh.Float("y", 0.0, 1.0, default=0.5),
            kh.Float("z", 0.0, 1.0, default=0.5),
        ]
    )


def two_objective_trial(trial_id, params, constraint=None):
    """A ZDT1-like problem: `a` (max) against `params` (min), the front at
    y = z = 0. With `constraint`, also the quantity x + y."""
    x, y, z = params["x"], params["y"], params["z"]
    g = 1 + 4.5 * (y + z)
    values = {"a": 1 - x, "params": g * (1 - math.sqrt(x / g))}
    extra = {"objectives": values}
    status = COMPLETED
    if constraint is not None:
        extra["constraints"] = {constraint.name: x + y}
        violation = constraint.violation(x + y)
        if violation is not None:
            status, extra["violations"] = INFEASIBLE, [violation]
    return Trial(trial_id, params, status, values["a"], extra=extra)


def search(algorithm, budget=BUDGET, constraint=None):
    searched = space()
    trials = [two_objective_trial(1, searched.complete({}), constraint)]
    while len(trials) < budget:
        (params,) = algorithm.propose(searched, trials)
        trials.append(
            two_objective_trial(len(trials) + 1, searched.complete(params), constraint)
        )
    return trials


def hypervolume(trials):
    losses = [
        [-t.extra["objectives"]["a"], t.extra["objectives"]["params"]]
        for t in trials
        if t.status == COMPLETED
    ]
    return pareto.hypervolume(losses, [0.0, 1.5])


@pytest.mark.slow
def test_pareto_search_covers_the_front_far_better_than_random():
    ours = [
        hypervolume(search(MultiObjectiveBayesian(seed, objectives=OBJECTIVES)))
        for seed in SEEDS
    ]
    random = [hypervolume(search(RandomSearch(seed))) for seed in SEEDS]
    assert np.median(ours) > GOOD_HYPERVOLUME, (ours, random)
    assert np.median(random) < GOOD_HYPERVOLUME / 2, (ours, random)


@pytest.mark.slow
def test_the_check_fails_when_the_surrogate_learns_nothing():
    blind = [
        hypervolume(
            search(
                MultiObjectiveBayesian(
                    bayesian=BlindBayesian(seed), objectives=OBJECTIVES
                )
            )
        )
        for seed in SEEDS[:3]
    ]
    assert np.median(blind) < GOOD_HYPERVOLUME, blind


@pytest.mark.slow
def test_the_surrogate_learns_to_avoid_infeasible_values():
    # Feasible where x + y <= 0.5: an eighth of the square.
    constraint = kh.Constraint("x_plus_y", at_most=0.5)
    objectives = Objectives.from_arguments([kh.Objective("a", "max"), "params"])
    objectives.constraints = [constraint]

    def infeasible_among_last_10(algorithm):
        trials = search(algorithm, budget=20, constraint=constraint)
        return sum(t.status == INFEASIBLE for t in trials[-10:])

    ours = [
        infeasible_among_last_10(MultiObjectiveBayesian(s, objectives=objectives))
        for s in SEEDS
    ]
    random = [infeasible_among_last_10(RandomSearch(s)) for s in SEEDS[:3]]
    # 5 seeds: 3 gave 2, 4, 7 (median 4) with the gp_hedge default of 2026-11, and
    # 5, 6, 3 (median 5) with EI and kernel priors; all 5: 2, 4, 7, 2, 2 and 5, 6,
    # 3, 1, 1. Random: 10, 10, 8.
    assert np.median(ours) <= 4 < np.median(random), (ours, random)


def test_scalarized_scores_rank_by_the_weighted_worst_objective():
    trials = [
        Trial(1, {}, COMPLETED, 0.9, extra={"objectives": {"a": 0.9, "params": 100}}),
        Trial(2, {}, COMPLETED, 0.5, extra={"objectives": {"a": 0.5, "params": 10}}),
        Trial(3, {}, COMPLETED, 0.4, extra={"objectives": {"a": 0.4, "params": 100}}),
        Trial(4, {}, FAILED),
        Trial(5, {"x": 1}, RUNNING),
        Trial(6, {}, INFEASIBLE, extra={"constraints": {"params": 1000}}),
    ]
    told = scalarized(OBJECTIVES, trials, np.array([1.0, 0.0]), rho=0.0)
    # All weight on `a`, scaled from the best (0.9: 0) to the front's worst (0.5:
    # 1); trial 3, behind the front, beyond 1.
    assert [t.score for t in told[:3]] == pytest.approx([0.0, 1.0, 1.25])
    assert told[3] is trials[3] and told[4] is trials[4]  # passed on as they are
    assert told[5].status == COMPLETED and told[5].score > 1.25
    # All weight on params (log scale): trial 2 is best.
    told = scalarized(OBJECTIVES, trials, np.array([0.0, 1.0]), rho=0.0)
    assert [t.score for t in told[:3]] == pytest.approx([1.0, 0.0, 1.0])
    assert all(t.status == COMPLETED for t in told if t.id in (1, 2, 3, 6))


def test_further_outside_the_limits_is_told_worse():
    objectives = Objectives.from_arguments(
        ["val_accuracy", "params"], [kh.Constraint("params", at_most=100)]
    )
    near = Trial(1, {}, INFEASIBLE, extra={"constraints": {"params": 110}})
    far = Trial(2, {}, INFEASIBLE, extra={"constraints": {"params": 1000}})
    told = scalarized(objectives, [near, far], np.array([0.5, 0.5]))
    assert told[0].score < told[1].score


def test_proposals_are_new_distinct_and_reproducible():
    trials = search(MultiObjectiveBayesian(0, objectives=OBJECTIVES), budget=7)
    trials.append(Trial(8, {"x": 0.1, "y": 0.2, "z": 0.3}, RUNNING))
    first = MultiObjectiveBayesian(1, objectives=OBJECTIVES).propose(space(), trials, 3)
    again = MultiObjectiveBayesian(1, objectives=OBJECTIVES).propose(space(), trials, 3)
    assert first == again and len(first) == 3
    keys = [tuple(p.values()) for p in first]
    tried = {tuple(space().complete(t.params).values()) for t in trials}
    assert len(set(keys)) == 3 and not set(keys) & tried


def test_without_objectives_it_searches_the_score():
    algorithm = MultiObjectiveBayesian(0)
    trials = [Trial(i, {"x": i / 10}, COMPLETED, i / 10) for i in range(1, 7)]
    searched = SearchSpace([kh.Float("x", 0.0, 1.0)])
    (proposal,) = algorithm.propose(searched, trials, direction="max")
    assert 0.0 <= proposal["x"] <= 1.0


def test_the_tuner_wraps_bayesian_search_only():
    several = Objectives.from_arguments(["val_accuracy", "params"])
    bayesian = BayesianOptimization(3, n_initial_points=7)
    wrapped = for_objectives(bayesian, several)
    assert isinstance(wrapped, MultiObjectiveBayesian)
    assert wrapped.bayesian is bayesian and wrapped.seed == 3
    assert wrapped.objectives is several
    for kept in (RandomSearch(0), GridSearch(0)):
        assert for_objectives(kept, several) is kept
    one = Objectives.from_arguments("val_accuracy")
    assert for_objectives(bayesian, one) is bayesian
    mine = MultiObjectiveBayesian(5, rho=0.1)
    rebound = for_objectives(mine, several)
    assert rebound.objectives is several and rebound.rho == 0.1 and rebound.seed == 5


def test_arguments_are_checked():
    with pytest.raises(
        TypeError,
        match=re.escape(
            "MultiObjectiveBayesian(bayesian=...) expects a "
            "kh.algorithms.BayesianOptimization or None. Received: 'GP'."
        ),
    ):
        MultiObjectiveBayesian(bayesian="GP")
    with pytest.raises(
        ValueError,
        match=re.escape(
            "MultiObjectiveBayesian(rho=...) expects a number >= 0. Received: -1."
        ),
    ):
        MultiObjectiveBayesian(rho=-1)
