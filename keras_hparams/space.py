"""Search dimensions (the `kh.Int`, `kh.Float`, ... markers) and the search space.

A marker is a small, validated description of one hyperparameter. Where it is called
decides what it returns (see `keras_hparams.tunable`): inside a trial's build it returns
the trial's value, inside a plain call of a `@kh.tunable` builder its default, and
anywhere else the description itself.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

_MISSING = object()

# The build in progress, if any (a keras_hparams.tunable.BuildContext).
CURRENT_CONTEXT: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "keras_hparams_build_context", default=None
)


class _MarkerMeta(type):
    """Makes `Int(...)` return a value instead of a description inside a build."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        dimension = super().__call__(*args, **kwargs)
        context = CURRENT_CONTEXT.get()
        if context is None:
            return dimension
        return context.resolve(dimension)


class Dimension(metaclass=_MarkerMeta):
    """Base class of the five markers. Not created directly."""

    kind = "dimension"

    def __init__(self, name: str | None) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(
                f"A hyperparameter name must be a non-empty string. Received: {name!r}."
            )
        self.name = name

    # -- to be provided by subclasses -----------------------------------------
    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError

    def contains(self, value: Any) -> bool:
        """Whether `value` is a value this dimension can take."""
        raise NotImplementedError

    def cardinality(self) -> float:
        """Number of distinct values (`math.inf` for a continuous range)."""
        raise NotImplementedError

    def values(self) -> list[Any]:
        """Every value of a finite dimension, in order."""
        raise NotImplementedError

    def sample(self, rng: np.random.Generator) -> Any:
        """One value drawn uniformly (log-uniformly for `log=True`)."""
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------
    @property
    def label(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def named(self, name: str) -> Dimension:
        """A copy of this dimension with `name`, used where the context names it."""
        config = self.get_config()
        config["name"] = name
        return from_config(config)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Dimension) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        config = self.get_config()
        name = config.pop("name")
        config.pop("kind")
        parts = [repr(name)] if name is not None else []
        parts += [f"{key}={value!r}" for key, value in config.items()]
        return f"{type(self).__name__}({', '.join(parts)})"

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Dimension:
        raise NotImplementedError

    def _check_default(self, default: Any, accepted: str) -> None:
        if not self.contains(default):
            raise ValueError(
                f"For {self.label}, expected a default {accepted}. "
                f"Received: default={default!r}."
            )


def _plain(cls: type, *args: Any, **kwargs: Any) -> Dimension:
    """Makes a description even inside a build (for internal copies)."""
    return type.__call__(cls, *args, **kwargs)


def _split_name(marker: str, args: tuple, count: int) -> tuple[str | None, tuple]:
    """Separates an optional leading name from a marker's positional arguments."""
    if args and isinstance(args[0], str):
        name, args = args[0], args[1:]
    else:
        name = None
    if len(args) != count:
        expected = "low, high" if count == 2 else "values"
        raise TypeError(
            f"{marker}() takes an optional name then {expected}. "
            f"Received: {', '.join(repr(a) for a in ((name,) if name else ()) + args)}."
        )
    return name, args


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


_INT_LIMIT = 2**62
_GRID_LIMIT = 1e12


class _Range(Dimension):
    """Shared logic of `Int` and `Float`: a bounded, optionally stepped or log range."""

    _number_type: type = float

    def __init__(self, *args: Any, step=None, log: bool = False, default=None) -> None:
        name, (low, high) = _split_name(type(self).__name__, args, 2)
        super().__init__(name)
        self.low, self.high = self._number("low", low), self._number("high", high)
        self.step = None if step is None else self._number("step", step)
        self.log = bool(log)
        self._validate_range()
        self.default = self.low if default is None else self._number("default", default)
        self._check_default(self.default, self._accepted())

    def _number(self, argument: str, value: Any) -> Any:
        if self._number_type is int:
            ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
            if not ok and isinstance(value, float) and value.is_integer():
                ok = True
            if not ok:
                raise TypeError(
                    f"For {self.label}, expected an integer {argument}. "
                    f"Received: {argument}={value!r}."
                )
            return int(value)
        if not _is_number(value) or not math.isfinite(value):
            raise TypeError(
                f"For {self.label}, expected a finite number for {argument}. "
                f"Received: {argument}={value!r}."
            )
        return float(value)

    def _validate_range(self) -> None:
        if self._number_type is int and max(abs(self.low), abs(self.high)) > _INT_LIMIT:
            raise ValueError(
                f"For {self.label}, expected low and high between -2**62 and 2**62 "
                f"(numpy samples 64-bit integers). Received: low={self.low}, "
                f"high={self.high}."
            )
        if not math.isfinite(self.high - self.low):
            raise ValueError(
                f"For {self.label}, expected a range whose width high - low is a "
                f"finite float. Received: low={self.low}, high={self.high}."
            )
        if self.low > self.high:
            raise ValueError(
                f"For {self.label}, expected low <= high. "
                f"Received: low={self.low}, high={self.high}."
            )
        if self.log and self.low <= 0:
            raise ValueError(
                f"For {self.label}, log=True needs low > 0. Received: low={self.low}."
            )
        if self.step is not None:
            if self.log:
                raise ValueError(
                    f"For {self.label}, step and log=True cannot be combined. "
                    f"Received: step={self.step}, log=True."
                )
            if self.step <= 0 or self.step > self.high - self.low:
                raise ValueError(
                    f"For {self.label}, expected 0 < step <= high - low "
                    f"({self.high - self.low}). Received: step={self.step}."
                )
            if (self.high - self.low) / self.step > _GRID_LIMIT:
                raise ValueError(
                    f"For {self.label}, expected a step that makes at most "
                    f"{_GRID_LIMIT:.0e} grid points; leave step out for a continuous "
                    f"range. Received: step={self.step}."
                )

    def _accepted(self) -> str:
        accepted = f"between {self.low} and {self.high}"
        if self.step is not None:
            accepted += f" on the grid low + k * {self.step}"
        return accepted

    def _grid_count(self) -> int:
        return int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1

    def contains(self, value: Any) -> bool:
        if not _is_number(value) or not self.low <= value <= self.high:
            return False
        if self._number_type is int and not float(value).is_integer():
            return False
        if self.step is None:
            return True
        k = (value - self.low) / self.step
        return abs(k - round(k)) < 1e-6

    def get_config(self) -> dict[str, Any]:
        return {
            "kind": type(self).__name__,
            "name": self.name,
            "low": self.low,
            "high": self.high,
            "step": self.step,
            "log": self.log,
            "default": self.default,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> _Range:
        args = (config["name"],) if config.get("name") else ()
        return _plain(
            cls,
            *args,
            config["low"],
            config["high"],
            step=config["step"],
            log=config["log"],
            default=config["default"],
        )

    def from_index(self, index: int) -> Any:
        """The value at position `index` of a stepped range's grid."""
        return self._number_type(self.low + int(index) * self.step)

    def to_index(self, value: Any) -> int:
        return int(round((value - self.low) / self.step))


class Int(_Range):
    """An integer hyperparameter.

    Args:
        name: str, the hyperparameter's name. May be left out where the context names
            the dimension (a `TunableModel` key or a `search()` keyword argument).
        low: int, the smallest value.
        high: int, the largest value (included).
        step: int, the distance between values (`low`, `low + step`, ...).
            Defaults to `None` (every integer).
        log: bool, whether to search on a log scale. Defaults to `False`.
        default: int, the value of a plain call. Defaults to `low`.

    Example:

    >>> units = kh.Int("units", 32, 512, step=32, default=128)
    """

    _number_type = int

    def __init__(self, *args: Any, step=None, log: bool = False, default=None) -> None:
        super().__init__(*args, step=step, log=log, default=default)

    def cardinality(self) -> float:
        return self._grid_count() if self.step else self.high - self.low + 1

    def values(self) -> list[int]:
        return (
            [self.from_index(i) for i in range(self._grid_count())]
            if self.step
            else (list(range(self.low, self.high + 1)))
        )

    def sample(self, rng: np.random.Generator) -> int:
        if self.step:
            return self.from_index(rng.integers(self._grid_count()))
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
            return min(int(value), self.high)
        return int(rng.integers(self.low, self.high + 1))


class Float(_Range):
    """A real-valued hyperparameter.

    Args:
        name: str, the hyperparameter's name (see `Int`).
        low: float, the smallest value.
        high: float, the largest value.
        step: float, makes the range a grid `low, low + step, ...`. Defaults to `None`.
        log: bool, whether to search on a log scale (learning rates, decays).
            Defaults to `False`.
        default: float, the value of a plain call. Defaults to `low`.

    Example:

    >>> lr = kh.Float("lr", 1e-4, 1e-1, log=True, default=1e-3)
    """

    def __init__(self, *args: Any, step=None, log: bool = False, default=None) -> None:
        super().__init__(*args, step=step, log=log, default=default)

    def cardinality(self) -> float:
        if self.low == self.high:
            return 1
        return self._grid_count() if self.step else math.inf

    def values(self) -> list[float]:
        if self.low == self.high:
            return [self.low]
        if not self.step:
            raise ValueError(f"{self.label} has no step, so its values are not finite.")
        return [self.from_index(i) for i in range(self._grid_count())]

    def from_index(self, index: int) -> float:
        # Rounded so that 0.1 + 2 * 0.1 reads as 0.3, not 0.30000000000000004;
        # clipped so that the rounding never leaves [low, high].
        value = round(self.low + int(index) * self.step, 12)
        return min(max(value, self.low), self.high)

    def sample(self, rng: np.random.Generator) -> float:
        if self.step:
            return self.from_index(rng.integers(self._grid_count()))
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
            return min(max(float(value), self.low), self.high)
        return float(rng.uniform(self.low, self.high))


class Choice(Dimension):
    """A hyperparameter taking one of a list of values of one type.

    Args:
        name: str, the hyperparameter's name (see `Int`).
        values: list of str, int, float or bool values, all of one type (`None` may
            join them, for an optional setting).
        default: the value of a plain call. Defaults to the first value.

    Example:

    >>> activation = kh.Choice("activation", ["relu", "tanh", "gelu"])
    """

    def __init__(self, *args: Any, default: Any = _MISSING) -> None:
        name, (values,) = _split_name("Choice", args, 1)
        super().__init__(name)
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise TypeError(
                f"For {self.label}, expected a list of values. Received: {values!r}."
            )
        values = [v.item() if isinstance(v, np.generic) else v for v in values]
        if not values:
            raise ValueError(
                f"For {self.label}, expected at least one value. Received: values=[]."
            )
        _check_finite(self.label, "values", values)
        kinds = {_value_kind(v) for v in values if v is not None}
        if len(kinds) > 1 or "other" in kinds:
            raise ValueError(
                f"For {self.label}, expected values of one type among str, int, float "
                f"and bool (None may join them). Received: values={values!r} "
                f"(types: {', '.join(sorted(kinds))})."
            )
        if len({repr(v) for v in values}) != len(values):
            raise ValueError(
                f"For {self.label}, expected distinct values. "
                f"Received: values={values!r}."
            )
        self.choices = values
        self.default = values[0] if default is _MISSING else default
        self._check_default(self.default, f"among {values!r}")

    def contains(self, value: Any) -> bool:
        return any(_same_value(value, v) for v in self.choices)

    def index(self, value: Any) -> int:
        return next(i for i, v in enumerate(self.choices) if _same_value(value, v))

    def cardinality(self) -> float:
        return len(self.choices)

    def values(self) -> list[Any]:
        return list(self.choices)

    def sample(self, rng: np.random.Generator) -> Any:
        return self.choices[int(rng.integers(len(self.choices)))]

    def get_config(self) -> dict[str, Any]:
        return {
            "kind": "Choice",
            "name": self.name,
            "values": list(self.choices),
            "default": self.default,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Choice:
        return _plain(
            cls,
            *((config["name"],) if config.get("name") else ()),
            config["values"],
            default=config["default"],
        )


class Boolean(Choice):
    """A hyperparameter that is `True` or `False`.

    Args:
        name: str, the hyperparameter's name (see `Int`).
        default: bool, the value of a plain call. Defaults to `False`.

    Example:

    >>> use_batch_norm = kh.Boolean("batch_norm", default=False)
    """

    def __init__(self, name: str | None = None, *, default: bool = False) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(
                "Boolean() takes a name that is a non-empty string. "
                f"Received: {name!r}."
            )
        if not isinstance(default, (bool, np.bool_)):
            raise TypeError(
                f"For Boolean({name!r}), expected default True or False. "
                f"Received: default={default!r}."
            )
        args = (name,) if name is not None else ()
        super().__init__(*args, [False, True], default=bool(default))

    def get_config(self) -> dict[str, Any]:
        return {"kind": "Boolean", "name": self.name, "default": self.default}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Boolean:
        return _plain(cls, config.get("name"), default=config["default"])


class Fixed(Dimension):
    """A constant recorded with every trial but never searched.

    Args:
        name: str, the hyperparameter's name (see `Int`).
        value: a str, number, bool or None.

    Example:

    >>> seed = kh.Fixed("seed", 0)
    """

    def __init__(self, *args: Any) -> None:
        if len(args) == 2:
            name, value = args
        elif len(args) == 1:
            name, value = None, args[0]
        else:
            raise TypeError(
                f"Fixed() takes an optional name then a value. Received: {args!r}."
            )
        super().__init__(name)
        if value is not None and _value_kind(value) == "other":
            raise TypeError(
                f"For {self.label}, expected a str, number, bool or None. "
                f"Received: value={value!r}."
            )
        _check_finite(self.label, "value", [value])
        self.value = self.default = (
            value.item() if isinstance(value, np.generic) else value
        )

    def contains(self, value: Any) -> bool:
        return _same_value(value, self.value)

    def cardinality(self) -> float:
        return 1

    def values(self) -> list[Any]:
        return [self.value]

    def sample(self, rng: np.random.Generator) -> Any:
        return self.value

    def get_config(self) -> dict[str, Any]:
        return {"kind": "Fixed", "name": self.name, "value": self.value}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Fixed:
        args = (config["name"],) if config.get("name") else ()
        return _plain(cls, *args, config["value"])


def _check_finite(label: str, argument: str, values: list[Any]) -> None:
    # NaN is not equal to itself, so a dimension could not contain its own value.
    for value in values:
        if isinstance(value, (float, np.floating)) and not math.isfinite(value):
            raise ValueError(
                f"For {label}, expected finite numbers. Received: {argument} "
                f"containing {value!r}."
            )


def _value_kind(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    if isinstance(value, str):
        return "str"
    return "other"


def _same_value(a: Any, b: Any) -> bool:
    return _value_kind(a) == _value_kind(b) and a == b or (a is None and b is None)


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
