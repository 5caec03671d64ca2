"""`Dimension`, the base class of the markers, and what makes a marker call a value.

A marker is a small, validated description of one hyperparameter. Where it is called
decides what it returns (see `keras_hparams.tunable`): inside a trial's build it returns
the trial's value, inside a plain call of a `@kh.tunable` builder its default, and
anywhere else the description itself. A description refuses to act as a number, so a
marker made outside the build (at module level, say) fails at its first use with a
message saying where to call it.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from keras_hparams.errors import MarkerOutsideBuildError

# The build in progress, if any (a keras_hparams.tunable.BuildContext).
CURRENT_CONTEXT: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "keras_hparams_build_context", default=None
)


class _MarkerMeta(type):
    """Makes `Int(...)` return a value instead of a description inside a build."""

    def __init__(cls, name: str, bases: tuple, namespace: dict[str, Any]) -> None:
        super().__init__(name, bases, namespace)
        arguments = namespace.get("_arguments")
        if arguments is not None:
            # What inspect.signature and help() show instead of (*args, **kwargs).
            cls.__signature__ = arguments.signature()

    # Hidden from type checkers, which then read the markers' __init__ overloads.
    if not TYPE_CHECKING:

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
        return type(self).from_config(config)

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

    def _not_a_value(self, use: str) -> NoReturn:
        raise MarkerOutsideBuildError(
            f"{self!r} was used {use}, but it is a marker's description, not a value. "
            "A marker gives a trial's value only when it is called while the model "
            "is built (inside the @kh.tunable function, a function it calls, or a "
            "hypermodel's build); one made outside, at module level for instance, "
            "stays a description. Call it inside the build function, where the "
            f"value is used: `{self!r}`."
        )


def _refuse(use: str) -> Callable[..., NoReturn]:
    def method(self: Dimension, *other: Any, **_: Any) -> NoReturn:
        self._not_a_value(use.format(other=other[0] if other else None))

    return method


# How a description is refused where a number is expected: Keras's own checks
# (`0 <= rate`, `filters <= 0`, `range(layers)`, `int(units)`) land here. Equality
# and hashing stay: the search space compares dimensions.
for _method, _use in {
    "__lt__": "in a comparison (< {other!r})",
    "__le__": "in a comparison (<= {other!r})",
    "__gt__": "in a comparison (> {other!r})",
    "__ge__": "in a comparison (>= {other!r})",
    "__add__": "in arithmetic (+ {other!r})",
    "__radd__": "in arithmetic ({other!r} +)",
    "__sub__": "in arithmetic (- {other!r})",
    "__rsub__": "in arithmetic ({other!r} -)",
    "__mul__": "in arithmetic (* {other!r})",
    "__rmul__": "in arithmetic ({other!r} *)",
    "__truediv__": "in arithmetic (/ {other!r})",
    "__rtruediv__": "in arithmetic ({other!r} /)",
    "__floordiv__": "in arithmetic (// {other!r})",
    "__rfloordiv__": "in arithmetic ({other!r} //)",
    "__mod__": "in arithmetic (% {other!r})",
    "__rmod__": "in arithmetic ({other!r} %)",
    "__pow__": "in arithmetic (** {other!r})",
    "__rpow__": "in arithmetic ({other!r} **)",
    "__neg__": "in arithmetic (-x)",
    "__abs__": "in arithmetic (abs())",
    "__round__": "as a number (round())",
    "__int__": "as a number (int())",
    "__float__": "as a number (float())",
    "__index__": "as an integer (range(), an index)",
    "__bool__": "as a truth value (if, and, or, not)",
}.items():
    setattr(Dimension, _method, _refuse(_use))


def plain(cls: type, *args: Any, **kwargs: Any) -> Dimension:
    """Makes a description even inside a build (for internal copies)."""
    return type.__call__(cls, *args, **kwargs)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def check_finite(label: str, argument: str, values: list[Any]) -> None:
    # NaN is not equal to itself, so a dimension could not contain its own value.
    for value in values:
        if isinstance(value, (float, np.floating)) and not math.isfinite(value):
            raise ValueError(
                f"For {label}, expected finite numbers. Received: {argument} "
                f"containing {value!r}."
            )


def value_kind(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    if isinstance(value, str):
        return "str"
    return "other"


def same_value(a: Any, b: Any) -> bool:
    return value_kind(a) == value_kind(b) and a == b or (a is None and b is None)
