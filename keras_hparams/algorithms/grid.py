"""Grid search: every combination of the values of discrete dimensions, in order."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

from keras_hparams.algorithms.base import Algorithm, _normalized
from keras_hparams.space import Dimension, Float, Int, SearchSpace
from keras_hparams.trial import COMPLETED, PRUNED, TIMED_OUT, Trial


class GridSearch(Algorithm):
    """Tries every combination of values, in a fixed order, never one twice.

    Every searched dimension must have a finite set of values: `Int`, `Float` with a
    `step` (or equal bounds), `Choice`, `Boolean` (`Fixed` values are never searched).
    The order is that of `itertools.product` over the dimensions in the order the
    space found them, each dimension's values in increasing order (a `Choice` in the
    order given): the last dimension changes fastest. The seed does not change the
    order; for a random subset of a large grid, use `algorithm="random"`, which draws
    stepped dimensions on their grid too.

    Combinations already tried (finished, failed, running, or the trial of your
    defaults) are skipped; once every combination has been tried, `propose` returns
    `[]` and the search ends. Conditional dimensions are handled as the tuner records
    them: a completed or pruned trial's `params` hold only the values its model used,
    and it covers every combination that agrees with them, whatever the values of the
    dimensions its model did not use (`units_2` when `layers=1`), since those build
    the same model (as long as whether a dimension is used depends only on values
    the model used, as with `if`s and loops over them), so the grid does not ask the
    tuner for a model it has trained. When the space
    grows (a conditional dimension appears), the next call walks the larger grid from
    its start, skipping what was tried. Running, interrupted and failed trials cover
    only their own combination (what their model uses is not known), as proposed,
    with defaults for the dimensions found since.

    Args:
        seed: int or None, accepted for a uniform interface; the order ignores it.

    Example:

    >>> space = kh.SearchSpace([kh.Int("layers", 1, 2), kh.Boolean("bn")])
    >>> kh.algorithms.GridSearch().propose(space, [], 3)
    [{'layers': 1, 'bn': False}, {'layers': 1, 'bn': True}, {'layers': 2, 'bn': False}]
    >>> tuner = kh.Tuner(build_model, objective="val_loss", algorithm="grid")
    """

    def check_space(self, space: SearchSpace) -> None:
        """Raises `ValueError` naming the first dimension without finite values."""
        for dimension in space.searchable():
            if math.isinf(dimension.cardinality()):
                raise ValueError(
                    "Grid search needs a finite set of values for every dimension, "
                    f"but {dimension!r} is a continuous range. {_fix(dimension)}, "
                    'or use algorithm="random" or "bayesian".'
                )

    def propose(
        self,
        space: SearchSpace,
        trials: Sequence[Trial],
        n: int = 1,
        *,
        direction: str = "min",
    ) -> list[dict[str, Any]]:
        self.check_request(n, direction)
        self.check_space(space)
        dimensions = space.searchable()
        covered = _Covered(space, trials)
        proposals = []
        for values in combinations(dimensions, covered):
            covered.add(values)
            proposals.append(values)
            if len(proposals) == n:
                break
        return proposals


class _Covered:
    """The combinations the trials so far cover, grouped by the names they fix.

    A group of trials that fix the first `k` dimensions (and maybe fewer) is checked
    once those `k` are chosen, so the walk skips a covered block of the grid whole.
    """

    def __init__(self, space: SearchSpace, trials: Sequence[Trial]) -> None:
        self.names = [d.name for d in space.searchable()]
        self.groups: dict[tuple[str, ...], set[tuple]] = {}
        self.by_depth: dict[int, list[tuple[str, ...]]] = {}
        for trial in trials:
            if trial.status in (COMPLETED, PRUNED, TIMED_OUT):  # the values it used
                self.add({n: v for n, v in trial.params.items() if n in self.names})
            else:
                self.add(space.complete(trial.params))

    def add(self, values: dict[str, Any]) -> None:
        """Marks as covered every combination that agrees with `values`."""
        names = tuple(n for n in self.names if n in values)
        if names not in self.groups:
            self.groups[names] = set()
            depth = max((self.names.index(n) + 1 for n in names), default=0)
            self.by_depth.setdefault(depth, []).append(names)
        self.groups[names].add(_row(values, names))

    def covers(self, depth: int, values: dict[str, Any]) -> bool:
        """Whether a group whose last fixed dimension is number `depth` matches."""
        return any(
            _row(values, names) in self.groups[names]
            for names in self.by_depth.get(depth, ())
        )


def combinations(
    dimensions: list[Dimension], covered: _Covered | None = None
) -> Iterator[dict[str, Any]]:
    """The combinations of the dimensions' values in `itertools.product` order.

    Lazy, so a grid too large to hold in memory can still be walked from its start;
    blocks that `covered` covers are skipped without visiting them.
    """
    names = [d.name for d in dimensions]
    axes = [_values(d) for d in dimensions]
    values: dict[str, Any] = {}

    def visit(depth: int) -> Iterator[dict[str, Any]]:
        if covered is not None and covered.covers(depth, values):
            return
        if depth == len(names):
            yield dict(values)
            return
        for value in axes[depth]:
            values[names[depth]] = value
            yield from visit(depth + 1)
        del values[names[depth]]

    return visit(0)


def _row(values: dict[str, Any], names: tuple[str, ...]) -> tuple:
    return tuple(_normalized(values[n]) for n in names)


def _values(dimension: Dimension) -> Sequence[Any]:
    if isinstance(dimension, Int) and dimension.step is None:
        return range(dimension.low, dimension.high + 1)  # lazy: may be long
    return dimension.values()


def _fix(dimension: Dimension) -> str:
    if isinstance(dimension, Float) and dimension.log:
        return (
            f"Replace it with a kh.Choice({dimension.name!r}, [...]) of the values to "
            "try (a step cannot be combined with log=True)"
        )
    return (
        f"Give it a step (for example step={(dimension.high - dimension.low) / 10:g})"
    )
