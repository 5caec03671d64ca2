"""Settings given when a search resumes: honoured, or refused with a clear message.

What defines a trial's score (the dimensions, the tuned fit arguments, the objective,
fixed fit arguments such as epochs and batch_size, cv and executions_per_trial) is
stored in the project, and a resume that changes it is refused
(`SearchSpaceMismatchError`, which says to pass `overwrite=True` or use another
`project_name`); tests/test_tuner.py covers a changed range, fit marker and
objective name. How the search goes on (`max_trials`, `seed`, `algorithm`,
`keep_checkpoints`) is not stored: the values given to the new `Tuner` apply,
never earlier ones.
"""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

import keras_hparams as kh
from keras_hparams.algorithms import RandomSearch
from tests.faults import FULL, invariants

pytestmark = pytest.mark.faults
FULL_ONLY = pytest.mark.skipif(not FULL, reason="KH_FAULTS=full only")


def make_tuner(builder, tmp_path, **kwargs):
    kwargs.setdefault("objective", "val_accuracy")
    kwargs.setdefault("max_trials", 2)
    kwargs.setdefault("seed", 0)
    kwargs.setdefault("algorithm", "random")
    return kh.Tuner(builder, directory=tmp_path, project_name="p", verbose=0, **kwargs)


def search(tuner, digits, **kwargs):
    kwargs.setdefault("epochs", 1)
    tuner.search(*digits, validation_split=0.25, verbose=0, **kwargs)


def builder_with(**marker):
    """A one-layer model whose units marker takes `marker` (a fixed seed marker)."""

    @kh.tunable
    def build_model():
        kh.Fixed("data_seed", marker.get("data_seed", 0))
        units = kh.Int("units", 4, 16, step=4, default=marker.get("default", 4))
        model = keras.Sequential(
            [
                keras.Input((64,)),
                keras.layers.Dense(units),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    return build_model


# -- refused --------------------------------------------------------------------
def test_another_objective_direction_is_refused(builder, digits, tmp_path):
    search(make_tuner(builder, tmp_path), digits)
    with pytest.raises(
        kh.SearchSpaceMismatchError,
        match=r"searched with objective Objective\('val_accuracy', 'max'\), not "
        r"Objective\('val_accuracy', 'min'\).*overwrite=True",
    ):
        make_tuner(builder, tmp_path, objective=kh.Objective("val_accuracy", "min"))


@pytest.mark.parametrize(
    ("changed", "match"),
    [
        ({"data_seed": 1}, r"searched with Fixed\('data_seed', value=0\).*value=1"),
        ({"default": 8}, r"searched with Int\('units'.*default=4\).*default=8"),
    ],
)
def test_a_changed_fixed_value_or_default_is_refused(digits, tmp_path, changed, match):
    search(make_tuner(builder_with(), tmp_path, max_trials=1), digits)
    tuner = make_tuner(builder_with(**changed), tmp_path)
    with pytest.raises(kh.SearchSpaceMismatchError, match=match):
        search(tuner, digits)
    assert len(tuner.trials) == 1  # nothing ran, nothing was written


def test_a_changed_fit_marker_type_is_refused(builder, digits, tmp_path):
    search(make_tuner(builder, tmp_path), digits, batch_size=kh.Choice([16, 32]))
    with pytest.raises(kh.SearchSpaceMismatchError, match=r"batch_size.*Int"):
        search(make_tuner(builder, tmp_path), digits, batch_size=kh.Int(16, 32))


# -- honoured -------------------------------------------------------------------
def test_a_larger_max_trials_runs_more_and_a_smaller_one_runs_none(
    builder, digits, tmp_path
):
    search(make_tuner(builder, tmp_path, max_trials=2), digits)
    first = make_tuner(builder, tmp_path).trials
    search(make_tuner(builder, tmp_path, max_trials=3), digits)
    assert len(make_tuner(builder, tmp_path).trials) == 3
    search(make_tuner(builder, tmp_path, max_trials=1), digits)
    trials = make_tuner(builder, tmp_path).trials
    assert len(trials) == 3 and trials[:2] == first  # nothing run, nothing deleted


def test_a_new_seed_is_used_for_the_new_trials(builder, digits, tmp_path):
    proposals = {}
    for seed in (0, 1):
        folder = tmp_path / f"seed{seed}"
        search(make_tuner(builder, folder, max_trials=2, seed=0), digits)
        search(make_tuner(builder, folder, max_trials=3, seed=seed), digits)
        proposals[seed] = [t.params for t in make_tuner(builder, folder).trials]
    assert proposals[0][:2] == proposals[1][:2]  # the same first two trials
    assert proposals[0][2] != proposals[1][2]  # then each seed's own proposal


class CountingRandomSearch(RandomSearch):
    calls = 0

    def propose(self, *args, **kwargs):
        type(self).calls += 1
        return super().propose(*args, **kwargs)


def test_a_new_algorithm_is_used_for_the_new_trials(builder, digits, tmp_path):
    search(make_tuner(builder, tmp_path, algorithm="bayesian"), digits)
    CountingRandomSearch.calls = 0
    tuner = make_tuner(
        builder, tmp_path, max_trials=4, algorithm=CountingRandomSearch()
    )
    search(tuner, digits)
    assert len(tuner.trials) == 4
    assert CountingRandomSearch.calls == 2


def test_a_lower_keep_checkpoints_applies_from_the_next_trial(
    builder, digits, tmp_path
):
    search(make_tuner(builder, tmp_path, max_trials=3, keep_checkpoints=3), digits)
    assert len(invariants.trial_folders(tmp_path / "p")) == 3
    tuner = make_tuner(builder, tmp_path, max_trials=4, keep_checkpoints=1)
    search(tuner, digits)
    assert list(invariants.trial_folders(tmp_path / "p")) == [tuner.best_trial.id]


def test_a_lower_keep_checkpoints_applies_to_a_finished_search(
    builder, digits, tmp_path
):
    search(make_tuner(builder, tmp_path, max_trials=3, keep_checkpoints=3), digits)
    tuner = make_tuner(builder, tmp_path, max_trials=3, keep_checkpoints=1)
    search(tuner, digits)
    assert list(invariants.trial_folders(tmp_path / "p")) == [tuner.best_trial.id]


@pytest.mark.parametrize(
    ("first", "then", "match"),
    [
        ({}, {"epochs": 2}, r"epochs=1; this search has epochs=2"),
        ({"batch_size": 16}, {}, r"batch_size=16; this search has batch_size=None"),
        ({"tuner": {"executions_per_trial": 2}}, {}, r"executions_per_trial=2"),
    ],
)
def test_settings_that_change_what_a_score_means_are_refused(
    builder, digits, tmp_path, first, then, match
):
    search(
        make_tuner(builder, tmp_path, max_trials=1, **first.pop("tuner", {})),
        digits,
        **first,
    )
    tuner = make_tuner(builder, tmp_path, max_trials=2, **then.pop("tuner", {}))
    with pytest.raises(kh.SearchSpaceMismatchError, match=match + ".*overwrite=True"):
        search(tuner, digits, **then)
    assert len(tuner.trials) == 1  # nothing ran


def test_the_same_scoring_settings_resume(builder, digits, tmp_path):
    search(make_tuner(builder, tmp_path, max_trials=1), digits, batch_size=16)
    search(make_tuner(builder, tmp_path, max_trials=2), digits, batch_size=16)
    assert [t.status for t in make_tuner(builder, tmp_path).trials] == ["completed"] * 2


def test_numpy_scoring_settings_compare_as_numbers(builder, digits, tmp_path):
    search(make_tuner(builder, tmp_path, max_trials=1), digits, epochs=np.int64(1))
    tuner = make_tuner(builder, tmp_path)
    with pytest.raises(kh.SearchSpaceMismatchError, match=r"epochs=1; this search has"):
        search(tuner, digits, epochs=np.int64(2))
    assert len(tuner.trials) == 1  # nothing ran
    search(make_tuner(builder, tmp_path), digits, epochs=np.int32(1))  # equal: runs
    assert len(make_tuner(builder, tmp_path).trials) == 2


def builder_with_markers(*names: str):
    """A model whose hidden layer's units are the product of `names`' markers."""

    @kh.tunable
    def build_model():
        units = 4
        for name in names:
            units *= kh.Int(name, 1, 2)
        model = keras.Sequential(
            [
                keras.Input((64,)),
                keras.layers.Dense(units),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    return build_model


@pytest.mark.parametrize(
    ("then", "new", "gone"),
    [
        pytest.param(("a", "b", "c"), ["c"], [], id="added", marks=FULL_ONLY),
        pytest.param(("a",), [], ["b"], id="removed", marks=FULL_ONLY),
        pytest.param(("a", "wide"), ["wide"], ["b"], id="renamed"),
    ],
)
def test_markers_added_removed_or_renamed_are_refused(
    digits, tmp_path, then, new, gone
):
    search(make_tuner(builder_with_markers("a", "b"), tmp_path), digits)
    tuner = make_tuner(builder_with_markers(*then), tmp_path, max_trials=3)
    with pytest.raises(
        kh.SearchSpaceMismatchError,
        match=re.escape(f"(new: {new}, gone: {gone}). The finished trials never used"),
    ):
        search(tuner, digits)
    assert len(tuner.trials) == 2  # nothing ran
    search(make_tuner(builder_with_markers("a", "b"), tmp_path, max_trials=3), digits)
    assert len(make_tuner(builder_with_markers("a", "b"), tmp_path).trials) == 3
