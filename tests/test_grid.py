"""Tests for keras_hparams/algorithms/grid.py: grid search."""

from __future__ import annotations

import itertools
import re

import pytest

import keras_hparams as kh
from keras_hparams import algorithms
from keras_hparams.algorithms import GridSearch, grid
from keras_hparams.algorithms.grid import combinations
from keras_hparams.space import SearchSpace
from keras_hparams.trial import Trial


def _space() -> SearchSpace:
    return SearchSpace(
        [
            kh.Int("layers", 1, 3),
            kh.Float("dropout", 0.0, 0.2, step=0.1),
            kh.Choice("act", ["relu", "tanh"]),
            kh.Boolean("bn"),
            kh.Int("units", 32, 64, step=32),
            kh.Fixed("seed", 0),
            kh.Float("scale", 1.0, 1.0),
        ]
    )


def _expected(space: SearchSpace) -> list[dict]:
    dimensions = space.searchable()
    names = [d.name for d in dimensions]
    return [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(d.values() for d in dimensions))
    ]


def _run(algorithm, space, trials=None, budget=1000, n=1):
    """Proposes `n` at a time, recording each proposal as a completed trial."""
    trials = list(trials or [])
    for _ in range(budget):
        proposals = algorithm.propose(space, trials, n)
        if not proposals:
            break
        assert 1 <= len(proposals) <= n
        for params in proposals:
            trials.append(Trial(len(trials) + 1, params, "completed", score=0.0))
    return trials


def _key(params: dict) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


def test_grid_walks_every_combination_in_product_order():
    space = _space()
    trials = _run(GridSearch(), space)
    expected = _expected(space)
    assert len(expected) == 3 * 3 * 2 * 2 * 2
    assert [t.params for t in trials] == expected
    assert GridSearch().propose(space, trials) == []
    assert GridSearch().propose(space, trials, 5) == []


def test_grid_values_are_values_of_the_space():
    space = _space()
    for params in GridSearch().propose(space, [], 20):
        for name, value in params.items():
            assert space[name].contains(value), (name, value)
        assert type(params["layers"]) is int and type(params["dropout"]) is float
        assert params["dropout"] in (0.0, 0.1, 0.2)  # no 0.30000000000000004


def test_grid_in_batches_is_the_same_walk():
    space = _space()
    one_by_one = [t.params for t in _run(GridSearch(), space)]
    batched = [t.params for t in _run(GridSearch(), space, n=7)]
    assert batched == one_by_one


def test_grid_skips_tried_running_failed_and_default_values():
    space = SearchSpace([kh.Int("a", 0, 2), kh.Choice("b", ["x", "y"])])
    trials = [
        Trial(1, {"a": 0, "b": "x"}, "completed", score=1.0),  # the defaults
        Trial(2, {"a": 0, "b": "y"}, "running"),
        Trial(3, {"a": 1, "b": "x"}, "failed", error="boom"),
        Trial(4, {"a": 2, "b": "y"}, "pruned", score=2.0),
    ]
    assert GridSearch().propose(space, trials, 5) == [
        {"a": 1, "b": "y"},
        {"a": 2, "b": "x"},
    ]


def test_grid_order_ignores_the_seed_and_is_deterministic():
    space = _space()
    trials = _run(GridSearch(seed=0), space, budget=5)
    assert GridSearch(seed=1).propose(space, trials, 3) == GridSearch(
        seed=None
    ).propose(space, trials, 3)
    assert algorithms.get("grid", seed=3).propose(space, []) == [_expected(space)[0]]


def _build(space: SearchSpace, proposed: dict) -> dict:
    """What the tuner records for a proposal: the values the model used.

    The model uses `units_1` only with two layers; the tuner finds the dimension the
    first time a build uses it (with its default unless proposed).
    """
    used = {"layers": proposed["layers"], "act": proposed["act"]}
    if proposed["layers"] == 2:
        space.add(kh.Int("units_1", 8, 24, step=8, default=16))
        used["units_1"] = proposed.get("units_1", 16)
    return used


def test_grid_with_a_conditional_dimension_trains_each_model_once():
    space = SearchSpace([kh.Int("layers", 1, 2), kh.Choice("act", ["relu", "tanh"])])
    trials = []
    while proposals := GridSearch().propose(space, trials):
        params = _build(space, proposals[0])
        trials.append(Trial(len(trials) + 1, params, "completed", score=0.0))
    assert "units_1" in space
    # Two one-layer models, and 2 x 3 two-layer models: no model twice.
    assert len(trials) == 2 + 6
    assert len({_key(t.params) for t in trials}) == 8
    assert {_key(t.params) for t in trials if t.params["layers"] == 1} == {
        _key({"layers": 1, "act": "relu"}),
        _key({"layers": 1, "act": "tanh"}),
    }


def test_grid_with_a_space_that_grows():
    space = SearchSpace([kh.Int("layers", 1, 2), kh.Choice("act", ["relu", "tanh"])])
    trials = _run(GridSearch(), space, budget=3)
    # A dimension appears; trials so far did not use it, so each covers all its
    # values; a running trial covers only the default it will use.
    space.add(kh.Int("units", 8, 24, step=8, default=16))
    trials.append(Trial(4, {"layers": 2, "act": "tanh"}, "running"))
    assert GridSearch().propose(space, trials, 5) == [
        {"layers": 2, "act": "tanh", "units": 8},
        {"layers": 2, "act": "tanh", "units": 24},
    ]


def test_a_completed_trial_covers_the_dimensions_it_did_not_use():
    space = SearchSpace(
        [kh.Int("layers", 1, 2), kh.Int("units", 1, 3), kh.Boolean("bn")]
    )
    trials = [Trial(1, {"layers": 1}, "completed", score=0.0)]
    assert GridSearch().propose(space, trials, 3) == [
        {"layers": 2, "units": 1, "bn": False},
        {"layers": 2, "units": 1, "bn": True},
        {"layers": 2, "units": 2, "bn": False},
    ]
    # Pruned trials too; failed ones only cover their own values.
    pruned = [Trial(1, {"layers": 2, "bn": True}, "pruned", score=0.0)]
    assert len(_run(GridSearch(), space, trials=trials + pruned)) == 2 + 3
    failed = [Trial(1, {"layers": 1}, "failed")]
    assert GridSearch().propose(space, failed)[0] == {
        "layers": 1,
        "units": 1,
        "bn": True,
    }


def _count_visits(monkeypatch) -> list[int]:
    """Counts the grid nodes the walk visits (each asks whether it is covered)."""
    visits = [0]
    covers = grid._Covered.covers

    def counted(self, depth, values):
        visits[0] += 1
        return covers(self, depth, values)

    monkeypatch.setattr(grid._Covered, "covers", counted)
    return visits


def test_grid_of_a_huge_space_is_lazy(monkeypatch):
    visits = _count_visits(monkeypatch)
    space = SearchSpace([kh.Int("a", 0, 10**12), kh.Int("b", 0, 10**12)])
    defaults = Trial(1, {"a": 0, "b": 0}, "completed", score=0.0)
    proposals = GridSearch().propose(space, [defaults], 3)
    assert proposals == [{"a": 0, "b": 1}, {"a": 0, "b": 2}, {"a": 0, "b": 3}]
    assert visits[0] <= 10  # the root, a=0, then b=0..3: never the whole grid


def test_combinations_matches_itertools_product():
    dimensions = _space().searchable()
    assert list(combinations(dimensions)) == _expected(_space())
    assert list(combinations([])) == [{}]


def test_a_large_grid_covered_by_a_few_trials_is_skipped_whole(monkeypatch):
    space = SearchSpace(
        [kh.Int("layers", 1, 3)] + [kh.Int(f"units_{i}", 0, 99) for i in range(3)]
    )
    # Three trials that used only `layers` cover all 3 x 100**3 combinations.
    trials = [Trial(i, {"layers": i}, "completed", score=0.0) for i in (1, 2, 3)]
    visits = _count_visits(monkeypatch)
    assert GridSearch().propose(space, trials) == []
    assert visits[0] == 4  # the root and each layers value, whose blocks are covered


def test_grid_of_fixed_values_only():
    space = SearchSpace([kh.Fixed("seed", 0), kh.Choice("c", ["only"])])
    assert GridSearch().propose(space, []) == [{"c": "only"}]
    assert GridSearch().propose(space, [Trial(1, {"c": "only"}, "failed")]) == []
    # A completed model that used no hyperparameter: every value builds it.
    assert GridSearch().propose(space, [Trial(1, {}, "completed", score=0.0)]) == []


def test_grid_rejects_a_float_without_step():
    space = SearchSpace([kh.Int("layers", 1, 3), kh.Float("dropout", 0.0, 0.5)])
    message = (
        "Grid search needs a finite set of values for every dimension, but "
        "Float('dropout', low=0.0, high=0.5, step=None, log=False, default=0.0) is a "
        "continuous range. Give it a step (for example step=0.05), or use "
        'algorithm="random" or "bayesian".'
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        GridSearch().check_space(space)
    with pytest.raises(ValueError, match=re.escape(message)):
        GridSearch().propose(space, [])


def test_grid_rejects_a_log_float_with_a_choice_hint():
    space = SearchSpace([kh.Float("lr", 1e-4, 1e-1, log=True)])
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Replace it with a kh.Choice('lr', [...]) of the values to try (a step "
            "cannot be combined with log=True), or use"
        ),
    ):
        GridSearch().propose(space, [])


def test_grid_checks_the_request():
    with pytest.raises(ValueError, match=re.escape("Received: n=0.")):
        GridSearch().propose(_space(), [], 0)
    with pytest.raises(ValueError, match=re.escape("Received: direction='up'.")):
        GridSearch().propose(_space(), [], direction="up")
