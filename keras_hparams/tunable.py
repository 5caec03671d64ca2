"""`@kh.tunable`: a model-building function whose markers the search can set.

Markers find out where they are called through a context variable. While a
`BuildContext` is active, `kh.Int(...)` and friends register their dimension in the
context's space and return the context's value for it; with no context they return
their own description.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any, Generic, ParamSpec, Protocol, TypeVar

import numpy as np

from keras_hparams.errors import BuildError, MarkerOutsideBuildError
from keras_hparams.pickling import BY_VALUE
from keras_hparams.space import CURRENT_CONTEXT, Dimension, SearchSpace

P = ParamSpec("P")
R = TypeVar("R")

# A marker's description as its repr reads inside another library's error message.
_DESCRIPTION = re.compile(
    r"\b(?:Int|Float|Choice|Boolean|Fixed)\((?:'[^']*', )?(?:low|values|value|default)="
)


def current_context() -> BuildContext | None:
    """The build context markers resolve against, or `None` outside any build."""
    return CURRENT_CONTEXT.get()


class BuildContext:
    """Gives markers their values during one build.

    Args:
        space: SearchSpace, where dimensions met during the build are registered
            (a conflicting redefinition raises `ValueError` there).
        values: dict, the values to use, by name. Defaults to `{}`.
        rng: numpy Generator used to draw a value for a dimension that `values` does
            not name (one discovered by this build). Defaults to `None`: such a
            dimension takes its default.
    """

    def __init__(
        self,
        space: SearchSpace,
        values: dict[str, Any] | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.space = space
        self.values = dict(values or {})
        self.rng = rng
        self.active: dict[str, Any] = {}
        self.discovered: list[Dimension] = []
        # KerasTuner-style hyperparameters declared in this build under a condition
        # that does not hold (see keras_hparams.hyperparameters).
        self.inactive: set[str] = set()

    def resolve(self, dimension: Dimension) -> Any:
        """The value of `dimension` in this build; records it as active.

        Raises:
            BuildError: `dimension` has no name, or its name has another definition.
        """
        if dimension.name is None:
            raise BuildError(
                f"{dimension!r} is used inside a build without a name. A name may be "
                "left out only where the context names the dimension: a TunableModel "
                "key or a search() keyword argument. Give it one: "
                f"kh.{type(dimension).__name__}('name', ...)."
            )
        try:
            new = self.space.add(dimension)
        except ValueError as error:
            raise BuildError(str(error)) from None
        if new:
            self.discovered.append(dimension)
        name = dimension.name
        if name in self.active:
            return self.active[name]
        if name in self.values:
            value = self.values[name]
            if not dimension.contains(value):
                raise ValueError(
                    f"The value {value!r} given for {dimension!r} is not one of its "
                    "values."
                )
        elif self.rng is not None:
            value = dimension.sample(self.rng)
        else:
            value = dimension.default
        self.active[name] = value
        return value

    @contextlib.contextmanager
    def activate(self) -> Iterator[BuildContext]:
        token = CURRENT_CONTEXT.set(self)
        try:
            yield self
        finally:
            CURRENT_CONTEXT.reset(token)


@contextlib.contextmanager
def explaining_descriptions() -> Iterator[None]:
    """Re-raises an error that quotes a marker's description as a
    `MarkerOutsideBuildError` saying where to call the marker.

    A marker made outside the build reaches Keras as its description, and Keras's
    own checks (`Dense(units=...)` wants an int) quote its repr.
    """
    try:
        yield
    except BuildError:
        raise
    except Exception as error:
        if not _DESCRIPTION.search(str(error)):
            raise
        raise MarkerOutsideBuildError(
            f"{type(error).__name__}: {error}\nThe value there is a marker's "
            "description, not a value: a marker made outside the build function (at "
            "module level, for instance) stays a description. Call the marker inside "
            "the build function, where the value is used."
        ) from error


class Builder(Protocol):
    """What a `Tuner` needs of a builder: `@kh.tunable` functions and `TunableModel`."""

    @property
    def space(self) -> SearchSpace: ...

    def build(self, params: dict[str, Any] | None = None) -> Any: ...

    def build_in(self, context: BuildContext) -> Any:
        """Builds a compiled model, with `context` giving the markers their values."""
        ...


class TunableFunction(Generic[P, R]):
    """A model-building function with tunable markers; made by `@kh.tunable`.

    Calling it as before returns the model built with every marker's default.
    """

    def __init__(self, function: Callable[P, R]) -> None:
        functools.update_wrapper(self, function)
        self._function = function
        self._space = SearchSpace()

    @property
    def space(self) -> SearchSpace:
        """The dimensions found so far by the builds this function has run."""
        return self._space

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        if current_context() is not None:
            # Called from inside another build: its markers join that build.
            return self._function(*args, **kwargs)
        with BuildContext(self._space).activate(), explaining_descriptions():
            return self._function(*args, **kwargs)

    def build(
        self, params: dict[str, Any] | None = None, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Builds the model for the values in `params`; defaults for the others.

        Args:
            params: dict, hyperparameter values by name. Defaults to `None` (all
                defaults).
            *args, **kwargs: passed to the decorated function.

        Raises:
            ValueError: a value outside its dimension, or a name the build never used.
        """
        params = dict(params or {})
        context = BuildContext(self._space, params)
        with context.activate(), explaining_descriptions():
            model = self._function(*args, **kwargs)
        unused = sorted(set(params) - set(context.active))
        if unused:
            raise ValueError(
                f"{self.__name__}.build() was given values for {unused}, which this "
                f"build never used. The names it used: {sorted(context.active)}."
            )
        return model

    def build_in(self, context: BuildContext) -> R:
        with context.activate(), explaining_descriptions():
            return self._function()

    def __repr__(self) -> str:
        return f"<tunable {self.__name__} with {len(self._space)} dimensions found>"

    def __reduce__(self) -> Any:
        # Sent to a worker process: by name where the worker can import it (the
        # decorated function of a module), else by value with cloudpickle (see
        # execution.dumps). A worker finds the space again as its builds run.
        module = sys.modules.get(self.__module__)
        by_name = getattr(module, self.__qualname__, None) is self
        if by_name and not (BY_VALUE.get() and self.__module__ == "__main__"):
            return self.__qualname__
        return (TunableFunction, (self._function,))


def tunable(function: Callable[P, R]) -> TunableFunction[P, R]:
    """Marks a model-building function as tunable.

    Inside the function, replace literals with markers (`kh.Int`, `kh.Float`,
    `kh.Choice`, `kh.Boolean`, `kh.Fixed`). Markers take part wherever they are called
    during the function's run: in helpers it calls, in a model subclass's `__init__`,
    in a custom layer.

    Args:
        function: a function that builds and compiles a `keras.Model`.

    Returns:
        A `TunableFunction`: call it as before for the default model; `.space` holds the
        dimensions found so far and `.build(params)` builds for given values.

    Example:

    ```python
    @kh.tunable
    def build_model():
        model = keras.Sequential([keras.Input((64,))])
        for i in range(kh.Int("layers", 1, 3, default=2)):
            model.add(keras.layers.Dense(kh.Int(f"units_{i}", 32, 256, step=32)))
        model.add(keras.layers.Dense(10, activation="softmax"))
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    model = build_model()                   # the default model
    model = build_model.build({"layers": 3})
    ```
    """
    if isinstance(function, TunableFunction):
        return function
    if not callable(function):
        raise TypeError(f"@kh.tunable expects a function. Received: {function!r}.")
    return TunableFunction(function)


def as_builder(hypermodel: Any) -> Builder:
    """The builder a `Tuner` uses for `hypermodel`, or a `TypeError` saying why not.

    Accepted: a `@kh.tunable` function or `kh.TunableModel` (used as they are); a
    KerasTuner hypermodel, that is a function of one `hp` argument or an object with
    `build(hp)` (and optionally `fit(hp, model, *args, **kwargs)`); or a plain
    function that builds a compiled model with markers inside.
    """
    if all(hasattr(hypermodel, a) for a in ("space", "build", "build_in")):
        return hypermodel
    import keras

    if isinstance(hypermodel, keras.Model):
        raise TypeError(
            "Tuner received a built keras.Model. Pass the function that builds it, or "
            "wrap the model: kh.TunableModel(model, {'dense*.units': kh.Int(32, 512)})."
        )
    from keras_hparams import hyperparameters

    if isinstance(hypermodel, type):
        hint = (
            f" Pass an instance: {hypermodel.__name__}()."
            if callable(getattr(hypermodel, "build", None))
            else ""
        )
        raise TypeError(
            f"Tuner received the class {hypermodel.__name__}, not a builder.{hint}"
        )
    if callable(getattr(hypermodel, "build", None)) and not inspect.isroutine(
        hypermodel
    ):
        return hyperparameters.hypermodel_builder(hypermodel)
    if callable(hypermodel):
        if _takes_one_argument(hypermodel):
            return hyperparameters.HyperModelBuilder(hypermodel)
        return TunableFunction(hypermodel)
    raise TypeError(
        "Tuner expects a @kh.tunable function, a kh.TunableModel, a KerasTuner "
        "hypermodel (a function of hp, or an object with build(hp)), or a function "
        f"that builds a compiled keras.Model. Received: {hypermodel!r}."
    )


def _takes_one_argument(function: Callable[..., Any]) -> bool:
    """Whether `function` needs exactly one positional argument (KerasTuner's hp)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    required = [
        p
        for p in parameters
        if p.default is p.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return len(required) == 1
