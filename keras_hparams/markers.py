"""The markers `kh.Int`, `kh.Float`, `kh.Choice`, `kh.Boolean` and `kh.Fixed`.

Each takes its name first, or no name where the context names the dimension (a
`TunableModel` key, a `search()` keyword argument), and every argument also by
keyword: `kh.Int("units", 32, 512)`, `kh.Int(32, 512)`, `kh.Int(name="units",
low=32, high=512)`. Options are keyword-only; `sampling="log"` is accepted for
`log=True`, as KerasTuner writes it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from keras_hparams._marker_arguments import (
    MarkerArguments,
    Sentinel,
    log_from_sampling,
)
from keras_hparams.dimension import (
    Dimension,
    check_finite,
    is_number,
    plain,
    same_value,
    value_kind,
)

_INT_LIMIT = 2**62
_GRID_LIMIT = 1e12
_FIRST_VALUE = Sentinel("<the first value>")


def _range_arguments(marker: str, number: type) -> MarkerArguments:
    return MarkerArguments(
        marker,
        positional=(("low", number), ("high", number)),
        options=(
            ("step", number | None, None),
            ("log", bool, False),
            ("default", number | None, None),
            ("sampling", str | None, None),
        ),
    )


class _Range(Dimension):
    """Shared logic of `Int` and `Float`: a bounded, optionally stepped or log range."""

    _number_type: type = float

    @overload
    def __init__(
        self,
        name: str,
        low: float,
        high: float,
        *,
        step: float | None = None,
        log: bool = False,
        default: float | None = None,
        sampling: str | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        low: float,
        high: float,
        *,
        name: str | None = None,
        step: float | None = None,
        log: bool = False,
        default: float | None = None,
        sampling: str | None = None,
    ) -> None: ...

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        given = self._arguments.read(args, kwargs)
        super().__init__(given["name"])
        self.low = self._number("low", given["low"])
        self.high = self._number("high", given["high"])
        step = given["step"]
        self.step = None if step is None else self._number("step", step)
        self.log = log_from_sampling(self.label, given["sampling"], given["log"])
        self._validate_range()
        default = given["default"]
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
        if not is_number(value) or not math.isfinite(value):
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
            self._validate_step()

    def _validate_step(self) -> None:
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
        if not is_number(value) or not self.low <= value <= self.high:
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
        return plain(
            cls,
            name=config.get("name") or None,
            low=config["low"],
            high=config["high"],
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
            the dimension (a `TunableModel` key or a `search()` keyword argument):
            `kh.Int(32, 512)`.
        low: int, the smallest value.
        high: int, the largest value (included).
        step: int, the distance between values (`low`, `low + step`, ...).
            Defaults to `None` (every integer).
        log: bool, whether to search on a log scale. Defaults to `False`.
        default: int, the value of a plain call. Defaults to `low`.
        sampling: str, KerasTuner's spelling of `log`: `"log"` or `"linear"`.
            Defaults to `None` (as `log` says).

    Example:

    >>> units = kh.Int("units", 32, 512, step=32, default=128)
    >>> units = kh.Int(name="units", low=32, high=512)
    """

    _number_type = int
    _arguments = _range_arguments("Int", int)

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
        sampling: str, KerasTuner's spelling of `log`: `"log"` or `"linear"`.
            Defaults to `None` (as `log` says).

    Example:

    >>> lr = kh.Float("lr", 1e-4, 1e-1, log=True, default=1e-3)
    >>> lr = kh.Float("lr", 1e-4, 1e-1, sampling="log")
    """

    _arguments = _range_arguments("Float", float)

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
    >>> activation = kh.Choice(["relu", "tanh"], name="activation")
    """

    _arguments = MarkerArguments(
        "Choice",
        positional=(("values", list),),
        options=(("default", Any, _FIRST_VALUE),),
    )

    @overload
    def __init__(self, name: str, values: list[Any], *, default: Any = ...) -> None: ...

    @overload
    def __init__(
        self, values: list[Any], *, name: str | None = None, default: Any = ...
    ) -> None: ...

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        given = Choice._arguments.read(args, kwargs)  # Boolean passes these too
        super().__init__(given["name"])
        self.choices = self._checked_values(given["values"])
        default = given["default"]
        self.default = self.choices[0] if default is _FIRST_VALUE else default
        self._check_default(self.default, f"among {self.choices!r}")

    def _checked_values(self, values: Any) -> list[Any]:
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise TypeError(
                f"For {self.label}, expected a list of values. Received: {values!r}."
            )
        values = [v.item() if isinstance(v, np.generic) else v for v in values]
        if not values:
            raise ValueError(
                f"For {self.label}, expected at least one value. Received: values=[]."
            )
        check_finite(self.label, "values", values)
        kinds = {value_kind(v) for v in values if v is not None}
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
        return values

    def contains(self, value: Any) -> bool:
        return any(same_value(value, v) for v in self.choices)

    def index(self, value: Any) -> int:
        return next(i for i, v in enumerate(self.choices) if same_value(value, v))

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
        return plain(
            cls,
            config["values"],
            name=config.get("name") or None,
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

    _arguments = MarkerArguments(
        "Boolean", positional=(), options=(("default", bool, False),)
    )

    if TYPE_CHECKING:  # the signature; at run time, read() gives clearer errors

        def __init__(
            self, name: str | None = None, *, default: bool = False
        ) -> None: ...

    else:

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            given = self._arguments.read(args, kwargs)
            name, default = given["name"], given["default"]
            if not isinstance(default, (bool, np.bool_)):
                raise TypeError(
                    f"For Boolean({name!r}), expected default True or False. "
                    f"Received: default={default!r}."
                )
            super().__init__([False, True], name=name, default=bool(default))

    def get_config(self) -> dict[str, Any]:
        return {"kind": "Boolean", "name": self.name, "default": self.default}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Boolean:
        return plain(cls, name=config.get("name") or None, default=config["default"])


class Fixed(Dimension):
    """A constant recorded with every trial but never searched.

    Args:
        name: str, the hyperparameter's name (see `Int`). A single argument is the
            value: `kh.Fixed("adam")` has no name.
        value: a str, number, bool or None.

    Example:

    >>> seed = kh.Fixed("seed", 0)
    """

    _arguments = MarkerArguments("Fixed", positional=(("value", Any),), lone_value=True)

    @overload
    def __init__(self, name: str, value: Any) -> None: ...

    @overload
    def __init__(self, value: Any, *, name: str | None = None) -> None: ...

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        given = self._arguments.read(args, kwargs)
        super().__init__(given["name"])
        value = given["value"]
        if value is not None and value_kind(value) == "other":
            raise TypeError(
                f"For {self.label}, expected a str, number, bool or None. "
                f"Received: value={value!r}."
            )
        check_finite(self.label, "value", [value])
        self.value = self.default = (
            value.item() if isinstance(value, np.generic) else value
        )

    def contains(self, value: Any) -> bool:
        return same_value(value, self.value)

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
        return plain(cls, config["value"], name=config.get("name") or None)
