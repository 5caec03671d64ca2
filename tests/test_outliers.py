import numpy as np
import pytest

from keras_hparams import outliers


def test_a_diverged_score_is_out_of_the_inlier_range():
    scores = [0.11, 0.1, 0.12, 0.13, 0.105, 16.1, float("nan")]
    assert outliers.inlier_range(scores) == (0.1, 0.13)
    assert list(outliers.clip(scores)[:6]) == [0.11, 0.1, 0.12, 0.13, 0.105, 0.13]


def test_spread_scores_and_ties_keep_every_score():
    assert outliers.inlier_range([0.1, 0.5, 0.9, 1.3]) == (0.1, 1.3)
    assert outliers.inlier_range([0.9, 0.9, 0.9, 0.9, 0.1]) == (0.1, 0.9)
    assert outliers.inlier_range([2.0, 2.0]) == (2.0, 2.0)
    # Most equal, a few near, one far: the far one is out.
    assert outliers.inlier_range([0.5] * 6 + [0.52, 0.55, 40.0]) == (0.5, 0.55)


def test_on_a_log_scale_decades_apart_are_not_outliers():
    scores = [0.01, 0.1, 1.0, 10.0]
    assert outliers.inlier_range(scores, log=True) == (0.01, 10.0)
    assert outliers.spans_decades(scores)
    assert not outliers.spans_decades([0.1, 0.2, 0.3])
    assert not outliers.spans_decades([-1.0, 10.0])


def test_no_usable_score_is_an_error():
    with pytest.raises(ValueError, match=r"Expected at least one finite score\."):
        outliers.inlier_range([np.nan, np.inf])
    with pytest.raises(ValueError, match=r"at least one positive finite score"):
        outliers.inlier_range([-1.0, 0.0], log=True)
