"""Spaces the Bayesian engine cannot hold in memory are refused before training.

scikit-optimize makes each value of a `kh.Choice` an input of its own, and scores
10,000 candidates over every input: a Choice of 100,000 values would need about
15 GB at the first proposal. `BayesianOptimization` refuses more than
`bayesian.MAX_CHOICE_VALUES` Choice values in all, naming the limit, before any trial is
trained; random search and grid search, which hold no such matrix, take them.
"""

from __future__ import annotations

import re

import keras
import pytest

import keras_hparams as kh
from keras_hparams.algorithms import BayesianOptimization, RandomSearch, bayesian
from keras_hparams.trial import Trial
from tests.faults import FULL

pytestmark = pytest.mark.faults

HUGE = list(range(100_000))


@kh.tunable
def build_with_a_huge_choice():
    keras.utils.set_random_seed(kh.Choice("data_seed", HUGE))
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(10, activation="softmax")]
    )
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def make_tuner(tmp_path, algorithm="bayesian", builder=build_with_a_huge_choice):
    return kh.Tuner(
        builder,
        "val_accuracy",
        max_trials=3,
        algorithm=algorithm,
        directory=tmp_path,
        seed=0,
        verbose=0,
    )


LIMIT = re.escape(
    "the space's Choice dimensions have 100,000 values in all ({'data_seed': "
    "100000}): over the limit of 1,000"
)


def test_a_huge_choice_in_the_builder_is_refused_before_training(tmp_path, digits):
    tuner = make_tuner(tmp_path)
    with pytest.raises(kh.UnsupportedSpaceError, match=LIMIT + ".*algorithm='random'"):
        tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    assert tuner.trials == []  # the defaults were built, never trained


def test_a_huge_choice_of_a_fit_argument_is_refused_before_training(
    builder, tmp_path, digits
):
    tuner = make_tuner(tmp_path, builder=builder)
    huge = kh.Choice([16, *range(17, 100_016)])
    with pytest.raises(kh.UnsupportedSpaceError, match="over the limit of 1,000"):
        tuner.search(*digits, epochs=1, validation_split=0.25, batch_size=huge)
    assert tuner.trials == []


def test_the_limit_counts_every_choice_and_binary_ones_as_one():
    algorithm = BayesianOptimization(seed=0)
    limit = bayesian.MAX_CHOICE_VALUES
    half = limit // 2
    algorithm.check_space(
        kh.SearchSpace(
            [
                kh.Choice("a", list(range(half))),
                kh.Choice("b", list(range(limit - half))),
                kh.Boolean("c"),
                kh.Choice("d", ["x", "y"]),
            ]
        )
    )
    with pytest.raises(ValueError, match="1,001 values in all"):
        algorithm.check_space(
            kh.SearchSpace(
                [
                    kh.Choice("a", list(range(half))),
                    kh.Choice("b", list(range(limit - half + 1))),
                ]
            )
        )


@pytest.mark.skipif(not FULL, reason="KH_FAULTS=full only")
def test_random_search_searches_a_huge_choice(tmp_path, digits):
    tuner = make_tuner(tmp_path, algorithm="random")
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    assert [t.status for t in tuner.trials] == ["completed"] * 3


def test_random_search_proposes_from_a_huge_choice():
    space = kh.SearchSpace([kh.Choice("c", HUGE)])
    trials = [Trial(1, {"c": 0}, "completed", 0.5)]
    (proposal,) = RandomSearch(seed=0).propose(space, trials, 1)
    assert proposal["c"] in range(1, 100_000)
