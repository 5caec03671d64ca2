"""Tests for keras_hparams/pareto.py: dominance, fronts and hypervolume."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from keras_hparams import pareto


def test_dominates_needs_no_worse_everywhere_and_better_somewhere():
    assert pareto.dominates([1, 2], [2, 2])
    assert pareto.dominates([1, 1], [2, 2])
    assert not pareto.dominates([1, 2], [1, 2])  # equal
    assert not pareto.dominates([1, 3], [2, 2])  # a trade-off
    assert not pareto.dominates([2, 2], [1, 2])


def test_front_keeps_the_points_nothing_dominates_in_order():
    points = [[3, 1], [1, 3], [2, 2], [2, 3], [3, 3], [1, 3]]
    assert pareto.front(points) == [0, 1, 2, 5]  # equal points are both kept
    assert pareto.front([[5.0]]) == [0]
    assert pareto.front([[2.0], [1.0], [1.0]]) == [1, 2]


def test_ranks_peel_the_fronts_one_after_the_other():
    points = [[1, 4], [2, 2], [4, 1], [2, 4], [3, 3], [4, 4]]
    assert pareto.ranks(points) == [0, 0, 0, 1, 1, 2]
    assert pareto.ranks([]) == []


def test_hypervolume_of_a_two_dimensional_staircase():
    # Boxes to (4, 4): (1,3) adds 3x1, (2,2) adds 2x1 more, (3,1) adds 1x1 more.
    points = [[1, 3], [2, 2], [3, 1]]
    assert pareto.hypervolume(points, [4, 4]) == pytest.approx(3 + 2 + 1 + 0)
    assert pareto.hypervolume(points, [4, 4]) == pytest.approx(6.0)
    # A dominated point and a point outside the reference change nothing.
    more = points + [[3, 3], [5, 0]]
    assert pareto.hypervolume(more, [4, 4]) == pytest.approx(6.0)
    assert pareto.hypervolume([[5, 5]], [4, 4]) == 0.0
    assert pareto.hypervolume([], [4, 4]) == 0.0
    assert pareto.hypervolume([[1.0]], [3.0]) == pytest.approx(2.0)


def test_hypervolume_in_three_dimensions_counts_overlaps_once():
    # Two unit-offset boxes to (2, 2, 2): 1*2*2 + 2*1*2 - 1*1*2 (the overlap) = 6.
    assert pareto.hypervolume([[1, 0, 0], [0, 1, 0]], [2, 2, 2]) == pytest.approx(6.0)
    assert pareto.hypervolume([[0, 0, 0]], [1, 2, 3]) == pytest.approx(6.0)


def test_hypervolume_matches_a_grid_count_on_random_points():
    rng = np.random.default_rng(0)
    points = rng.random((12, 3))
    reference = np.ones(3)
    # The fraction of a fine grid of cell centres that some point dominates.
    ticks = (np.arange(40) + 0.5) / 40
    cells = np.array(list(itertools.product(ticks, ticks, ticks)))
    dominated = np.zeros(len(cells), dtype=bool)
    for point in points:
        dominated |= np.all(cells >= point, axis=1)
    assert pareto.hypervolume(points, reference) == pytest.approx(
        dominated.mean(), abs=0.02
    )


def test_hypervolume_agrees_with_optuna():
    hypervolume = pytest.importorskip("optuna._hypervolume").compute_hypervolume
    rng = np.random.default_rng(1)
    for dimensions in (2, 3, 4):
        points = rng.random((15, dimensions))
        reference = np.full(dimensions, 1.1)
        assert pareto.hypervolume(points, reference) == pytest.approx(
            hypervolume(points, reference)
        )
