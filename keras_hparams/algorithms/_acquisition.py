"""The acquisition function's minimum over the points a mixed space can take.

scikit-optimize minimizes the acquisition function (expected improvement, ...) with
L-BFGS over its transformed inputs, where a Choice is one input per value (one-hot)
and an Int or a grid one number in [0, 1], and rounds the result to a valid point
afterwards. The minimum of that relaxed problem can be a blend of Choice values
(0.4 of "adam", 0.5 of "sgd"); rounded, it is a point whose acquisition the search
never compared with the others' (on 6 fitted histories of a mixed function in
tests/test_acquisition.py, a valid point with a lower acquisition existed each time).
`minimize` searches the valid points themselves: from scikit-optimize's proposal
and the best of a random sample, it alternates L-BFGS over the continuous inputs
(the discrete ones held) with trying every value of each Choice, Int and grid
dimension in turn (the others held), until neither improves the acquisition.
Optuna's GP sampler searches its mixed spaces in the same way (`optim_mixed`:
every value of a categorical and of an int of up to 16 values, a line search over
larger ints); here an Int of up to `MOST_VALUES_TRIED` values is tried value by value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Random valid points scored to find starts, the best of them started from (besides
# scikit-optimize's proposal), and the rounds of continuous and discrete moves.
SAMPLES = 2000
STARTS = 5
ROUNDS = 4
# An Int with more values than this is searched as a continuous input and rounded
# (trying each of its values would cost more than it could find).
MOST_VALUES_TRIED = 256


def minimize(optimizer: Any, point: list[Any]) -> list[Any]:
    """The valid point with the lowest acquisition that the search reaches from
    `point` (scikit-optimize's proposal) and from the best of `SAMPLES` random
    points, for a fitted scikit-optimize `optimizer` whose surrogate has gradients
    (a Gaussian process). Random draws come from the optimizer's generator, so the
    result depends only on its history."""
    from scipy.optimize import fmin_l_bfgs_b
    from skopt.acquisition import _gaussian_acquisition, gaussian_acquisition_1D

    space = optimizer.space
    model = optimizer.models[-1]
    best = float(np.min(optimizer.yi))
    name, options = optimizer.acq_func, optimizer.acq_func_kwargs

    def acquisition(x: np.ndarray) -> np.ndarray:
        return _gaussian_acquisition(
            np.atleast_2d(x), model, best, acq_func=name, acq_func_kwargs=options
        )

    continuous, discrete = _inputs(space)

    def with_gradient(z: np.ndarray, x: np.ndarray) -> tuple[float, np.ndarray]:
        full = x.copy()
        full[continuous] = z
        value, gradient = gaussian_acquisition_1D(full, model, best, name, options)
        value = float(np.asarray(value).ravel()[0])
        return value, np.asarray(gradient, dtype=float).ravel()[continuous]

    sample = np.asarray(
        space.transform(space.rvs(SAMPLES, random_state=optimizer.rng)), dtype=float
    )
    starts = np.vstack(
        [
            np.asarray(space.transform([point]), dtype=float),
            sample[np.argsort(acquisition(sample))[:STARTS]],
        ]
    )
    found, lowest = starts[0], np.inf
    for x in starts:
        value = float(acquisition(x)[0])
        for _ in range(ROUNDS):
            moved = False
            if continuous:
                z, _, _ = fmin_l_bfgs_b(
                    with_gradient,
                    x[continuous],
                    args=(x,),
                    bounds=[(0.0, 1.0)] * len(continuous),
                    maxiter=20,
                )
                candidate = x.copy()
                candidate[continuous] = np.clip(z, 0.0, 1.0)
                score = float(acquisition(candidate)[0])
                if score < value:
                    x, value, moved = candidate, score, True
            for columns, values in discrete:
                candidates = np.repeat(x[None, :], len(values), axis=0)
                candidates[:, columns] = values
                scores = acquisition(candidates)
                index = int(np.argmin(scores))
                if scores[index] < value:
                    x, value, moved = candidates[index], float(scores[index]), True
            if not moved:
                break
        if value < lowest:
            found, lowest = x, value
    return space.inverse_transform(found.reshape(1, -1))[0]


def _inputs(space: Any) -> tuple[list[int], list[tuple[list[int], np.ndarray]]]:
    """The transformed inputs of the continuous dimensions (and of Integers with
    over `MOST_VALUES_TRIED` values), and for each discrete one (Categorical,
    Integer) its inputs and the transformed rows of its values."""
    from skopt.space import Categorical, Integer

    continuous, discrete, start = [], [], 0
    for dimension in space.dimensions:
        columns = list(range(start, start + dimension.transformed_size))
        start += dimension.transformed_size
        if isinstance(dimension, Categorical):
            values = list(dimension.categories)
        elif (
            isinstance(dimension, Integer)
            and dimension.high - dimension.low < MOST_VALUES_TRIED
        ):
            values = list(range(dimension.low, dimension.high + 1))
        else:
            continuous += columns
            continue
        rows = np.asarray(dimension.transform(values), dtype=float)
        discrete.append((columns, rows.reshape(len(values), len(columns))))
    return continuous, discrete


def applies(optimizer: Any) -> bool:
    """Whether `minimize` can improve on scikit-optimize's own search: a surrogate
    with gradients (L-BFGS is used) over a space with a discrete dimension."""
    from skopt.space import Real

    return optimizer.acq_optimizer == "lbfgs" and not all(
        isinstance(d, Real) for d in optimizer.space.dimensions
    )
