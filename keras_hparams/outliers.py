"""Far outliers among scores (a diverged trial), so that they rule no plot or model.

A score is a far outlier when it lies more than `THRESHOLD` robust standard
deviations from the median (the median absolute deviation, scaled to match a
standard deviation for normal data; when more than half the scores are equal, the
median of the other scores' deviations). Plots set their range by the other scores and
mark the outliers at the edge; the surrogate models clip them to the nearest inlier,
so that a diverged trial still counts as the worst, but no worse.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

THRESHOLD = 10.0
# Scales the median absolute deviation to a standard deviation for normally
# distributed values.
_MAD_SCALE = 1.4826


def inlier_range(values: Sequence[float], *, log: bool = False) -> tuple[float, float]:
    """The lowest and highest finite values that are not far outliers.

    Args:
        values: the scores. Non-finite ones are ignored.
        log: bool, judge the distances between logarithms (for positive values that
            span decades). Defaults to `False`.

    Raises:
        ValueError: no finite value (or, with `log`, no positive one).
    """
    array = np.asarray(values, dtype=float)
    array = array[np.isfinite(array) & ((array > 0) if log else True)]
    if array.size == 0:
        kind = "positive finite" if log else "finite"
        raise ValueError(f"Expected at least one {kind} score. Received: {values!r}.")
    scaled = np.log10(array) if log else array
    median = np.median(scaled)
    deviations = np.abs(scaled - median)
    spread = _MAD_SCALE * np.median(deviations)
    if spread == 0:  # more than half the scores are equal: the others' deviations
        nonzero = deviations[deviations > 0]
        if nonzero.size == 0:
            return float(array.min()), float(array.max())
        spread = _MAD_SCALE * np.median(nonzero)
    inliers = array[deviations <= THRESHOLD * spread]
    return float(inliers.min()), float(inliers.max())


def clip(values: Sequence[float], *, log: bool = False) -> np.ndarray:
    """`values` with far outliers moved to the nearest inlier value."""
    low, high = inlier_range(values, log=log)
    return np.clip(np.asarray(values, dtype=float), low, high)


def spans_decades(values: Sequence[float], decades: float = 1.0) -> bool:
    """Whether positive `values` span more than `decades` between their 10th and
    90th percentiles (a log scale then reads better)."""
    array = np.asarray(values, dtype=float)
    array = array[np.isfinite(array)]
    if array.size < 2 or np.any(array <= 0):
        return False
    low, high = np.percentile(array, [10, 90])
    return bool(np.log10(high / low) > decades)
