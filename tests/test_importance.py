import numpy as np
import pytest

import keras_hparams as kh
from keras_hparams import importance
from keras_hparams.loaded import load
from keras_hparams.trial import COMPLETED, FAILED, Trial
from tests.test_results import write_search

SPACE = kh.SearchSpace(
    [
        kh.Float("lr", 1e-4, 1e-1, log=True),
        kh.Int("units", 8, 64, step=8),
        kh.Choice("act", ["relu", "tanh", "gelu"]),
        kh.Fixed("seed", 0),
    ]
)


def trials(count, score, seed=0):
    rng = np.random.default_rng(seed)
    found = []
    for i in range(1, count + 1):
        params = {d.name: d.sample(rng) for d in SPACE}
        found.append(Trial(i, params, COMPLETED, float(score(params)), 0))
    return found


def test_the_hyperparameter_that_sets_the_score_comes_first(tmp_path):
    def score(params):
        return -np.log10(params["lr"]) + 0.2 * (params["act"] == "tanh")

    stored = trials(24, score) + [Trial(25, {"lr": 0.01}, FAILED, error="boom")]
    with load(write_search(tmp_path / "p", stored, SPACE)) as search:
        found = search.importance()
    assert list(found.values)[0] == "lr" and found.values["lr"] > 0.6
    assert set(found.values) == {"lr", "units", "act"}  # not the Fixed one
    shares = list(found.values.values())
    assert shares == sorted(shares, reverse=True)
    assert sum(shares) == pytest.approx(1.0)
    assert set(found.spread) == set(found.values)
    assert found.trials == 24 and found.explained > 0.5
    assert found.method == (
        "Permutation importance of a random forest (scikit-learn) fitted on 24 "
        f"completed trials; out-of-bag R^2 {found.explained:.2f}."
    )
    text = str(found)
    assert text.splitlines()[0] == found.method
    assert text.splitlines()[1].split()[:2] == ["lr", f"{found.values['lr']:.1%}"]


def test_a_diverged_trial_alone_does_not_make_a_hyperparameter_important():
    def score(params):
        return -np.log10(params["lr"])

    found = trials(20, score)
    diverged = found[0]
    diverged.score = 1e4  # as one trial's loss blowing up
    shares = importance.importance(SPACE, found, kh.Objective("val_loss", "min"))
    assert list(shares.values)[0] == "lr"


def test_scores_that_no_hyperparameter_explains_are_called_rough():
    found = trials(12, lambda params: 0.0)
    noises = np.random.default_rng(1).normal(size=12)
    for trial, noise in zip(found, noises, strict=True):
        trial.score = float(noise)
    result = importance.importance(SPACE, found, kh.Objective("val_loss", "min"))
    assert result.explained < 0.3
    assert result.method.endswith(
        "The forest predicts the scores poorly: read the shares as rough."
    )


def test_importance_needs_enough_trials_and_a_varying_hyperparameter(tmp_path):
    objective = kh.Objective("val_loss", "min")
    with pytest.raises(
        ValueError,
        match=r"Importance needs at least 5 completed trials with a finite score\. "
        r"Received: 4 completed trials\.",
    ):
        importance.importance(SPACE, trials(4, lambda p: p["lr"]), objective)
    fixed = kh.SearchSpace([kh.Fixed("seed", 0), kh.Int("units", 8, 8)])
    same = [Trial(i, {"units": 8}, COMPLETED, 0.1 * i) for i in range(1, 7)]
    with pytest.raises(
        ValueError, match=r"Importance needs a hyperparameter with more than one value"
    ):
        importance.importance(fixed, same, objective)
