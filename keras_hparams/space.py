"""The search space: named dimensions, and dimensions from their configs.

The markers themselves live in `keras_hparams.markers` (their base class and the
build-context hook in `keras_hparams.dimension`); they are importable from here too.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from keras_hparams.dimension import CURRENT_CONTEXT, Dimension
from keras_hparams.markers import Boolean, Choice, Fixed, Float, Int

__all__ = [
    "CURRENT_CONTEXT",
    "Boolean",
    "Choice",
    "Dimension",
    "Fixed",
    "Float",
    "Int",
    "SearchSpace",
    "from_config",
]

_KINDS = {cls.__name__: cls for cls in (Int, Float, Choice, Boolean, Fixed)}


def from_config(config: dict[str, Any]) -> Dimension:
    """Makes a dimension from the dict that its `get_config()` returned."""
    kind = config.get("kind")
    if kind not in _KINDS:
        raise ValueError(
            f"Unknown dimension kind {kind!r}; expected one of {sorted(_KINDS)}."
        )
    return _KINDS[kind].from_config(config)


class SearchSpace:
    """The named dimensions of a search, in the order they were found.

    A name is one dimension: adding the same definition again is a no-op, and adding a
    different definition under a known name raises `ValueError`.

    Example:

    >>> space = kh.SearchSpace([kh.Int("layers", 1, 4), kh.Float("dropout", 0.0, 0.5)])
    >>> space.defaults()
    {'layers': 1, 'dropout': 0.0}
    """

    def __init__(self, dimensions: list[Dimension] | None = None) -> None:
        self._dimensions: dict[str, Dimension] = {}
        for dimension in dimensions or []:
            self.add(dimension)

    def add(self, dimension: Dimension) -> bool:
        """Adds `dimension`; returns whether it was new."""
        if dimension.name is None:
            raise ValueError(
                f"{dimension!r} has no name. A name may be left out only where the "
                "context names the dimension: a TunableModel key or a search() "
                "keyword argument."
            )
        known = self._dimensions.get(dimension.name)
        if known is None:
            self._dimensions[dimension.name] = dimension
            return True
        if known != dimension:
            raise ValueError(
                f"Hyperparameter {dimension.name!r} is defined twice with different "
                f"definitions: {known!r} and {dimension!r}. Use one definition for "
                "every use of a name, or give the second a name of its own."
            )
        return False

    def __contains__(self, name: object) -> bool:
        return name in self._dimensions

    def __getitem__(self, name: str) -> Dimension:
        return self._dimensions[name]

    def __iter__(self) -> Iterator[Dimension]:
        return iter(self._dimensions.values())

    def __len__(self) -> int:
        return len(self._dimensions)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, SearchSpace) and self.get_config() == other.get_config()
        )

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(d) for d in self)
        return f"SearchSpace([\n  {inner}\n])" if inner else "SearchSpace([])"

    @property
    def names(self) -> list[str]:
        return list(self._dimensions)

    def searchable(self) -> list[Dimension]:
        """The dimensions an algorithm proposes values for (all but `Fixed`)."""
        return [d for d in self if not isinstance(d, Fixed)]

    def defaults(self) -> dict[str, Any]:
        return {d.name: d.default for d in self}

    def cardinality(self) -> float:
        return math.prod(d.cardinality() for d in self)

    def copy(self) -> SearchSpace:
        return SearchSpace(list(self))

    def check_values(self, params: dict[str, Any], argument: str = "params") -> None:
        """Raises `ValueError` for a value outside its dimension; unknown names pass."""
        for name, value in params.items():
            if name in self and not self[name].contains(value):
                raise ValueError(
                    f"In {argument}, {value!r} is not a value of {self[name]!r}."
                )

    def complete(self, params: dict[str, Any]) -> dict[str, Any]:
        """`params` with a default for every dimension it leaves out, in space order."""
        return {d.name: params.get(d.name, d.default) for d in self}

    def get_config(self) -> list[dict[str, Any]]:
        return [d.get_config() for d in self]

    @classmethod
    def from_config(cls, config: list[dict[str, Any]]) -> SearchSpace:
        return cls([from_config(c) for c in config])
