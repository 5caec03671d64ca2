"""The Pareto front of points to minimize, and the hypervolume it dominates.

Pure numpy, no Keras: the search's ranking (`objectives.py`), the multi-objective
algorithm and the benchmark share these. Every point is a vector of losses, each
coordinate to be minimized (multiply a maximized objective by -1 first).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether `a` is no worse than `b` everywhere and better somewhere."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return bool(np.all(a <= b) and np.any(a < b))


def front(points: Sequence[Sequence[float]]) -> list[int]:
    """The indices of the points no other point dominates, in their order.

    Equal points are all on the front (none dominates the other).
    """
    losses = np.asarray(points, dtype=float).reshape(len(points), -1)
    return [
        i
        for i, point in enumerate(losses)
        if not np.any(np.all(losses <= point, axis=1) & np.any(losses < point, axis=1))
    ]


def ranks(points: Sequence[Sequence[float]]) -> list[int]:
    """Each point's front number by non-dominated sorting: 0 for the Pareto front,
    1 for the front of what is left without it, and so on."""
    left = list(range(len(points)))
    rank = [0] * len(points)
    level = 0
    while left:
        on_front = [left[i] for i in front([points[j] for j in left])]
        for index in on_front:
            rank[index] = level
        left = [i for i in left if i not in set(on_front)]
        level += 1
    return rank


def hypervolume(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """The volume dominated by `points` and bounded by `reference` (exact).

    Points not better than `reference` in every coordinate add nothing. Exact for
    any number of objectives by slicing along the last coordinate (fine for the
    tens of points of a search; Optuna's WFG is the tool for thousands).

    Args:
        points: losses, one row per point.
        reference: the worst corner, one value per objective.

    Returns:
        float, 0.0 when no point is better than `reference`.
    """
    reference = np.asarray(reference, dtype=float)
    losses = np.asarray(points, dtype=float).reshape(-1, len(reference))
    losses = losses[np.all(losses < reference, axis=1)]
    if len(losses) == 0:
        return 0.0
    losses = losses[front(losses)]
    if len(reference) == 1:
        return float(reference[0] - losses[:, 0].min())
    if len(reference) == 2:
        return _hypervolume_2d(losses, reference)
    # Slabs between consecutive values of the last coordinate: in each, the points
    # at or below it dominate a box whose base is their hypervolume one dimension down.
    order = np.argsort(losses[:, -1])
    losses = losses[order]
    levels = np.append(losses[:, -1], reference[-1])
    volume = 0.0
    for i in range(len(losses)):
        height = levels[i + 1] - levels[i]
        if height > 0:
            volume += height * hypervolume(losses[: i + 1, :-1], reference[:-1])
    return float(volume)


def _hypervolume_2d(losses: np.ndarray, reference: np.ndarray) -> float:
    order = np.lexsort((losses[:, 1], losses[:, 0]))
    volume, ceiling = 0.0, reference[1]
    for x, y in losses[order]:
        if y < ceiling:
            volume += (reference[0] - x) * (ceiling - y)
            ceiling = y
    return float(volume)
