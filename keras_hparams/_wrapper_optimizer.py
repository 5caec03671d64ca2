"""Optimizer keys of `TunableModel`.

- `"optimizer"`: which optimizer, by name (`kh.Choice(["adam", "sgd"])`).
- `"optimizer.<argument>"`: an argument of the trial's optimizer; inactive for a trial
  whose optimizer does not take it.
- `"optimizer.learning_rate"`: the rate, or a schedule's `initial_learning_rate`.
- `"optimizer.learning_rate.schedule"`: `"constant"` or a Keras schedule, by name.
- `"optimizer.learning_rate.<argument>"`: an argument of the trial's schedule.
"""

from __future__ import annotations

import copy
import inspect
import re
from typing import Any

import keras
import numpy as np

from keras_hparams._wrapper_values import is_serialized, with_base_default
from keras_hparams.space import Choice, Dimension, Fixed

SCHEDULE_KEY = "optimizer.learning_rate.schedule"
_CONSTANT = "constant"
# The arguments every Keras optimizer takes (those of `BaseOptimizer.__init__`).
_COMMON_ARGUMENTS = (
    "learning_rate",
    "weight_decay",
    "clipnorm",
    "clipvalue",
    "global_clipnorm",
    "use_ema",
    "ema_momentum",
    "ema_overwrite_frequency",
    "loss_scale_factor",
    "gradient_accumulation_steps",
)


class OptimizerKeys:
    """The dimensions of the optimizer keys and the optimizer config of each trial.

    Args:
        base: the base model's compiled optimizer, as `get_compile_config()` holds it.
        keys: dict, the keys that start with `"optimizer"` and their markers.
    """

    def __init__(self, base: Any, keys: dict[str, Dimension]) -> None:
        self._base = _full_config(base)
        self._base_class = type(keras.optimizers.get(copy.deepcopy(self._base)))
        self.dimensions: dict[str, Dimension] = {}
        self._choices: dict[str, dict[str, Any]] = {}
        if "optimizer" in keys:
            self._add_optimizer_choice(keys["optimizer"])
        self._possible = list(self._choices.values()) or [self._base]
        self._schedules: dict[Any, type | None] = {}
        if SCHEDULE_KEY in keys:
            self._add_schedule_choice(keys[SCHEDULE_KEY])
        self._arguments: dict[str, Dimension] = {}
        self._schedule_arguments: dict[str, Dimension] = {}
        for key, marker in keys.items():
            if key == "optimizer.learning_rate":
                rates = [
                    _initial_rate(c["config"]["learning_rate"]) for c in self._possible
                ]
                self._add(key, marker, rates)
            elif key.startswith("optimizer.learning_rate.") and key != SCHEDULE_KEY:
                self._add_schedule_argument(key, marker)
            elif key not in ("optimizer", SCHEDULE_KEY):
                self._add_argument(key, marker)
        self._check_schedule_requirements()

    def _add(self, key: str, marker: Dimension, base_values: list[Any]) -> Dimension:
        dimension = with_base_default(marker, marker.name or key, base_values)
        self.dimensions[key] = dimension
        return dimension

    # -- "optimizer" ------------------------------------------------------------------
    def _add_optimizer_choice(self, marker: Dimension) -> None:
        values = marker.values() if isinstance(marker, (Choice, Fixed)) else [None]
        if not all(isinstance(value, str) for value in values):
            raise TypeError(
                "For the key 'optimizer', expected kh.Choice of optimizer names, e.g. "
                f"kh.Choice(['adam', 'sgd']). Received: {marker!r}."
            )
        for value in values:
            self._choices[value] = self._config_for(value)
        same = [
            v
            for v, c in self._choices.items()
            if c["class_name"] == self._base["class_name"]
        ]
        self._optimizer_choice = self._add("optimizer", marker, same[:1])

    def _config_for(self, name: str) -> dict[str, Any]:
        try:
            optimizer = keras.optimizers.get(name)
        except Exception:  # noqa: BLE001 - Keras raises several types for a bad name
            optimizer = None
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise ValueError(
                f"For the key 'optimizer', {name!r} is not the name of a Keras "
                f"optimizer. Names: {optimizer_names()}."
            )
        if type(optimizer) is self._base_class:
            return copy.deepcopy(self._base)
        config = _full_config(keras.optimizers.serialize(optimizer))
        # Settings the model's author gave the base optimizer (not its defaults)
        # carry over; the rest are the chosen optimizer's own defaults.
        config["config"].update(self._explicit_common_settings())
        return config

    def _explicit_common_settings(self) -> dict[str, Any]:
        try:
            defaults = _full_config(keras.optimizers.serialize(self._base_class()))[
                "config"
            ]
        except Exception:  # noqa: BLE001 - a custom optimizer with required arguments
            defaults = {}
        base = self._base["config"]
        return {
            key: base[key]
            for key in _COMMON_ARGUMENTS
            if key in base and (key not in defaults or base[key] != defaults[key])
        }

    # -- "optimizer.<argument>" -------------------------------------------------------
    def _add_argument(self, key: str, marker: Dimension) -> None:
        _, argument, *rest = key.split(".")
        if rest:
            raise ValueError(
                f"The key {key!r} reaches into the optimizer argument {argument!r}, "
                "which has no arguments of its own. Only 'optimizer.learning_rate' "
                "does, when it is a schedule ('optimizer.learning_rate.decay_rate')."
            )
        takers = [
            c for c in self._possible if argument in c["config"] and argument != "name"
        ]
        if not takers:
            listed = "; ".join(
                f"{c['class_name']} takes: "
                + ", ".join(a for a in c["config"] if a != "name")
                for c in self._possible
            )
            raise ValueError(
                f"For the key {key!r}, no optimizer this search can use takes an "
                f"argument {argument!r}. {listed}."
            )
        self._arguments[argument] = self._add(
            key, marker, [c["config"][argument] for c in takers]
        )

    # -- learning-rate schedule -------------------------------------------------------
    def _add_schedule_choice(self, marker: Dimension) -> None:
        values = marker.values() if isinstance(marker, (Choice, Fixed)) else [0]
        known = schedule_classes()
        for value in values:
            name = _snake(value) if isinstance(value, str) else value
            name = _CONSTANT if value is None else name
            if name != _CONSTANT and name not in known:
                raise ValueError(
                    f"For the key {SCHEDULE_KEY!r}, expected schedule names among "
                    f"{[_CONSTANT, *known]} (or None for a constant rate). "
                    f"Received: {value!r}."
                )
            self._schedules[value] = None if name == _CONSTANT else known[name]
        in_use = {_schedule_class(c["config"]["learning_rate"]) for c in self._possible}
        same = [
            v
            for v, cls in self._schedules.items()
            if len(in_use) == 1 and cls in in_use
        ]
        self._schedule = self._add(SCHEDULE_KEY, marker, same[:1])

    def _possible_schedules(self) -> list[type]:
        if self._schedules:
            return [cls for cls in self._schedules.values() if cls is not None]
        rates = [c["config"]["learning_rate"] for c in self._possible]
        return [_schedule_class(rate) for rate in rates if is_serialized(rate)]

    def _add_schedule_argument(self, key: str, marker: Dimension) -> None:
        argument = key.split(".", 2)[2]
        possible = self._possible_schedules()
        if not possible:
            rate = self._base["config"]["learning_rate"]
            raise ValueError(
                f"The key {key!r} tunes a learning-rate schedule, but the base model's "
                f"optimizer uses a constant learning_rate ({rate}). Choose a schedule "
                f"with the key {SCHEDULE_KEY!r}, e.g. "
                "kh.Choice(['constant', 'exponential_decay'])."
            )
        if not any(argument in _parameters(cls) for cls in possible):
            listed = "; ".join(
                f"{cls.__name__} takes: {', '.join(_parameters(cls))}"
                for cls in possible
            )
            raise ValueError(
                f"For the key {key!r}, no schedule this search can use takes an "
                f"argument {argument!r}. {listed}."
            )
        base_rate = self._base["config"]["learning_rate"]
        base = (
            [base_rate["config"][argument]]
            if is_serialized(base_rate) and (argument in base_rate["config"])
            else []
        )
        self._schedule_arguments[argument] = self._add(key, marker, base)

    def _check_schedule_requirements(self) -> None:
        base_class = _schedule_class(self._base["config"]["learning_rate"])
        for value, cls in self._schedules.items():
            if cls is None or cls is base_class:
                continue
            required = [
                name
                for name, p in inspect.signature(cls.__init__).parameters.items()
                if p.default is inspect.Parameter.empty
                and name not in ("self", "initial_learning_rate")
            ]
            missing = [
                name for name in required if name not in self._schedule_arguments
            ]
            if missing:
                keys = " and ".join(
                    f"'optimizer.learning_rate.{name}'" for name in missing
                )
                raise ValueError(
                    f"For the key {SCHEDULE_KEY!r}, the schedule {value!r} needs "
                    f"{', '.join(missing)}, which the base model's optimizer does not "
                    f"set. Add the keys {keys} (kh.Fixed(value) for a constant)."
                )

    # -- per trial ------------------------------------------------------------
    def resolve(self, context: Any) -> dict[str, Any]:
        """The trial's optimizer config; resolves only the dimensions it uses."""
        if self._choices:
            config = copy.deepcopy(
                self._choices[context.resolve(self._optimizer_choice)]
            )
        else:
            config = copy.deepcopy(self._base)
        arguments = config["config"]
        arguments["learning_rate"] = self._learning_rate(
            arguments["learning_rate"], context
        )
        for argument, dimension in self._arguments.items():
            if argument in arguments:
                arguments[argument] = context.resolve(dimension)
        return config

    def _learning_rate(self, rate: Any, context: Any) -> Any:
        if self._schedules:
            rate = _start(self._schedules[context.resolve(self._schedule)], rate)
        tuned_rate = self.dimensions.get("optimizer.learning_rate")
        if tuned_rate is not None and not is_serialized(rate):
            rate = context.resolve(tuned_rate)
        elif tuned_rate is not None and "initial_learning_rate" in rate["config"]:
            rate["config"]["initial_learning_rate"] = context.resolve(tuned_rate)
        if is_serialized(rate):
            takes = _parameters(_schedule_class(rate)) or list(rate["config"])
            for argument, dimension in self._schedule_arguments.items():
                if argument in takes:
                    rate["config"][argument] = context.resolve(dimension)
        return rate


def _start(schedule: type | None, rate: Any) -> Any:
    """The trial's rate before tuning: `rate` turned constant or into `schedule`."""
    if schedule is None:
        return _initial_rate(rate)
    if is_serialized(rate) and _schedule_class(rate) is schedule:
        return rate
    return {
        "module": "keras.optimizers.schedules",
        "class_name": schedule.__name__,
        "config": {"initial_learning_rate": _initial_rate(rate)},
        "registered_name": None,
    }


def _initial_rate(rate: Any) -> Any:
    if not is_serialized(rate):
        return rate
    config = rate["config"]
    return config.get("initial_learning_rate", (config.get("values") or [None])[0])


def _full_config(optimizer: Any) -> dict[str, Any]:
    """The optimizer's complete serialized config, whatever form compile() got it in."""
    config = keras.optimizers.serialize(keras.optimizers.get(copy.deepcopy(optimizer)))
    rate = config["config"].get("learning_rate")
    if isinstance(rate, float):
        # Read back from a float32 variable: 0.0010000000474974513 reads as 0.001.
        config["config"]["learning_rate"] = float(str(np.float32(rate)))
    return config


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def schedule_classes() -> dict[str, type]:
    """Keras's learning-rate schedules by snake_case name (`"exponential_decay"`)."""
    schedules = keras.optimizers.schedules
    return {
        _snake(name): obj
        for name, obj in sorted(vars(schedules).items())
        if isinstance(obj, type)
        and issubclass(obj, schedules.LearningRateSchedule)
        and obj is not schedules.LearningRateSchedule
    }


def _schedule_class(rate: Any) -> type | None:
    if not is_serialized(rate):
        return None
    return schedule_classes().get(_snake(rate["class_name"]))


def _parameters(cls: type | None) -> list[str]:
    if cls is None:
        return []
    return [
        name
        for name in inspect.signature(cls.__init__).parameters
        if name not in ("self", "name")
    ]


def optimizer_names() -> list[str]:
    """The names `keras.optimizers.get` accepts for Keras's own optimizers."""
    names = []
    for name, obj in vars(keras.optimizers).items():
        if isinstance(obj, type) and issubclass(obj, keras.optimizers.Optimizer):
            try:
                keras.optimizers.get(name.lower())
            except Exception:  # noqa: BLE001 - wrappers that need an inner optimizer
                continue
            names.append(name.lower())
    return sorted(set(names) - {"optimizer"})
