"""KerasTuner's `hp`, so that KerasTuner hypermodels run unchanged.

`kh.Tuner(build_model)` accepts a function of one `hp` argument, or an object with
`build(hp)` (and optionally `fit(hp, model, *args, **kwargs)`), as KerasTuner's
`HyperModel` has. The `hp` it passes takes KerasTuner's signatures (`hp.Int(name,
min_value, max_value, step, sampling, default, parent_name, parent_values)`, ...);
each call makes one of our dimensions and resolves it through the build in
progress, as a marker does. keras_tuner itself is neither imported nor needed.

A conditional hyperparameter (declared under `hp.conditional_scope(...)` or with
`parent_name=`) returns `None` when its parent's value is not one of the parent
values: it is inactive in that build, and the search space learns it from the builds
where it is active.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import keras

from keras_hparams.dimension import Dimension, plain
from keras_hparams.errors import BuildError
from keras_hparams.markers import Boolean, Choice, Fixed, Float, Int
from keras_hparams.space import SearchSpace
from keras_hparams.tunable import (
    BuildContext,
    current_context,
    explaining_descriptions,
)


class HyperParameters:
    """KerasTuner's `hp`: `Int`, `Float`, `Choice`, `Boolean` and `Fixed` by name.

    Inside a build (a trial's, or a plain call of a `@kh.tunable` function) each call
    returns the build's value. Anywhere else it uses its own values: those given here,
    else each hyperparameter's default, as `keras_tuner.HyperParameters()` does.

    Args:
        values: dict, values by name for use outside any build. Defaults to `None`
            (every hyperparameter takes its default).

    Example:

    ```python
    def build_model(hp):
        model = keras.Sequential([keras.Input((64,))])
        model.add(keras.layers.Dense(
            hp.Int("units", min_value=32, max_value=512, step=32), activation="relu"))
        if hp.Boolean("dropout"):
            model.add(keras.layers.Dropout(0.25))
        model.add(keras.layers.Dense(10, activation="softmax"))
        lr = hp.Float("lr", min_value=1e-4, max_value=1e-2, sampling="log")
        model.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy")
        return model

    build_model(kh.HyperParameters())          # the default model
    tuner = kh.Tuner(build_model, objective="val_loss", max_trials=10)
    ```
    """

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self._own = BuildContext(SearchSpace(), values)
        self._conditions: list[tuple[str, list[Any]]] = []
        self._name_scopes: list[str] = []

    # -- KerasTuner's hyperparameter methods (capitalized, as there) ------------
    def Int(
        self,
        name: str,
        min_value: int,
        max_value: int,
        step: int | None = None,
        sampling: str | None = "linear",
        default: int | None = None,
        parent_name: str | None = None,
        parent_values: Any = None,
    ) -> int | None:
        """An integer between `min_value` and `max_value` (both included).

        With `sampling="log"`, a `step` multiplies (2, 4, 8, ...), as in KerasTuner.
        Returns the build's value, or `None` when the hyperparameter is inactive.
        """
        return self._value(
            lambda: _range(
                Int, self._scoped(name), min_value, max_value, step, sampling, default
            ),
            parent_name,
            parent_values,
        )

    def Float(
        self,
        name: str,
        min_value: float,
        max_value: float,
        step: float | None = None,
        sampling: str | None = "linear",
        default: float | None = None,
        parent_name: str | None = None,
        parent_values: Any = None,
    ) -> float | None:
        """A float between `min_value` and `max_value`; see `Int` for the options."""
        return self._value(
            lambda: _range(
                Float, self._scoped(name), min_value, max_value, step, sampling, default
            ),
            parent_name,
            parent_values,
        )

    def Choice(
        self,
        name: str,
        values: list[Any],
        ordered: bool | None = None,
        default: Any = None,
        parent_name: str | None = None,
        parent_values: Any = None,
    ) -> Any:
        """One of `values` (default: the first). `ordered` is checked, as KerasTuner
        does, but the search treats every choice as a category."""
        label = f"hp.Choice({name!r})"
        if ordered and not all(isinstance(v, (int, float)) for v in values or []):
            raise ValueError(
                f"For {label}, ordered=True needs numeric values. "
                f"Received: values={values!r}."
            )
        options = {} if default is None else {"default": default}
        return self._value(
            lambda: plain(Choice, self._scoped(name), values, **options),
            parent_name,
            parent_values,
        )

    def Boolean(
        self,
        name: str,
        default: bool = False,
        parent_name: str | None = None,
        parent_values: Any = None,
    ) -> bool | None:
        """`True` or `False` (default: `False`)."""
        return self._value(
            lambda: plain(Boolean, self._scoped(name), default=default),
            parent_name,
            parent_values,
        )

    def Fixed(
        self,
        name: str,
        value: Any,
        parent_name: str | None = None,
        parent_values: Any = None,
    ) -> Any:
        """A constant, recorded with every trial."""
        return self._value(
            lambda: plain(Fixed, self._scoped(name), value), parent_name, parent_values
        )

    # -- scopes and values ----------------------------------------------------
    @contextlib.contextmanager
    def conditional_scope(self, parent_name: str, parent_values: Any) -> Iterator[None]:
        """Hyperparameters declared inside are active only when the hyperparameter
        `parent_name`, declared before, has one of `parent_values`.

        The code inside runs either way; an inactive hyperparameter returns `None`.
        """
        parent = self._scoped(parent_name)
        context = self._context()
        if parent not in context.active and parent not in context.inactive:
            raise BuildError(
                f"hp.conditional_scope({parent_name!r}, ...) names a hyperparameter "
                f"that this build has not declared yet. Declare {parent_name!r} "
                "(hp.Choice(...), hp.Int(...)) before the scope."
            )
        if not isinstance(parent_values, (list, tuple)):
            parent_values = [parent_values]
        self._conditions.append((parent, list(parent_values)))
        try:
            yield
        finally:
            self._conditions.pop()

    @contextlib.contextmanager
    def name_scope(self, name: str) -> Iterator[None]:
        """Prefixes the names declared inside with `"<name>/"`."""
        self._name_scopes.append(name)
        try:
            yield
        finally:
            self._name_scopes.pop()

    @property
    def values(self) -> dict[str, Any]:
        """The values of the hyperparameters active so far in this build."""
        return dict(self._context().active)

    def get(self, name: str) -> Any:
        """The value of the hyperparameter `name`, declared earlier in this build.

        Raises:
            ValueError: it is inactive in this build.
            KeyError: no hyperparameter of that name was declared.
        """
        context, name = self._context(), self._scoped(name)
        if name in context.active:
            return context.active[name]
        if name in context.inactive or name in context.space:
            raise ValueError(
                f"hp.get({name!r}): {name!r} is inactive in this build (its condition "
                "does not hold)."
            )
        raise KeyError(
            f"hp.get({name!r}): no hyperparameter named {name!r} has been declared. "
            f"Declared: {sorted(context.active)}."
        )

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        try:
            self.get(str(name))
        except (KeyError, ValueError):
            return False
        return True

    def __repr__(self) -> str:
        return f"HyperParameters({self.values!r})"

    # -- helpers --------------------------------------------------------------
    def _context(self) -> BuildContext:
        return current_context() or self._own

    def _scoped(self, name: str) -> str:
        return "/".join([*self._name_scopes, str(name)])

    def _value(
        self, make: Callable[[], Dimension], parent_name: Any, parent_values: Any
    ) -> Any:
        scope = (
            self.conditional_scope(parent_name, parent_values)
            if parent_name
            else contextlib.nullcontext()
        )
        with scope:
            dimension = make()  # checked even when inactive
            context = self._context()
            for parent, accepted in self._conditions:
                if parent == dimension.name:
                    raise BuildError(
                        f"The conditional hyperparameter {parent!r} cannot have the "
                        "name of its parent."
                    )
                if context.active.get(parent, _ABSENT) not in accepted:
                    context.inactive.add(dimension.name)
                    return None
            return context.resolve(dimension)


_ABSENT = object()


def _range(
    cls: type,
    name: str,
    min_value: Any,
    max_value: Any,
    step: Any,
    sampling: Any,
    default: Any,
) -> Dimension:
    """KerasTuner's Int or Float as one of our dimensions.

    A log range with a step is a finite set (min_value, min_value * step, ...), as
    in KerasTuner: it becomes a `Choice` of those values.
    """
    label = f"hp.{cls.__name__}({name!r})"
    spelled = "linear" if sampling is None else sampling
    spelled = spelled.lower() if isinstance(spelled, str) else spelled
    if spelled == "reverse_log":
        raise ValueError(
            f"For {label}, sampling='reverse_log' is not supported. Use "
            "sampling='log' or sampling='linear'."
        )
    if spelled not in ("linear", "log"):
        raise ValueError(
            f"For {label}, expected sampling 'linear' or 'log'. "
            f"Received: sampling={sampling!r}."
        )
    if spelled == "log" and step is not None:
        values = _geometric(label, cls, min_value, max_value, step)
        options = {} if default is None else {"default": default}
        return plain(Choice, name, values, **options)
    return plain(
        cls,
        name,
        min_value,
        max_value,
        step=step,
        log=spelled == "log",
        default=default,
    )


def _geometric(label: str, cls: type, low: Any, high: Any, step: Any) -> list[Any]:
    if not (isinstance(step, (int, float)) and step > 1 and 0 < low <= high):
        raise ValueError(
            f"For {label}, sampling='log' with a step needs 0 < min_value <= "
            f"max_value and step > 1 (each value is the previous one times step). "
            f"Received: min_value={low!r}, max_value={high!r}, step={step!r}."
        )
    count = int(math.log(high / low, step) + 1e-8) + 1
    values = [low * step**k for k in range(count)]
    return [int(v) for v in values] if cls is Int else [float(v) for v in values]


class HyperModelBuilder:
    """A KerasTuner hypermodel as a builder for `kh.Tuner`.

    Made by `kh.Tuner` (through `as_builder`) from a function of one `hp` argument,
    or from an object with `build(hp)`.

    Args:
        build: the function of `hp` that builds and compiles a model.
    """

    def __init__(self, build: Callable[[HyperParameters], Any]) -> None:
        self._build = build
        self._space = SearchSpace()
        self.hp = HyperParameters()
        self.__name__ = getattr(build, "__name__", type(build).__name__)

    @property
    def space(self) -> SearchSpace:
        """The dimensions found so far by the builds this builder has run."""
        return self._space

    def build(self, params: dict[str, Any] | None = None) -> keras.Model:
        """Builds the model for the values in `params`; defaults for the others.

        Raises:
            ValueError: a value outside its dimension, or a name the build never used.
        """
        params = dict(params or {})
        context = BuildContext(self._space, params)
        model = self.build_in(context)
        unused = sorted(set(params) - set(context.active))
        if unused:
            raise ValueError(
                f"{self.__name__}.build() was given values for {unused}, which this "
                f"build never used. The names it used: {sorted(context.active)}."
            )
        return model

    def build_in(self, context: BuildContext) -> keras.Model:
        """Builds a model, with `context` giving each `hp` call its value."""
        with context.activate(), explaining_descriptions():
            return self._build(self.hp)

    def __repr__(self) -> str:
        return f"<hypermodel {self.__name__} with {len(self._space)} dimensions found>"


class HyperModelFitBuilder(HyperModelBuilder):
    """A hypermodel object with `fit(hp, model, *args, **kwargs)` as well as
    `build(hp)`: the trial runner calls `fit_model` where it would call `model.fit`.

    Args:
        hypermodel: the object; its `build` and `fit` are used.
    """

    def __init__(self, hypermodel: Any) -> None:
        super().__init__(hypermodel.build)
        self.__name__ = type(hypermodel).__name__
        self._fit = hypermodel.fit

    def fit_model(self, model: keras.Model, *args: Any, **kwargs: Any) -> Any:
        """Calls the hypermodel's `fit(hp, model, *args, **kwargs)`; returns its result.

        `hp` calls inside resolve through the build context active around this call
        (the trial runner keeps the trial's open while it fits).
        """
        return self._fit(self.hp, model, *args, **kwargs)


def hypermodel_builder(hypermodel: Any) -> HyperModelBuilder:
    """The builder for an object with `build(hp)` and perhaps `fit(hp, model, ...)`."""
    if callable(getattr(hypermodel, "fit", None)):
        return HyperModelFitBuilder(hypermodel)
    builder = HyperModelBuilder(hypermodel.build)
    builder.__name__ = type(hypermodel).__name__
    return builder


# KerasTuner style calls inside any build: `from keras_hparams.hyperparameters import
# hp`, then `hp.Int("units", min_value=32, max_value=512)`.
hp = HyperParameters()
